//! The writer: files written by kspan are read by `trace-cmd report` without complaint and show
//! the same events as kspan's dump; v7 (zstd, none) and v6; one and two buffers; equal
//! timestamps come out in trace-cmd's order.

mod common;

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

use common::*;
use kspan_testsupport::{Scratch, TraceInstance};
use kspan_tracedat::text::Summary;
use kspan_tracedat::{options, BufferSpec, Compression, TraceFile, TraceWriter, WriteOptions};

const VARIANTS: [(u32, Compression); 3] = [
    (7, Compression::Zstd),
    (7, Compression::None),
    (6, Compression::None),
];
/// `O_NONBLOCK` of Linux, so reading an empty `trace_pipe_raw` returns instead of waiting.
const O_NONBLOCK: i32 = 0o4000;

/// Reads every available raw page of each CPU of `inst`.
fn raw_pages(inst: &TraceInstance, cpus: u32) -> Vec<(u32, Vec<u8>)> {
    let page = 1024
        * inst_read(inst, "buffer_subbuf_size_kb")
            .trim()
            .parse::<usize>()
            .unwrap();
    (0..cpus)
        .map(|cpu| {
            let path = inst.dir().join(format!("per_cpu/cpu{cpu}/trace_pipe_raw"));
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(O_NONBLOCK)
                .open(&path)
                .unwrap();
            let mut all = Vec::new();
            let mut buf = vec![0u8; page];
            loop {
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        assert_eq!(n, page, "trace_pipe_raw returned a partial page");
                        all.extend_from_slice(&buf);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{}: {e}", path.display()),
                }
            }
            (cpu, all)
        })
        .collect()
}

fn inst_read(inst: &TraceInstance, file: &str) -> String {
    std::fs::read_to_string(inst.dir().join(file)).unwrap()
}

#[test]
fn trace_cmd_reads_kspan_files_of_live_pages_in_every_version() {
    let main = TraceInstance::new("writer-main", MAIN_EVENTS);
    let side = TraceInstance::new("writer-side", SIDE_EVENTS);
    main.on(true);
    side.on(true);
    make_activity();
    main.on(false);
    side.on(false);
    let cpus = std::fs::read_dir(format!("{TRACEFS}/per_cpu"))
        .unwrap()
        .count() as u32;
    let page_size = 1024
        * inst_read(&main, "buffer_subbuf_size_kb")
            .trim()
            .parse::<u32>()
            .unwrap();
    let main_pages = raw_pages(&main, cpus);
    let side_pages = raw_pages(&side, cpus);
    let stats = |inst: &TraceInstance| {
        (0..cpus)
            .map(|c| inst_read(inst, &format!("per_cpu/cpu{c}/stats")))
            .collect::<Vec<_>>()
    };
    let all_events: Vec<&str> = MAIN_EVENTS.iter().chain(SIDE_EVENTS).copied().collect();
    let metadata = br#"{"kspan":{"version":1}}"#.to_vec();
    let tgids = format!("{0} {0}\n", std::process::id());
    let dir = Scratch::new("writer");
    for (version, compression) in VARIANTS {
        let opts = WriteOptions {
            version,
            compression,
            page_size,
            header_page: tracefs("events/header_page"),
            header_event: tracefs("events/header_event"),
            event_formats: event_formats(&all_events),
            cmdlines: tracefs("saved_cmdlines"),
            tgids: tgids.clone(),
            trace_clock: inst_read(&main, "trace_clock"),
            cpu_count: cpus,
            kspan_metadata: Some(metadata.clone()),
            ..Default::default()
        };
        let buffers = [(&main, &main_pages), (&side, &side_pages)]
            .into_iter()
            .map(|(inst, pages)| BufferSpec {
                name: inst.name().to_string(),
                clock: "local".into(),
                page_size,
                cpus: pages.iter().map(|(c, p)| (*c, p.as_slice())).collect(),
                stats: stats(inst),
            })
            .collect();
        let path = dir.join(format!("v{version}-{}.dat", compression.name()));
        TraceWriter::new(opts).write(&path, buffers).unwrap();

        let (_, stderr) = trace_cmd(&["report", "-i", path.to_str().unwrap()]);
        assert_eq!(stderr, "", "trace-cmd complained about {}", path.display());
        let expected = report_lines(&path);
        let got = dump_lines(&path);
        assert_same_lines(&expected, &got, &path);
        assert!(
            got.iter().any(|l| l.contains(" sched_process_exec: ")),
            "no exec event recorded"
        );

        let file = TraceFile::open(&path).unwrap();
        let meta = file.metadata();
        assert_eq!(
            (meta.version, meta.compression, meta.cpu_count),
            (version, compression, cpus)
        );
        assert_eq!(meta.kspan_metadata(), Some(metadata.as_slice()));
        let mut info = String::new();
        Summary::collect(&file)
            .unwrap()
            .render(meta, &mut info)
            .unwrap();
        assert!(info.ends_with("kspan metadata: 23 bytes\n"), "{info}");
        assert_eq!(meta.option(options::KSPAN_TGIDS), Some(tgids.as_bytes()));
        let pid = std::process::id() as i32;
        assert_eq!(meta.tgids.get(&pid), Some(&pid));
        let names: Vec<_> = meta
            .buffers
            .iter()
            .map(|b| (b.name.clone(), b.stats.len()))
            .collect();
        assert_eq!(
            names,
            [
                (main.name().to_string(), cpus as usize),
                (side.name().to_string(), cpus as usize)
            ]
        );
    }
}

#[test]
fn equal_timestamps_come_out_in_trace_cmd_order_across_buffers_and_cpus() {
    let dir = Scratch::new("ties");
    // Every event of every (buffer, cpu) at the same three timestamps.
    let page = |seq0: i32| {
        tick_pages(
            1_000,
            &[(0, 100, seq0), (0, 200, seq0 + 1), (5, 100, seq0 + 2)],
            8,
        )
    };
    for (version, compression) in VARIANTS {
        let buffers = vec![
            BufferSpec {
                name: "".into(),
                clock: "local".into(),
                page_size: 4096,
                cpus: vec![(1, page(10)), (0, page(0))],
                stats: vec![],
            },
            BufferSpec {
                name: "side".into(),
                clock: "local".into(),
                page_size: 4096,
                cpus: vec![(0, page(20)), (1, page(30))],
                stats: vec![],
            },
        ];
        let buffers = buffers
            .into_iter()
            .map(|b| BufferSpec {
                name: b.name,
                clock: b.clock,
                page_size: b.page_size,
                cpus: b
                    .cpus
                    .into_iter()
                    .map(|(c, p)| (c, std::io::Cursor::new(p)))
                    .collect(),
                stats: b.stats,
            })
            .collect();
        let path = dir.join(format!("ties-v{version}-{}.dat", compression.name()));
        TraceWriter::new(tick_options(version, compression, 2))
            .write(&path, buffers)
            .unwrap();
        let expected = report_lines(&path);
        let got = dump_lines(&path);
        assert_eq!(got.len(), 12);
        assert_same_lines(&expected, &got, &path);
    }
}
