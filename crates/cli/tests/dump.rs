//! `kspan dump`'s filters (--tid, --event, --from, --to) print exactly the lines of the
//! unfiltered dump that match them. Records a short real command first (needs root and
//! tracefs, like `kspan record`).

use std::path::Path;
use std::process::Command;

fn kspan(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args(args)
        .output()
        .expect("kspan runs");
    assert!(
        out.status.success(),
        "kspan {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `comm-tid [cpu] seconds: event: fields` → (tid, seconds, event).
fn parse(line: &str) -> (i32, f64, &str) {
    let (head, rest) = line.split_once(" [").expect("task and cpu");
    let tid = head.rsplit_once('-').expect("comm-tid").1.parse().unwrap();
    let mut parts = rest.split(": ");
    let time = parts.next().unwrap().split_once("] ").unwrap().1;
    (tid, time.parse().unwrap(), parts.next().unwrap())
}

#[test]
fn dump_filters_keep_exactly_the_matching_lines() {
    let dir = std::env::temp_dir().join(format!("kspan-dump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("short.dat");
    let path = file.to_str().unwrap();
    kspan(&[
        "record",
        "-o",
        path,
        "--",
        "sh",
        "-c",
        "ls / >/dev/null; sleep 0.1",
    ]);
    assert!(Path::new(path).exists());

    let all = kspan(&["dump", path]);
    let lines: Vec<&str> = all.lines().collect();
    assert!(lines.len() > 20, "the recording has events");
    let (tid, _, _) = parse(lines[lines.len() / 2]);
    let (_, from, _) = parse(lines[lines.len() / 4]);
    let (_, to, _) = parse(lines[3 * lines.len() / 4]);
    let (from_s, to_s) = (format!("{from:.9}"), format!("{to:.9}"));

    let by_tid = kspan(&["dump", path, "--tid", &tid.to_string()]);
    let expected: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| parse(l).0 == tid)
        .collect();
    assert_eq!(by_tid.lines().collect::<Vec<_>>(), expected);

    let window = kspan(&["dump", path, "--from", &from_s, "--to", &to_s]);
    let expected: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| (from..=to).contains(&parse(l).1))
        .collect();
    assert_eq!(window.lines().collect::<Vec<_>>(), expected);

    let switches = kspan(&[
        "dump",
        path,
        "--event",
        "sched:sched_switch",
        "--event",
        "sys_enter_execve",
    ]);
    let expected: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| matches!(parse(l).2, "sched_switch" | "sys_enter_execve"))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(switches.lines().collect::<Vec<_>>(), expected);
    std::fs::remove_dir_all(&dir).unwrap();
}
