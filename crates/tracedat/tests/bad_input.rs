//! Bad input: each kind of damage gives one clear typed error (or, for a file cut short
//! after its metadata, one warning plus every event of the whole pages before the cut),
//! never a panic.

mod common;

use common::*;
use kspan_testsupport::Scratch;
use kspan_tracedat::{BufferSpec, Compression, Error, TraceFile, TraceWriter};

/// A one-buffer, one-CPU file of 3 pages holding 2 `tick` events each.
fn tick_file(version: u32, compression: Compression) -> Vec<u8> {
    let dir = Scratch::new(&format!("bad-{version}-{}", compression.name()));
    let path = dir.join("t.dat");
    let events: Vec<_> = (0..6).map(|i| (10, 100, i)).collect();
    let pages = tick_pages(1_000, &events, 2);
    let buffers = vec![BufferSpec {
        name: String::new(),
        clock: "local".into(),
        page_size: 4096,
        cpus: vec![(0, pages.as_slice())],
        stats: vec![],
    }];
    TraceWriter::new(tick_options(version, compression, 1))
        .write(&path, buffers)
        .unwrap();
    std::fs::read(&path).unwrap()
}

/// Reads all events; returns (sequence numbers, errors, warnings).
fn read_all(bytes: Vec<u8>) -> (Vec<i32>, Vec<String>, Vec<String>) {
    let file = TraceFile::from_bytes(bytes).unwrap();
    let mut events = file.events();
    let (mut seqs, mut errors) = (Vec::new(), Vec::new());
    loop {
        match events.next_event() {
            Ok(Some(rec)) => seqs.push(rec.i64(rec.field("seq").unwrap()).unwrap() as i32),
            Ok(None) => break,
            Err(e) => errors.push(e.to_string()),
        }
    }
    let warnings = events.warnings().iter().map(|w| w.to_string()).collect();
    (seqs, errors, warnings)
}

#[test]
fn intact_files_read_completely() {
    for (v, c) in [
        (7, Compression::Zstd),
        (7, Compression::None),
        (6, Compression::None),
    ] {
        assert_eq!(
            read_all(tick_file(v, c)),
            ((0..6).collect(), vec![], vec![])
        );
    }
}

#[test]
fn wrong_magic_is_bad_magic() {
    let mut bytes = tick_file(7, Compression::None);
    bytes[0] = b'X';
    assert!(matches!(TraceFile::from_bytes(bytes), Err(Error::BadMagic)));
    assert!(matches!(
        TraceFile::from_bytes(b"tiny".to_vec()),
        Err(Error::BadMagic)
    ));
}

#[test]
fn unsupported_version_is_named() {
    let mut bytes = tick_file(6, Compression::None);
    bytes[10] = b'8';
    let err = TraceFile::from_bytes(bytes).unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedVersion(v) if v == "8"),
        "{err}"
    );
}

#[test]
fn unknown_compression_is_named() {
    let mut bytes = tick_file(7, Compression::Zstd);
    let at = bytes.windows(5).position(|w| w == b"zstd\0").unwrap();
    bytes[at..at + 4].copy_from_slice(b"lz4x");
    let err = TraceFile::from_bytes(bytes).unwrap_err();
    assert_eq!(err.to_string(), "unknown compression algorithm \"lz4x\"; only none, zlib and zstd are supported (convert with `trace-cmd convert --compression none`)");
}

#[test]
fn file_cut_in_the_middle_of_a_page_warns_once_and_keeps_complete_pages() {
    for (v, c) in [(7, Compression::None), (6, Compression::None)] {
        let mut bytes = tick_file(v, c);
        let len = bytes.len();
        bytes.truncate(len - 2048);
        let (seqs, errors, warnings) = read_all(bytes);
        assert_eq!((seqs, errors), (vec![0, 1, 2, 3], vec![]));
        assert_eq!(
            warnings,
            [format!(
                "the file ends at byte {} but its event data runs to byte {len}: it was cut \
                 short (an interrupted copy, a full disk, or a recorder that died), so 2048 of \
                 its 12288 bytes of event data (16.7%) are missing; the events of every whole \
                 page before the cut are read",
                len - 2048
            )]
        );
    }
}

