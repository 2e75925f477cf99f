//! Reading benchmark (not a test): synthesises a large trace.dat (default 10 M `sched_switch`
//! events on 4 CPUs) with the writer in v7+zstd and v7 uncompressed, then, in a fresh child
//! process per file, opens it, merges all CPUs in time order and decodes the common fields plus
//! one field through a pre-resolved handle. Prints events/s and the child's peak RSS.
//!
//! `cargo bench -p kspan-tracedat --bench read_throughput [-- EVENTS]`; the built binary also
//! measures any file: `read_throughput read FILE`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use kspan_tracedat::{BufferSpec, Compression, FieldHandle, TraceFile, TraceWriter, WriteOptions};

const SCHED_SWITCH: &str = "name: sched_switch\nID: 372\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;\n\tfield:int prev_prio;\toffset:28;\tsize:4;\tsigned:1;\n\tfield:long prev_state;\toffset:32;\tsize:8;\tsigned:1;\n\tfield:char next_comm[16];\toffset:40;\tsize:16;\tsigned:0;\n\tfield:pid_t next_pid;\toffset:56;\tsize:4;\tsigned:1;\n\tfield:int next_prio;\toffset:60;\tsize:4;\tsigned:1;\n\nprint fmt: \"prev_comm=%s prev_pid=%d\", REC->prev_comm, REC->prev_pid\n";
const HEADER_PAGE: &str = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n";
const CPUS: u32 = 4;

/// Pages of `n` sched_switch records (64-byte payload, 60 per page) for one CPU; CPU `cpu`'s
/// clock is offset so that the merge interleaves all CPUs.
fn pages(cpu: u32, n: usize) -> Vec<u8> {
    let per_page = 4080 / 68;
    let mut out = Vec::with_capacity(n / per_page * 4096 + 4096);
    let mut ts = 1_000_000 + u64::from(cpu) * 3;
    let mut left = n;
    let mut seq = 0u32;
    while left > 0 {
        let k = left.min(per_page);
        let mut page = vec![0u8; 4096];
        page[..8].copy_from_slice(&ts.to_le_bytes());
        page[8..16].copy_from_slice(&((k * 68) as u64).to_le_bytes());
        for i in 0..k {
            let at = 16 + i * 68;
            let delta = 7u32 + (seq % 5);
            ts += u64::from(delta);
            page[at..at + 4].copy_from_slice(&(16 | (delta << 5)).to_le_bytes());
            let rec = &mut page[at + 4..at + 68];
            rec[..2].copy_from_slice(&372u16.to_le_bytes());
            rec[4..8].copy_from_slice(&(1000 + seq % 97).to_le_bytes());
            rec[8..12].copy_from_slice(b"bash");
            rec[56..60].copy_from_slice(&(2000 + seq % 89).to_le_bytes());
            seq += 1;
        }
        left -= k;
        out.extend(page);
    }
    out
}

fn generate(dir: &Path, events: usize) -> Vec<PathBuf> {
    let per_cpu: Vec<Vec<u8>> = (0..CPUS)
        .map(|c| pages(c, events / CPUS as usize))
        .collect();
    [Compression::Zstd, Compression::None]
        .into_iter()
        .map(|compression| {
            let path = dir.join(format!("bench-{}.dat", compression.name()));
            let opts = WriteOptions {
                compression,
                header_page: HEADER_PAGE.into(),
                event_formats: vec![("sched".into(), vec![SCHED_SWITCH.into()])],
                cpu_count: CPUS,
                ..Default::default()
            };
            let cpus = per_cpu
                .iter()
                .enumerate()
                .map(|(c, p)| (c as u32, p.as_slice()))
                .collect();
            let buffers = vec![BufferSpec {
                name: String::new(),
                clock: "local".into(),
                page_size: 4096,
                cpus,
                stats: vec![],
            }];
            TraceWriter::new(opts)
                .write(&path, buffers)
                .expect("write bench file");
            path
        })
        .collect()
}

/// Nanoseconds this thread has run on a CPU (first field of `/proc/thread-self/schedstat`):
/// wall time on a shared machine mostly measures the other processes.
fn on_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Reads `path` once; prints one result line.
fn read(path: &Path) {
    let cpu0 = on_cpu_ns();
    let start = Instant::now();
    let file = TraceFile::open(path).expect("open");
    let open_cpu = on_cpu_ns() - cpu0;
    let format = file
        .metadata()
        .formats
        .by_name("sched_switch")
        .expect("format");
    let next_pid = FieldHandle::new(format, "next_pid").expect("field");
    let mut events = file.events();
    let (mut n, mut check) = (0u64, 0u64);
    while let Some(rec) = events.next_event().expect("read") {
        n += 1;
        check = check.wrapping_add(
            u64::from(rec.event_id())
                ^ rec.pid() as u64
                ^ u64::from(rec.flags())
                ^ u64::from(rec.preempt_count())
                ^ rec.timestamp,
        );
        check = check.wrapping_add(rec.i64(next_pid).unwrap_or(0) as u64 + rec.name().len() as u64);
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_secs = (on_cpu_ns() - cpu0) as f64 / 1e9;
    let iter_secs = cpu_secs - open_cpu as f64 / 1e9;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?")
        .split_whitespace()
        .nth(1)
        .unwrap_or("?")
        .to_string();
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}: {n} events, {:.1} MB file, on CPU {cpu_secs:.3} s (open {:.3} s, events {iter_secs:.3} s = {:.2} M events/s), wall {secs:.3} s = {:.2} M events/s, peak RSS {} MB (checksum {check:x})",
        path.file_name().unwrap().to_string_lossy(),
        size as f64 / 1e6,
        open_cpu as f64 / 1e9,
        n as f64 / iter_secs / 1e6,
        n as f64 / secs / 1e6,
        hwm.parse::<u64>().map_or(hwm.clone(), |k| format!("{:.1}", k as f64 / 1024.0)),
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if let [mode, path] = args.as_slice() {
        if mode == "read" {
            return read(Path::new(path));
        }
    }
    let events: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let dir = std::env::temp_dir().join(format!("kspan-tracedat-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let t = Instant::now();
    let files = generate(&dir, events);
    println!(
        "generated {events} events in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let exe = std::env::current_exe().expect("own path");
    for f in &files {
        for _ in 0..3 {
            let st = Command::new(&exe)
                .arg("read")
                .arg(f)
                .status()
                .expect("child");
            assert!(st.success());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
