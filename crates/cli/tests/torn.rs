//! Torn and corrupted files and bad paths: a real recording cut at many byte offsets reads
//! the events of its whole pages before the cut with one warning (or, cut inside its
//! header, fails in one sentence), never panics; with random bits flipped it reads or fails
//! in one sentence, never panics nor hangs; `info`, `dump` and `analyze` say so; a
//! directory, a missing, an empty and an unreadable file each give one sentence; `info`,
//! `analyze` and `report` of a recording in progress read what it has flushed with one
//! warning. Records with the built `kspan` (needs root and tracefs).

use kspan_testsupport::Scratch;
use kspan_tracedat::page::Page;
use kspan_tracedat::{Error, TraceFile};
use std::path::Path;
use std::process::{Command, Output};

fn kspan(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("kspan runs")
}

/// Records a shell loop of a few thousand events into `dir/name` as trace.dat `version`.
fn record(dir: &Path, name: &str, version: &str) -> Vec<u8> {
    let out = kspan(
        dir,
        &[
            "record",
            "-o",
            name,
            "--file-version",
            version,
            "--",
            "sh",
            "-c",
            "for i in $(seq 200); do cat /proc/version > /dev/null; done",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(dir.join(name)).unwrap()
}

/// Events read from `bytes`, with the warnings; panics on a read error.
fn read(bytes: &[u8]) -> Result<(u64, Vec<String>), Error> {
    let file = TraceFile::from_bytes(bytes.to_vec())?;
    let mut events = file.events();
    let mut count = 0;
    while events.next_event().expect("no damaged page").is_some() {
        count += 1;
    }
    Ok((
        count,
        events.warnings().iter().map(|w| w.to_string()).collect(),
    ))
}

/// For each page of an uncompressed file: (the byte after it, its events), from the uncut
/// file.
fn pages(whole: &[u8]) -> Vec<(usize, u64)> {
    let file = TraceFile::from_bytes(whole.to_vec()).unwrap();
    let meta = file.metadata();
    let mut pages = Vec::new();
    for b in &meta.buffers {
        let page = b.page_size as usize;
        for c in &b.cpus {
            let (start, end) = (c.offset as usize, (c.offset + c.size) as usize);
            for at in (start..end).step_by(page) {
                let parsed = Page::parse(&whole[at..at + page], &meta.header_page, meta.endian);
                pages.push((at + page, parsed.unwrap().events().count() as u64));
            }
        }
    }
    pages
}

/// The byte offsets to cut at: every one around the start of the data and the first page
/// boundaries, every 97th elsewhere, and around the middle and the end.
fn cuts(whole: &[u8]) -> Vec<usize> {
    let file = TraceFile::from_bytes(whole.to_vec()).unwrap();
    let data = file
        .metadata()
        .buffers
        .iter()
        .flat_map(|b| &b.cpus)
        .map(|c| c.offset as usize)
        .min()
        .unwrap();
    let (len, page) = (whole.len(), file.metadata().buffers[0].page_size as usize);
    // Every byte around the end of the header and the first two page boundaries, every
    // 97th elsewhere (every byte of a small file: tracedat's bad_input tests).
    let around = |at: usize| at.saturating_sub(256)..(at + 256).min(len);
    let mut cuts: Vec<usize> = [data, data + page, data + 2 * page]
        .into_iter()
        .flat_map(around)
        .chain((0..len).step_by(97))
        .collect();
    cuts.extend([
        1,
        10,
        100,
        len / 2,
        len - page - 1,
        len - page,
        len - 1,
        len,
    ]);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

#[test]
fn a_real_recording_cut_anywhere_reads_its_whole_pages_or_fails_in_one_sentence() {
    let scratch = Scratch::new("torn-cuts");
    for version in ["6", "7"] {
        let whole = record(scratch.path(), &format!("v{version}.dat"), version);
        let (total, warnings) = read(&whole).unwrap();
        assert!(total > 1000, "{total} events");
        assert_eq!(warnings, Vec::<String>::new());
        let pages = if version == "6" {
            pages(&whole)
        } else {
            Vec::new()
        };
        let (mut last, mut first_read) = (0, None);
        for cut in cuts(&whole) {
            match read(&whole[..cut]) {
                Err(e) => {
                    assert!(
                        first_read.is_none(),
                        "v{version}: cut at {cut} fails after a read"
                    );
                    let text = e.to_string();
                    assert!(
                        matches!(e, Error::TornHeader { .. } | Error::BadMagic),
                        "v{version} cut at {cut}: {text}"
                    );
                    assert!(!text.contains('\n'), "{text}");
                }
                Ok((events, warnings)) => {
                    first_read.get_or_insert(cut);
                    // One warning whenever events are missing (a cut that only drops the
                    // chunk count of an empty CPU loses nothing).
                    let warned = usize::from(events < total);
                    assert!(
                        warnings.len() <= 1 && warnings.len() >= warned,
                        "cut at {cut}"
                    );
                    assert!(
                        events >= last,
                        "v{version}: {events} events at {cut}, {last} before"
                    );
                    if version == "6" {
                        let before = pages.iter().filter(|(end, _)| *end <= cut);
                        assert_eq!(events, before.map(|(_, n)| n).sum(), "cut at {cut}");
                    }
                    last = events;
                }
            }
        }
        assert_eq!(last, total, "v{version}: the uncut file reads every event");
        assert!(
            first_read.is_some_and(|at| at < whole.len() / 2),
            "v{version}: the metadata is at the front ({first_read:?} of {})",
            whole.len()
        );
    }
}

#[test]
fn info_dump_and_analyze_read_a_file_cut_in_half_with_one_warning() {
    let scratch = Scratch::new("torn-cli");
    let whole = record(scratch.path(), "whole.dat", "7");
    std::fs::write(scratch.join("half.dat"), &whole[..whole.len() / 2]).unwrap();
    for command in ["info", "dump", "analyze"] {
        let out = kspan(scratch.path(), &[command, "half.dat"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{command}: {stderr}");
        let all = format!("{}{stderr}", String::from_utf8_lossy(&out.stdout));
        let warnings: Vec<&str> = all.lines().filter(|l| l.contains("cut short")).collect();
        assert_eq!(warnings.len(), 1, "{command}: {all}");
        assert!(
            warnings[0].contains(&format!("the file ends at byte {}", whole.len() / 2)),
            "{}",
            warnings[0]
        );
    }
}

#[test]
fn bad_paths_fail_in_one_sentence_each() {
    let scratch = Scratch::new("torn-paths");
    let whole = record(scratch.path(), "whole.dat", "7");
    std::fs::write(scratch.join("h100.dat"), &whole[..100]).unwrap();
    std::fs::write(scratch.join("empty.dat"), b"").unwrap();
    let dir = scratch.path().to_str().unwrap().to_string();
    let cases = [
        (dir.as_str(), "it is a directory, not a trace file; give the path of a trace.dat written by `kspan record`"),
        ("missing.dat", "no such file; give the path of a trace.dat written by `kspan record`"),
        ("empty.dat", "the file is empty, so it holds no recording"),
        ("h100.dat", "the file ends at byte 100, before the end of its header"),
    ];
    for (path, says) in cases {
        for command in ["info", "dump", "analyze"] {
            let out = kspan(scratch.path(), &[command, path]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{command} {path}");
            assert_eq!(stderr.lines().count(), 1, "{command} {path}: {stderr}");
            assert!(
                stderr.starts_with(&format!("kspan: error: cannot read {path}: {says}")),
                "{command} {path}: {stderr}"
            );
        }
    }
}

#[test]
fn an_unreadable_file_says_permission_denied() {
    let scratch = Scratch::new("torn-perm");
    std::fs::write(scratch.join("secret.dat"), b"x").unwrap();
    let program = scratch.join("kspan");
    std::fs::copy(env!("CARGO_BIN_EXE_kspan"), &program).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        scratch.join("secret.dat"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&program)
        .args(["info", "secret.dat"])
        .current_dir(scratch.path())
        .output()
        .expect("setpriv runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "kspan: error: cannot read secret.dat: permission denied; read it as a user allowed to \
         (e.g. with sudo), or make it readable with chmod\n"
    );
}

/// A seeded pseudo-random sequence (splitmix64): the same flips on every run.
struct Flips(u64);

impl Flips {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `bytes` with 1 to 8 bits flipped, anywhere.
    fn damage(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut damaged = bytes.to_vec();
        for _ in 0..1 + self.next() % 8 {
            let bit = self.next() % (8 * damaged.len() as u64);
            damaged[(bit / 8) as usize] ^= 1 << (bit % 8);
        }
        damaged
    }
}

/// Reads every event of `bytes`, going on after damaged pages; returns the messages of
/// what failed (opening the file, or pages). Panics (failing the test) on a panic of the
/// reader or when it yields more than `most` results (a reader going round in circles).
fn read_damaged(bytes: Vec<u8>, most: u64) -> Vec<String> {
    let file = match TraceFile::from_bytes(bytes) {
        Ok(file) => file,
        Err(e) => return vec![e.to_string()],
    };
    let mut events = file.events();
    let mut errors = Vec::new();
    for _ in 0..most {
        match events.next_event() {
            Ok(Some(_)) => {}
            Ok(None) => return errors,
            Err(e) => errors.push(e.to_string()),
        }
    }
    panic!("more than {most} events or errors from a file of fewer");
}

#[test]
fn a_real_recording_with_random_bits_flipped_reads_or_fails_in_one_sentence() {
    let scratch = Scratch::new("torn-flips");
    for version in ["6", "7"] {
        let whole = record(scratch.path(), &format!("v{version}.dat"), version);
        let (total, _) = read(&whole).unwrap();
        let mut flips = Flips(u64::from(version == "7"));
        let (mut failed, mut read_through) = (0, 0);
        for case in 0..1500 {
            let damaged = flips.damage(&whole);
            // On a thread of its own, so that a reader that hangs fails the test.
            let (done, result) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = done.send(read_damaged(damaged, 4 * total + 1000));
            });
            let errors = result
                .recv_timeout(std::time::Duration::from_secs(20))
                .unwrap_or_else(|e| {
                    panic!("v{version} case {case}: the reader hangs or panicked ({e})")
                });
            for error in &errors {
                assert!(!error.contains('\n'), "v{version} case {case}: {error}");
                assert!(
                    error.ends_with(char::is_alphanumeric) || error.ends_with(')'),
                    "v{version} case {case}: not one sentence: {error}"
                );
            }
            failed += usize::from(!errors.is_empty());
            read_through += usize::from(errors.is_empty());
        }
        // Both outcomes happen: flips in the event data are caught, flips in padding and
        // unused bits read through.
        assert!(
            failed > 10 && read_through > 10,
            "v{version}: {failed} failed, {read_through} read"
        );
    }
}

/// Ends the traced loop of the in-progress test when dropped (also when the test fails):
/// the loop runs until this file exists.
struct StopFile(std::path::PathBuf);

impl Drop for StopFile {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, b"");
    }
}

/// The count after "events:" in `kspan info`'s output.
fn info_events(stdout: &str) -> u64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("events:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no event count in: {stdout}"))
}

