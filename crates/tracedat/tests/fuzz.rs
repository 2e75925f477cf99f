//! Property tests run by `cargo test` for a bounded number of cases: the page parser and the
//! whole reader never panic, never read out of bounds and always terminate, whatever the bytes.

mod common;

use common::*;
use kspan_testsupport::Scratch;
use kspan_tracedat::page::Page;
use kspan_tracedat::{BufferSpec, Compression, Endian, HeaderPage, TraceFile, TraceWriter};
use proptest::prelude::*;

fn tick_file(version: u32, compression: Compression) -> Vec<u8> {
    let dir = Scratch::new(&format!("fuzz-{version}-{}", compression.name()));
    let path = dir.join("t.dat");
    let events: Vec<_> = (0..40).map(|i| (i as u32 * 7, 100 + i % 2, i)).collect();
    let pages = tick_pages(5_000, &events, 16);
    let buffers = vec![
        BufferSpec {
            name: String::new(),
            clock: "local".into(),
            page_size: 4096,
            cpus: vec![(0, pages.as_slice()), (1, pages.as_slice())],
            stats: vec![],
        },
        BufferSpec {
            name: "side".into(),
            clock: "local".into(),
            page_size: 4096,
            cpus: vec![(1, pages.as_slice())],
            stats: vec![],
        },
    ];
    TraceWriter::new(tick_options(version, compression, 2))
        .write(&path, buffers)
        .unwrap();
    std::fs::read(&path).unwrap()
}

/// Reads every event (bounded), touching each record's common fields.
fn drain(bytes: Vec<u8>) -> usize {
    let Ok(file) = TraceFile::from_bytes(bytes) else {
        return 0;
    };
    let mut events = file.events();
    let mut n = 0;
    for _ in 0..100_000 {
        match events.next_event() {
            Ok(Some(rec)) => {
                std::hint::black_box((rec.pid(), rec.flags(), rec.preempt_count(), rec.name()));
                n += 1;
            }
            Ok(None) => break,
            Err(_) => {}
        }
    }
    n
}

/// Cases per property: 256 in `cargo test`, more with `KSPAN_FUZZ_CASES=N` for a longer run.
fn cases() -> u32 {
    std::env::var("KSPAN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn page_parser_survives_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4200)) {
        if let Ok(page) = Page::parse(&bytes, &HeaderPage::LINUX_64, Endian::Little) {
            let n = page.events().take(10_000).count();
            prop_assert!(n <= 4096 / 4);
        }
    }

    #[test]
    fn reader_survives_mutations(
        which in 0usize..3,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let variants = [(7, Compression::Zstd), (7, Compression::None), (6, Compression::None)];
        let (v, c) = variants[which];
        let mut bytes = tick_file(v, c);
        for (i, b) in edits {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        if let Some(i) = cut {
            let len = i.index(bytes.len());
            bytes.truncate(len);
        }
        drain(bytes);
    }
}
