//! Helpers shared by the integration tests (the fixtures, a private ftrace instance, a
//! network namespace and a scratch directory, are `kspan-testsupport`'s): running trace-cmd,
//! normalising `trace-cmd report -R -t` output, and synthetic pages.

#![allow(dead_code)] // each test binary uses a subset

use std::path::Path;
use std::process::Command;

use kspan_tracedat::{text, TraceFile};

use kspan_testsupport::Netns;
pub use kspan_testsupport::TRACEFS;

/// Runs trace-cmd with `args`; panics with its stderr on failure. Returns (stdout, stderr).
pub fn trace_cmd(args: &[&str]) -> (String, String) {
    let out = Command::new("trace-cmd")
        .args(args)
        .output()
        .expect("trace-cmd is installed");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "trace-cmd {args:?} failed: {stderr}");
    (stdout, stderr)
}

/// `trace-cmd report -R -t` of `file`, normalised.
pub fn report_lines(file: &Path) -> Vec<String> {
    let (out, _) = trace_cmd(&["report", "-R", "-t", "-i", file.to_str().unwrap()]);
    out.lines()
        .filter(|l| !l.starts_with("cpus=") && !l.trim().is_empty())
        .map(normalise)
        .collect()
}

/// kspan's dump of `file`, normalised the same way.
pub fn dump_lines(file: &Path) -> Vec<String> {
    let f = TraceFile::open(file).unwrap();
    let mut events = f.events();
    let mut lines = Vec::new();
    while let Some(rec) = events.next_event().unwrap() {
        let mut s = String::new();
        text::format_record(&mut s, &rec, f.metadata()).unwrap();
        lines.push(normalise(&s));
    }
    assert!(events.warnings().is_empty(), "{:?}", events.warnings());
    lines
}