#[test]
fn info_analyze_and_report_read_a_recording_in_progress_with_one_warning() {
    let scratch = Scratch::new("torn-live");
    let stop = StopFile(scratch.join("stop"));
    let looped = format!(
        "while [ ! -e {} ]; do cat /proc/version > /dev/null; sleep 0.01; done",
        stop.0.display()
    );
    let recorder = Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args([
            "record",
            "-o",
            "live.dat",
            "--payload-bytes",
            "0",
            "--duration",
            "60",
        ])
        .args(["--", "sh", "-c", &looped])
        .current_dir(scratch.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(scratch.join("record.err")).unwrap())
        .spawn()
        .expect("kspan runs");
    // SIGTERM on drop: the recorder stops as on Ctrl-C and writes its file.
    let mut recorder = kspan_testsupport::ChildGuard::terminate_on_drop(recorder);
    // Until the drainers have flushed some events (the file does not exist before the end).
    let start = std::time::Instant::now();
    let first = loop {
        let out = kspan(scratch.path(), &["info", "live.dat"]);
        let flushed = || info_events(&String::from_utf8_lossy(&out.stdout)) > 0;
        if (out.status.success() && flushed()) || start.elapsed().as_secs() > 20 {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let mut snapshot_events = 0;
    for (command, out) in [
        ("info", first),
        ("analyze", kspan(scratch.path(), &["analyze", "live.dat"])),
        (
            "report",
            kspan(scratch.path(), &["report", "live.dat", "-o", "live.html"]),
        ),
    ] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{command}: {stderr}");
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("is still being recorded"))
            .collect();
        assert_eq!(warnings.len(), 1, "{command}: {stderr}");
        assert!(
            warnings[0].starts_with("kspan: warning: live.dat"),
            "{stderr}"
        );
        assert!(!stderr.contains("error"), "{command}: {stderr}");
        if command == "info" {
            snapshot_events = info_events(&String::from_utf8_lossy(&out.stdout));
        }
    }
    let page = std::fs::read_to_string(scratch.join("live.html")).unwrap();
    assert!(
        page.contains("live.dat is still being recorded (by `kspan record` with pid "),
        "the report says it among the recording's caveats"
    );
    assert!(snapshot_events > 0);
    assert!(
        !scratch.join("live.dat").exists(),
        "still recording, and no file left behind by the reads: {:?}",
        scratch.file_names()
    );
    drop(stop);
    let status = recorder.wait().unwrap();
    assert!(status.success(), "the recording ends normally");
    let out = kspan(scratch.path(), &["info", "live.dat"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(info_events(&String::from_utf8_lossy(&out.stdout)) > snapshot_events);
}