/// Every cut of a file: a clear error while the cut is inside the metadata, else the
/// events of the whole pages before the cut (of whole chunks when compressed) and exactly
/// one warning; never a panic.
#[test]
fn every_cut_reads_the_whole_pages_before_it_or_fails_in_one_sentence() {
    for (v, c) in [
        (7, Compression::Zstd),
        (7, Compression::None),
        (6, Compression::None),
    ] {
        let whole = tick_file(v, c);
        let file = TraceFile::from_bytes(whole.clone()).unwrap();
        let data = file.metadata().buffers[0].cpus[0].offset as usize;
        let mut last = 0;
        for cut in 0..whole.len() {
            match TraceFile::from_bytes(whole[..cut].to_vec()) {
                Err(e) => {
                    assert!(cut < data, "v{v} {c:?} cut at {cut} (data at {data}): {e}");
                    let text = e.to_string();
                    assert!(!text.contains('\n'), "{text}");
                    assert!(
                        matches!(e, Error::TornHeader { .. } | Error::BadMagic),
                        "{text}"
                    );
                }
                Ok(_) => {
                    let (seqs, errors, warnings) = read_all(whole[..cut].to_vec());
                    assert_eq!(errors, Vec::<String>::new(), "v{v} {c:?} cut at {cut}");
                    assert_eq!(warnings.len(), 1, "v{v} {c:?} cut at {cut}: {warnings:?}");
                    let pages = cut.saturating_sub(data) / 4096;
                    if c == Compression::None {
                        assert_eq!(seqs.len(), 2 * pages, "v{v} cut at {cut}");
                    }
                    assert!(seqs.len() >= last, "v{v} {c:?} cut at {cut}");
                    assert_eq!(seqs, (0..seqs.len() as i32).collect::<Vec<_>>());
                    last = seqs.len();
                }
            }
        }
        assert_eq!(read_all(whole).0.len(), 6);
    }
}

#[test]
fn an_absurd_cpu_data_size_is_a_torn_file_not_an_overflow() {
    let mut bytes = tick_file(7, Compression::Zstd);
    // The BUFFER option: …, clock "local", page size 4096, 1 CPU: number 0, offset, size.
    let mut option = b"local\0".to_vec();
    option.extend(4096u32.to_le_bytes());
    option.extend(1u32.to_le_bytes());
    option.extend(0u32.to_le_bytes());
    let at = bytes
        .windows(option.len())
        .position(|w| w == option)
        .unwrap()
        + option.len()
        + 8;
    bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    let (seqs, errors, warnings) = read_all(bytes);
    assert_eq!((seqs, errors), ((0..6).collect(), vec![]));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn garbage_commit_word_is_a_corrupt_page_error() {
    let mut bytes = tick_file(6, Compression::None);
    let second_page = bytes.len() - 2 * 4096;
    bytes[second_page + 8..second_page + 16].copy_from_slice(&0x7ff_ffffu64.to_le_bytes());
    let (seqs, errors, warnings) = read_all(bytes);
    assert_eq!(seqs, [0, 1]);
    assert_eq!(errors, ["corrupt page header at offset 0: commit says 134217727 data bytes but the page has 4080; the file is damaged, record again"]);
    assert!(warnings.is_empty());
}

#[test]
fn garbage_event_header_is_a_corrupt_page_error() {
    let mut bytes = tick_file(6, Compression::None);
    let second_page = bytes.len() - 2 * 4096;
    bytes[second_page + 16..second_page + 20].copy_from_slice(&28u32.to_le_bytes());
    let (seqs, errors, _) = read_all(bytes);
    assert_eq!(seqs, [0, 1]);
    assert_eq!(errors, ["corrupt ring-buffer page at offset 4: event of 112 bytes runs past the 32 committed bytes; the file is damaged, record again"]);
}

#[test]
fn corrupt_compressed_chunk_is_a_decompress_error() {
    let mut bytes = tick_file(7, Compression::Zstd);
    let cpu = TraceFile::from_bytes(bytes.clone())
        .unwrap()
        .metadata()
        .buffers[0]
        .cpus[0];
    // The CPU data: u32 chunk count, then the first chunk's u32 sizes and its zstd frame.
    let at = cpu.offset as usize + 12;
    assert_eq!(bytes[at..at + 4], [0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
    bytes[at..at + 4].copy_from_slice(b"JUNK");
    let (seqs, errors, _) = read_all(bytes);
    assert!(seqs.is_empty());
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("cannot decompress trace data chunk at offset "),
        "{}",
        errors[0]
    );
}