/// Collapses runs of spaces, writes arrays without spaces (`ARRAY[7f,00]`) and writes every `=NUMBER` value (hex `0x…` or signed decimal)
/// as an unsigned 64-bit decimal, so `fd=0x00000001` (trace-cmd follows the print format) and
/// `fd=1` (kspan prints raw values) compare equal. Nothing else is changed.
pub fn normalise(line: &str) -> String {
    let collapsed = line
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(", ", ",");
    collapsed
        .split(' ')
        .map(|tok| match tok.split_once('=') {
            Some((k, v)) => match parse_number(v) {
                Some(n) => format!("{k}={n}"),
                None => tok.to_string(),
            },
            None => tok.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_number(v: &str) -> Option<u64> {
    if let Some(hex) = v.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok();
    }
    if let Ok(n) = v.parse::<i64>() {
        return Some(n as u64);
    }
    v.parse::<u64>().ok()
}

/// Whether a normalised trace-cmd line and a normalised kspan line show the same event. Tokens
/// must be equal, except where libtraceevent prints the same bytes differently:
/// - a value in hex without `0x` (it follows the print format, e.g. `sock_cookie=%llx`; `hex`
///   lists such fields, see [`hex_fields`]) where kspan prints the number in decimal;
/// - a byte array as the C string before its first NUL (it treats `u8` arrays as text until it
///   first meets an unprintable one) where kspan prints `ARRAY[xx, …]`, or the reverse.
pub fn same_line(trace_cmd: &str, kspan: &str, hex: &[String]) -> bool {
    let (a, b): (Vec<_>, Vec<_>) = (trace_cmd.split(' ').collect(), kspan.split(' ').collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x == y || same_value(x, y, hex))
}

fn same_value(trace_cmd: &str, kspan: &str, hex: &[String]) -> bool {
    let (Some((kx, vx)), Some((ky, vy))) = (trace_cmd.split_once('='), kspan.split_once('='))
    else {
        return false;
    };
    let c_string = |v: &str| -> Option<Vec<u8>> {
        let bytes: Vec<u8> = if v.starts_with("ARRAY[") {
            v.trim_start_matches("ARRAY[")
                .trim_end_matches(']')
                .split(',')
                .map(|h| u8::from_str_radix(h.trim(), 16).ok())
                .collect::<Option<_>>()?
        } else {
            v.as_bytes().to_vec()
        };
        Some(bytes.into_iter().take_while(|&c| c != 0).collect())
    };
    kx == ky
        && (hex.iter().any(|h| h == kx)
            && u64::from_str_radix(vx, 16)
                .ok()
                .is_some_and(|n| n.to_string() == vy)
            || ((vx.starts_with("ARRAY[") || vy.starts_with("ARRAY["))
                && c_string(vx).is_some()
                && c_string(vx) == c_string(vy)))
}

/// Fields that some event's print format shows as `NAME=%…x` (hex without a `0x` prefix).
pub fn hex_fields(file: &Path) -> Vec<String> {
    let f = TraceFile::open(file).unwrap();
    let mut out = Vec::new();
    for format in f.metadata().formats.iter() {
        for field in &format.fields {
            let key = format!("{}=%", field.name);
            let Some(at) = format.print_fmt.find(&key) else {
                continue;
            };
            let conv = format.print_fmt[at + key.len()..]
                .trim_start_matches(|c: char| c.is_ascii_digit() || "lh#-".contains(c));
            if conv.starts_with('x') {
                out.push(field.name.clone());
            }
        }
    }
    out
}

/// Asserts two line lists show the same events ([`same_line`]), printing the first difference.
pub fn assert_same_lines(expected: &[String], got: &[String], file: &Path) {
    let what = file.display();
    let hex = hex_fields(file);
    if let Some(i) = expected
        .iter()
        .zip(got)
        .position(|(a, b)| !same_line(a, b, &hex))
    {
        panic!(
            "{what}: first difference at line {i}:\n trace-cmd: {}\n kspan:     {}",
            expected[i], got[i]
        );
    }
    assert_eq!(expected.len(), got.len(), "{what}: line counts differ");
}

/// The texts of `events/SYS/NAME/format` of these events, grouped by system.
pub fn event_formats(events: &[&str]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for ev in events {
        let (sys, _) = ev.split_once('/').unwrap();
        let text =
            std::fs::read_to_string(Path::new(TRACEFS).join("events").join(ev).join("format"))
                .unwrap();
        match out.iter_mut().find(|(s, _)| s == sys) {
            Some((_, v)) => v.push(text),
            None => out.push((sys.to_string(), vec![text])),
        }
    }
    out
}

/// Text of a tracefs file, read with large reads: `events/header_page` of Linux 6.18 returns
/// only the first read's worth when read in small pieces (as `read_to_string` does at first).
pub fn tracefs(file: &str) -> String {
    use std::io::Read;
    let mut f = std::fs::File::open(Path::new(TRACEFS).join(file)).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0;
    loop {
        let n = f.read(&mut buf[len..]).unwrap();
        if n == 0 {
            break;
        }
        len += n;
    }
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// Makes scheduler, write, fork/exec and socket activity.
pub fn make_activity() {
    use std::io::Write;
    for _ in 0..3 {
        let st = Command::new("sh")
            .arg("-c")
            .arg("echo kspan > /dev/null; ls / > /dev/null")
            .status()
            .unwrap();
        assert!(st.success());
    }
    let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    for i in 0..5 {
        a.write_all(format!("ping {i}").as_bytes()).unwrap();
        let mut buf = [0u8; 16];
        let _ = std::io::Read::read(&mut b, &mut buf).unwrap();
    }
    let mut null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    for _ in 0..5 {
        null.write_all(b"kspan").unwrap();
    }
}

/// Format of the synthetic event used by tests that need no kernel: id 3000, `int seq`.
pub const TICK_FORMAT: &str = "name: tick\nID: 3000\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\tfield:int seq;\toffset:8;\tsize:4;\tsigned:1;\n\nprint fmt: \"seq=%d\", REC->seq\n";

/// The header_page text of a 64-bit kernel with 4 KiB pages.
pub const HEADER_PAGE: &str = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n";

/// The header_event text of Linux.
pub const HEADER_EVENT: &str = "# compressed entry header\n\ttype_len    :    5 bits\n\ttime_delta  :   27 bits\n\tarray       :   32 bits\n\n\tpadding     : type == 29\n\ttime_extend : type == 30\n\ttime_stamp : type == 31\n\tdata max type_len  == 28\n";

/// Builds 4 KiB pages of `tick` events: each (time delta, pid, seq) becomes a 16-byte record.
/// A new page starts every `per_page` events; `base` is the first page's timestamp.
pub fn tick_pages(base: u64, events: &[(u32, i32, i32)], per_page: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ts = base;
    for chunk in events.chunks(per_page.max(1)) {
        let mut page = vec![0u8; 4096];
        page[..8].copy_from_slice(&ts.to_le_bytes());
        let mut body = Vec::new();
        for &(delta, pid, seq) in chunk {
            assert!(delta < 1 << 27);
            ts += u64::from(delta);
            body.extend((3u32 | (delta << 5)).to_le_bytes()); // type_len 3: 12 bytes of data
            body.extend(3000u16.to_le_bytes());
            body.extend([0u8, 0]);
            body.extend(pid.to_le_bytes());
            body.extend(seq.to_le_bytes());
        }
        page[8..16].copy_from_slice(&(body.len() as u64).to_le_bytes());
        page[16..16 + body.len()].copy_from_slice(&body);
        out.extend(page);
    }
    out
}

/// Write options for files of synthetic `tick` pages.
pub fn tick_options(
    version: u32,
    compression: kspan_tracedat::Compression,
    cpus: u32,
) -> kspan_tracedat::WriteOptions {
    kspan_tracedat::WriteOptions {
        version,
        compression,
        header_page: HEADER_PAGE.into(),
        header_event: HEADER_EVENT.into(),
        event_formats: vec![("kspan_test".into(), vec![TICK_FORMAT.into()])],
        cmdlines: "100 alpha\n200 beta\n".into(),
        tgids: "100 100\n200 100\n".into(),
        trace_clock: "[local] global\n".into(),
        cpu_count: cpus,
        ..Default::default()
    }
}

/// Runs a TCP exchange on 127.0.0.1 inside `ns`: connect, send 70,000 bytes, receive them
/// twice back, close.
pub fn tcp_exchange(ns: &Netns) {
    const SCRIPT: &str = "import socket, threading\n\
s = socket.socket(); s.bind(('127.0.0.1', 5555)); s.listen()\n\
def serve():\n    c, _ = s.accept(); d = b''\n    while len(d) < 70000: d += c.recv(65536)\n    c.sendall(d * 2); c.close()\n\
t = threading.Thread(target=serve); t.start()\n\
c = socket.create_connection(('127.0.0.1', 5555)); c.sendall(b'x' * 70000); r = b''\n\
while len(r) < 140000: r += c.recv(65536)\n\
c.close(); t.join(); s.close()\n";
    let ok = ns
        .command("python3")
        .args(["-c", SCRIPT])
        .status()
        .unwrap()
        .success();
    assert!(ok, "TCP exchange in {} failed", ns.name());
}

/// Events of the main test instance: scheduler, a syscall pair, a socket event, and two
/// events with `__data_loc` strings.
pub const MAIN_EVENTS: &[&str] = &[
    "sched/sched_switch",
    "sched/sched_waking",
    "syscalls/sys_enter_write",
    "syscalls/sys_exit_write",
    "sock/sock_send_length",
    "sched/sched_process_exec",
    "sched/sched_process_fork",
];
/// Events of the second test instance (a second buffer in the file).
pub const SIDE_EVENTS: &[&str] = &["sched/sched_process_exit", "sched/sched_wakeup"];
