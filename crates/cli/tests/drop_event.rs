//! `kspan analyze --drop-event` analyses a recording as if some event kinds had not been
//! recorded: the engine gets every event but those (the summary's event count falls by
//! exactly their number in `kspan info`), the traces lose what those events are evidence
//! of (without the socket events, no span at all), and a name matching none of the
//! recording's events is an error. Records curl fetching from python's http.server first
//! (needs root, tracefs, curl and python3).

mod common;

use common::{kspan, record_requests, succeeded};

/// The summary line's `N traces, M spans from E events`: (traces, spans, events).
fn summary(path: &str, drops: &[&str]) -> (u64, u64, u64) {
    let mut args = vec!["analyze", path, "--format", "summary"];
    for d in drops {
        args.extend(["--drop-event", d]);
    }
    let out = succeeded(kspan(&args));
    let text = String::from_utf8(out.stderr).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(" traces, "))
        .unwrap_or_else(|| panic!("no summary line: {text}"));
    let n: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1], n[2])
}

/// How many events of `name` `kspan info` counts.
fn count(path: &str, name: &str) -> u64 {
    let out = succeeded(kspan(&["info", path]));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [n, event] if event == name => n.parse().ok(),
            _ => None,
        })
        .unwrap_or(0)
}

#[test]
fn dropped_events_never_reach_the_engine() {
    let (_scratch, dat) = record_requests("cli-drop", 5);
    let path = dat.to_str().unwrap();
    let (traces, spans, events) = summary(path, &[]);
    assert!(traces >= 5 && spans >= 10, "{traces} traces, {spans} spans");

    let switches = count(path, "sched_switch");
    let reads = count(path, "sys_enter_read") + count(path, "sys_exit_read");
    assert!(switches > 0 && reads > 0);
    let (_, _, left) = summary(path, &["sched:sched_switch", "sys_*_read"]);
    assert_eq!(left, events - switches - reads);

    let (traces, spans, _) = summary(path, &["sock_*_length"]);
    assert_eq!((traces, spans), (0, 0), "no bytes, no spans");

    let out = kspan(&["analyze", path, "--drop-event", "sched_swtich"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no such event"));
}
