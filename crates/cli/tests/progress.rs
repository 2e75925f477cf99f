//! Progress on a terminal only: `kspan record` draws a spinner (elapsed time, events, bytes
//! written) and `kspan analyze` a bar of the bytes read when standard error is a terminal (a
//! pseudo-terminal here), and write nothing of it when standard error is a pipe: the same
//! traces and the same messages as without progress. Needs root, tracefs, curl and python3.

mod common;

use common::{record_requests, succeeded};
use kspan_testsupport::{Netns, Scratch};
use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

/// Runs `command` with its standard error on a new pseudo-terminal of 120 columns, and
/// returns how it ended and everything it wrote there.
fn with_stderr_on_a_terminal(mut command: Command) -> (ExitStatus, String) {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors into the given integers and reads `size`; the
    // name and termios pointers may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened by openpty and are owned by nothing else.
    let (mut master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("kspan runs");
    // The parent's copy of the terminal's other end goes with the command, so that reading
    // ends when the child has closed its own.
    drop(command);
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let mut chunk = [0u8; 4096];
        // A pseudo-terminal whose other end is closed reads as an error (EIO): the end.
        while let Ok(n @ 1..) = master.read(&mut chunk) {
            text.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&text).into_owned()
    });
    let status = child.wait().unwrap();
    (status, reader.join().unwrap())
}

/// `text` without its terminal control sequences (ESC `[` … a letter).
fn without_escapes(text: &str) -> String {
    let mut plain = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            plain.push(c);
        }
    }
    plain
}

/// `kspan analyze RECORDING --format otlp-json -o OUT`.
fn analyze(recording: &Path, out: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kspan"));
    command
        .arg("analyze")
        .arg(recording)
        .args(["--format", "otlp-json", "-o"])
        .arg(out);
    command
}

#[test]
fn analyze_draws_a_bar_of_bytes_read_on_a_terminal_and_nothing_on_a_pipe() {
    let (scratch, recording) = record_requests("progress-analyze", 10);
    let (on_pipe, on_terminal) = (scratch.join("pipe.json"), scratch.join("terminal.json"));
    let piped = succeeded(analyze(&recording, &on_pipe).output().unwrap());
    let (status, terminal) = with_stderr_on_a_terminal(analyze(&recording, &on_terminal));
    assert!(status.success(), "{terminal}");
    assert!(
        terminal.contains("kspan: analysing ") && terminal.contains(" left) ["),
        "a bar on the terminal: {terminal:?}"
    );
    let piped = String::from_utf8(piped.stderr).unwrap();
    assert!(
        !piped.contains("analysing") && !piped.contains('\r') && !piped.contains('\x1b'),
        "no progress on a pipe: {piped:?}"
    );
    // The same messages either way, once the terminal's redrawn bar is taken out.
    let plain = without_escapes(&terminal);
    let messages: Vec<&str> = plain
        .split(['\r', '\n'])
        .filter(|line| line.starts_with("kspan: ") && !line.contains("analysing"))
        .collect();
    let piped_messages: Vec<&str> = piped.lines().filter(|l| l.starts_with("kspan: ")).collect();
    assert_eq!(messages, piped_messages);
    assert_eq!(
        std::fs::read(&on_pipe).unwrap(),
        std::fs::read(&on_terminal).unwrap(),
        "the same traces"
    );
}

#[test]
fn record_shows_a_spinner_with_events_and_bytes_on_a_terminal_and_nothing_on_a_pipe() {
    let netns = Netns::new("progress-rec");
    let scratch = Scratch::new("progress-rec");
    let record = |name: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kspan"));
        command
            .args(["record", "--duration", "1.5", "--payload-bytes", "0"])
            .args(["--netns", netns.name(), "-o"])
            .arg(scratch.join(name));
        command
    };
    let (status, terminal) = with_stderr_on_a_terminal(record("terminal.dat"));
    assert!(status.success(), "{terminal}");
    assert!(
        terminal.contains(" events (") && terminal.contains(" written, "),
        "a spinner on the terminal: {terminal:?}"
    );
    assert!(terminal.contains("kspan: wrote "), "{terminal}");
    let piped = succeeded(record("pipe.dat").output().unwrap());
    let piped = String::from_utf8(piped.stderr).unwrap();
    assert!(
        !piped.contains(" written, ") && !piped.contains('\r') && !piped.contains('\x1b'),
        "no progress on a pipe: {piped:?}"
    );
    assert!(piped.contains("kspan: wrote "), "{piped}");
}
