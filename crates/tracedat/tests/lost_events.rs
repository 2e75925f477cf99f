//! Lost events: pages flagged by the kernel (`RB_MISSED_EVENTS`, with or without a stored count)
//! are counted per CPU, as `trace-cmd report` counts them, and `kspan info` warns loudly.

mod common;

use common::*;
use kspan_testsupport::Scratch;
use kspan_tracedat::page::{RB_MISSED_EVENTS, RB_MISSED_STORED};
use kspan_tracedat::text::Summary;
use kspan_tracedat::{BufferSpec, Compression, LostEvents, TraceFile, TraceWriter};

/// Sets the missed-event flags of page `index` and, if `stored`, the count after its data.
fn flag_page(pages: &mut [u8], index: usize, stored: Option<u64>) {
    let page = &mut pages[index * 4096..(index + 1) * 4096];
    let commit = u64::from_le_bytes(page[8..16].try_into().unwrap());
    let flags = RB_MISSED_EVENTS | stored.map_or(0, |_| RB_MISSED_STORED);
    page[8..16].copy_from_slice(&(commit | flags).to_le_bytes());
    if let Some(n) = stored {
        let at = 16 + commit as usize;
        page[at..at + 8].copy_from_slice(&n.to_le_bytes());
    }
}

#[test]
fn missed_event_flags_are_counted_per_cpu_and_reported() {
    let events: Vec<_> = (0..6).map(|i| (10, 100, i)).collect();
    let mut cpu0 = tick_pages(1_000, &events, 2);
    flag_page(&mut cpu0, 1, Some(42));
    flag_page(&mut cpu0, 2, Some(8));
    let mut cpu1 = tick_pages(1_005, &events, 2);
    flag_page(&mut cpu1, 2, None);
    let dir = Scratch::new("lost");
    for (version, compression) in [(7, Compression::Zstd), (6, Compression::None)] {
        let path = dir.join(format!("lost-v{version}.dat"));
        let buffers = vec![BufferSpec {
            name: String::new(),
            clock: "local".into(),
            page_size: 4096,
            cpus: vec![(0, cpu0.as_slice()), (1, cpu1.as_slice())],
            stats: vec![],
        }];
        TraceWriter::new(tick_options(version, compression, 2))
            .write(&path, buffers)
            .unwrap();

        let file = TraceFile::open(&path).unwrap();
        let summary = Summary::collect(&file).unwrap();
        assert_eq!(
            summary.lost,
            [
                LostEvents {
                    buffer: 0,
                    cpu: 0,
                    count: 50,
                    unknown: false
                },
                LostEvents {
                    buffer: 0,
                    cpu: 1,
                    count: 0,
                    unknown: true
                }
            ]
        );
        assert_eq!(summary.counts.get("tick"), Some(&12));
        let mut text = String::new();
        summary.render(file.metadata(), &mut text).unwrap();
        assert!(
            text.contains("WARNING: THE KERNEL DROPPED EVENTS"),
            "{text}"
        );
        assert!(text.contains("  buffer \"\" cpu 0: 50 lost\n"), "{text}");
        assert!(
            text.contains("  buffer \"\" cpu 1: 0 lost (plus pages with an unknown count)\n"),
            "{text}"
        );

        let (report, _) = trace_cmd(&["report", "-i", path.to_str().unwrap()]);
        let dropped: Vec<_> = report
            .lines()
            .filter(|l| l.contains("EVENTS DROPPED"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            dropped,
            [
                "CPU:0 [42 EVENTS DROPPED]",
                "CPU:0 [8 EVENTS DROPPED]",
                "CPU:1 [EVENTS DROPPED]"
            ]
        );
    }
}

#[test]
fn zlib_files_written_by_kspan_read_back() {
    let events: Vec<_> = (0..6).map(|i| (10, 100, i)).collect();
    let pages = tick_pages(1_000, &events, 2);
    let dir = Scratch::new("zlib");
    let path = dir.join("zlib.dat");
    let buffers = vec![BufferSpec {
        name: "x".into(),
        clock: "local".into(),
        page_size: 4096,
        cpus: vec![(0, pages.as_slice())],
        stats: vec![],
    }];
    TraceWriter::new(tick_options(7, Compression::Zlib, 1))
        .write(&path, buffers)
        .unwrap();
    let file = TraceFile::open(&path).unwrap();
    assert_eq!(file.metadata().compression, Compression::Zlib);
    let mut events = file.events();
    let mut seqs = Vec::new();
    while let Some(rec) = events.next_event().unwrap() {
        seqs.push(rec.i64(rec.field("seq").unwrap()).unwrap());
    }
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5]);
}
