//! The command form: the command is gated until tracing is on, so its own `exec` and
//! everything it spawns are recorded.

mod common;

use common::Scratch;
use kspan_capture::{write_trace_dat, FileVersion, RecordOptions, Recording, TRACEFS_ROOT};
use kspan_tracedat::TraceFile;
use std::time::Duration;

#[test]
fn a_started_command_is_traced_from_its_exec_with_its_children() {
    let scratch = Scratch::new("capture-command");
    let mut recording = Recording::start(RecordOptions {
        command: ["/bin/sh", "-c", "/bin/true; /bin/true"]
            .map(String::from)
            .to_vec(),
        // The full set: it has the exec and fork events this test looks for.
        event_set: kspan_capture::EventSet::Full,
        temp_parent: scratch.path().to_path_buf(),
        tracefs_root: TRACEFS_ROOT.into(),
        ..RecordOptions::default()
    })
    .unwrap();
    let pid = recording.command_pid().unwrap();
    while recording.command_status().is_none() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let capture = recording.finish().unwrap();
    let command = capture
        .meta
        .world
        .processes
        .iter()
        .find(|p| p.pid == pid)
        .unwrap();
    assert_eq!(command.comm, "sh");
    assert_eq!(command.cmdline, ["/bin/sh", "-c", "/bin/true; /bin/true"]);
    let out = scratch.join("command.dat");
    write_trace_dat(&capture, &out, FileVersion::V7Zstd).unwrap();

    let file = TraceFile::open(&out).unwrap();
    let mut execs = Vec::new();
    let mut forks = Vec::new();
    let mut before_exec: Option<Vec<String>> = Some(Vec::new());
    let mut last_before_exec = None;
    let mut events = file.events();
    while let Some(rec) = events.next_event().unwrap() {
        let Some(format) = rec.format else { continue };
        if rec.buffer != 0 {
            continue;
        }
        if rec.pid() == pid && !format.name.starts_with("sched_") {
            if let Some(seen) = before_exec.as_mut() {
                seen.push(format.name.clone());
            }
        }
        if rec.pid() == pid && format.name == "sched_process_exec" {
            if let Some(seen) = before_exec.take() {
                last_before_exec = seen.last().cloned();
            }
        }
        match format.name.as_str() {
            "sched_process_exec" => {
                let filename = rec.str(rec.field("filename").unwrap()).unwrap().to_string();
                execs.push(filename);
            }
            "sched_process_fork" => {
                forks.push(rec.i64(rec.field("parent_pid").unwrap()).unwrap() as i32);
            }
            _ => {}
        }
    }
    // Tracing was on before the gate opened: the gate read's return, right before the
    // exec, is recorded.
    assert_eq!(last_before_exec.as_deref(), Some("sys_exit_read"));
    assert_eq!(execs, vec!["/bin/sh", "/bin/true", "/bin/true"]);
    assert_eq!(forks, vec![pid, pid]);
}

#[test]
fn user_events_are_filtered_in_the_kernel() {
    let scratch = Scratch::new("capture-filter");
    let mut recording = Recording::start(RecordOptions {
        command: [
            "/bin/sh",
            "-c",
            "printf 1234567 > /dev/null; printf 12 > /dev/null",
        ]
        .map(String::from)
        .to_vec(),
        event_set: kspan_capture::EventSet::None,
        events: vec![kspan_capture::EventRequest::user(
            "syscalls:sys_enter_wr?te",
            Some("count == 7"),
        )],
        temp_parent: scratch.path().to_path_buf(),
        tracefs_root: TRACEFS_ROOT.into(),
        ..RecordOptions::default()
    })
    .unwrap();
    while recording.command_status().is_none() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let capture = recording.finish().unwrap();
    let enabled: Vec<String> = capture.meta.buffers[0]
        .events
        .iter()
        .map(|e| {
            format!(
                "{} if {}",
                e.full_name(),
                e.filter.as_deref().unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(enabled, vec!["syscalls:sys_enter_write if count == 7"]);
    let out = scratch.join("filter.dat");
    write_trace_dat(&capture, &out, FileVersion::V6).unwrap();
    let file = TraceFile::open(&out).unwrap();
    let mut counts = Vec::new();
    let mut events = file.events();
    while let Some(rec) = events.next_event().unwrap() {
        if rec.buffer == 0 {
            counts.push(rec.u64(rec.field("count").unwrap()).unwrap());
        }
    }
    assert_eq!(counts, vec![7]);
}
