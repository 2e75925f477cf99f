//! Instances never outlive a recorder: SIGINT ends a recording cleanly (complete file, no
//! instance left, global buffer untouched); after SIGKILL the leftovers are found and
//! removed by the next recorder, which salvages the recorded pages into a readable file.

mod common;

use common::*;
use kspan_capture::signals;
use kspan_capture::{
    remove_stale_instances, salvage_stale_temp_dirs, write_trace_dat, FileVersion, RecordOptions,
    Recording, Salvage, TargetSpec, TRACEFS_ROOT,
};
use kspan_tracedat::TraceFile;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Output path for the recorder role.
const OUT_ENV: &str = "KSPAN_CAPTURE_OUT";

/// The recorder role: records itself until SIGINT/SIGTERM, then writes the file.
#[test]
fn role_entry() {
    if std::env::var(ROLE_ENV).as_deref() != Ok("recorder") {
        return;
    }
    signals::install_stop_handlers();
    let out = PathBuf::from(std::env::var(OUT_ENV).unwrap());
    let recording = Recording::start(RecordOptions {
        targets: TargetSpec {
            pids: vec![std::process::id() as i32],
            ..TargetSpec::default()
        },
        event_set: kspan_capture::EventSet::Default,
        temp_parent: out.parent().unwrap().to_path_buf(),
        output: out.clone(),
        tracefs_root: TRACEFS_ROOT.into(),
        ..RecordOptions::default()
    })
    .unwrap();
    println!("{LINE_PREFIX}{}", recording.instance_names().join(","));
    while !signals::stop_requested() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let capture = recording.finish().unwrap();
    write_trace_dat(&capture, &out, FileVersion::V7Zstd).unwrap();
    println!("{LINE_PREFIX}written");
}

fn start_recorder(
    out: &Path,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
    Vec<String>,
) {
    let mut cmd = role_command("recorder");
    cmd.env(OUT_ENV, out);
    let (child, mut lines) = spawn_piped(cmd);
    let mut names: Vec<String> = next_line(&mut lines)
        .split(',')
        .map(str::to_string)
        .collect();
    names.sort();
    (child, lines, names)
}

fn send_signal(child: &std::process::Child, signal: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions; the pid is our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}

#[test]
fn sigint_finishes_the_file_and_removes_the_instances() {
    let scratch = Scratch::new("capture-sigint");
    let out = scratch.join("int.dat");
    let before = global_tracing_state();
    let (mut child, mut lines, names) = start_recorder(&out);
    let pid = child.id();
    assert_eq!(
        names,
        vec![format!("kspan-{pid}-0"), format!("kspan-{pid}-0-net")]
    );
    assert_eq!(instances_of(pid), names);
    send_signal(&child, libc::SIGINT);
    assert_eq!(next_line(&mut lines), "written");
    assert!(child.wait().unwrap().success());
    assert_eq!(instances_of(pid), Vec::<String>::new());
    assert_eq!(global_tracing_state(), before);
    let file = TraceFile::open(&out).unwrap();
    let meta = kspan_capture::read_meta(file.metadata().kspan_metadata().unwrap()).unwrap();
    assert_eq!(meta.target, format!("pid {pid}"));
    let buffers: Vec<&str> = file
        .metadata()
        .buffers
        .iter()
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(buffers, vec!["", "net"]);
    assert_eq!(
        scratch.file_names(),
        vec!["int.dat".to_string()],
        "temporary page files are gone"
    );
}

#[test]
fn instances_of_a_killed_recorder_are_removed_by_the_next_one() {
    let scratch = Scratch::new("capture-sigkill");
    let (mut child, _lines, names) = start_recorder(&scratch.join("kill.dat"));
    let pid = child.id();
    send_signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    assert_eq!(
        instances_of(pid),
        names,
        "SIGKILL leaves the instances behind"
    );
    // The salvage moves in what the instances still hold, then they are removed.
    let salvaged = salvage_stale_temp_dirs(scratch.path(), None, Some(Path::new(TRACEFS_ROOT)));
    let removed = remove_stale_instances(Path::new(TRACEFS_ROOT)).unwrap();
    let ours: Vec<String> = removed
        .into_iter()
        .filter(|n| n.starts_with(&format!("kspan-{pid}-")))
        .collect();
    assert_eq!(ours, names);
    assert_eq!(instances_of(pid), Vec::<String>::new());
    let [Salvage::Saved {
        pid: owner,
        to,
        pages,
    }] = salvaged.as_slice()
    else {
        panic!("one directory salvaged, not {salvaged:?}");
    };
    assert_eq!(
        (*owner, to),
        (pid, &scratch.join(format!("kill-salvaged-{pid}.dat")))
    );
    assert!(
        *pages > 0,
        "the recorder's own activity filled pages, rescued if need be"
    );
    let file = TraceFile::open(to).unwrap();
    let mut events = file.events();
    let mut count = 0;
    while events.next_event().unwrap().is_some() {
        count += 1;
    }
    assert!(count > 0);
    let meta = kspan_capture::read_meta(file.metadata().kspan_metadata().unwrap()).unwrap();
    assert_eq!(meta.target, format!("pid {pid}"));
    let names: Vec<_> = std::fs::read_dir(scratch.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from(format!("kill-salvaged-{pid}.dat"))]
    );
}
