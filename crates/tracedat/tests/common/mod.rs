//! Helpers shared by the integration tests: a private ftrace instance with a Drop guard,
//! running trace-cmd, normalising `trace-cmd report -R -t` output, and synthetic pages.

#![allow(dead_code)] // each test binary uses a subset

use std::path::{Path, PathBuf};
use std::process::Command;

use kspan_tracedat::{text, TraceFile};

pub const TRACEFS: &str = "/sys/kernel/tracing";

/// A private ftrace instance, removed (tracing off, events off) when dropped.
pub struct Instance {
    pub name: String,
    pub dir: PathBuf,
}

impl Instance {
    /// Creates `instances/kspan-test-<tag>-<pid>` with `events` (`system/name`) enabled, not yet on.
    pub fn new(tag: &str, events: &[&str]) -> Instance {
        let name = format!("kspan-test-{tag}-{}", std::process::id());
        let dir = Path::new(TRACEFS).join("instances").join(&name);
        if dir.exists() {
            let _ = std::fs::remove_dir(&dir);
        }
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let inst = Instance { name, dir };
        inst.write("tracing_on", "0");
        for ev in events {
            inst.write(&format!("events/{ev}/enable"), "1");
        }
        inst
    }

    pub fn write(&self, file: &str, value: &str) {
        let p = self.dir.join(file);
        std::fs::write(&p, value).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
    }

    pub fn on(&self, on: bool) {
        self.write("tracing_on", if on { "1" } else { "0" });
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("tracing_on"), "0");
        let _ = std::fs::write(self.dir.join("events/enable"), "0");
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// A scratch directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("kspan-tracedat-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs trace-cmd with `args`; panics with its stderr on failure. Returns (stdout, stderr).
pub fn trace_cmd(args: &[&str]) -> (String, String) {
    let out = Command::new("trace-cmd").args(args).output().expect("trace-cmd is installed");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "trace-cmd {args:?} failed: {stderr}");
    (stdout, stderr)
}

/// `trace-cmd report -R -t` of `file`, normalised.
pub fn report_lines(file: &Path) -> Vec<String> {
    let (out, _) = trace_cmd(&["report", "-R", "-t", "-i", file.to_str().unwrap()]);
    out.lines().filter(|l| !l.starts_with("cpus=") && !l.trim().is_empty()).map(normalise).collect()
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

/// Collapses runs of spaces and writes every `=NUMBER` value (hex `0x…` or signed decimal)
/// as an unsigned 64-bit decimal, so `fd=0x00000001` (trace-cmd follows the print format) and
/// `fd=1` (kspan prints raw values) compare equal. Nothing else is changed.
pub fn normalise(line: &str) -> String {
    let collapsed = line.split_whitespace().collect::<Vec<_>>().join(" ");
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

/// Asserts two line lists are equal, printing the first difference.
pub fn assert_same_lines(expected: &[String], got: &[String], what: &str) {
    if let Some(i) = expected.iter().zip(got).position(|(a, b)| a != b) {
        panic!("{what}: first difference at line {i}:\n trace-cmd: {}\n kspan:     {}", expected[i], got[i]);
    }
    assert_eq!(expected.len(), got.len(), "{what}: line counts differ");
}

/// The texts of `events/SYS/NAME/format` of these events, grouped by system.
pub fn event_formats(events: &[&str]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for ev in events {
        let (sys, _) = ev.split_once('/').unwrap();
        let text = std::fs::read_to_string(Path::new(TRACEFS).join("events").join(ev).join("format")).unwrap();
        match out.iter_mut().find(|(s, _)| s == sys) {
            Some((_, v)) => v.push(text),
            None => out.push((sys.to_string(), vec![text])),
        }
    }
    out
}

/// Text of a tracefs file.
pub fn tracefs(file: &str) -> String {
    std::fs::read_to_string(Path::new(TRACEFS).join(file)).unwrap()
}

/// Makes scheduler, write, fork/exec and socket activity.
pub fn make_activity() {
    use std::io::Write;
    for _ in 0..3 {
        let st = Command::new("sh").arg("-c").arg("echo kspan > /dev/null; ls / > /dev/null").status().unwrap();
        assert!(st.success());
    }
    let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    for i in 0..5 {
        a.write_all(format!("ping {i}").as_bytes()).unwrap();
        let mut buf = [0u8; 16];
        let _ = std::io::Read::read(&mut b, &mut buf).unwrap();
    }
    let mut null = std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap();
    for _ in 0..5 {
        null.write_all(b"kspan").unwrap();
    }
}
