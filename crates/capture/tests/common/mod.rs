//! Shared helpers of the live tests: re-executing this test binary in a role, a pair of
//! network namespaces joined by a veth link (of `kspan-testsupport`'s [`Netns`]), and the
//! state of the global ftrace buffer.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use kspan_testsupport::ip;
pub use kspan_testsupport::{Netns, Scratch};

/// Environment variable telling a re-executed test binary which role to play.
pub const ROLE_ENV: &str = "KSPAN_CAPTURE_ROLE";
/// Prefix of the lines a role prints for its parent (libtest prints its own lines too).
pub const LINE_PREFIX: &str = "KSPAN:";

/// A command re-running this test binary's `role_entry` test with `role` in the env.
pub fn role_command(role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "role_entry",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(ROLE_ENV, role);
    cmd
}

/// Reads lines until one with [`LINE_PREFIX`] and returns what follows the prefix.
pub fn next_line(out: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "role ended without reporting"
        );
        if let Some(rest) = line.trim_end().strip_prefix(LINE_PREFIX) {
            return rest.to_string();
        }
    }
}

/// Starts `cmd` with piped stdin/stdout.
pub fn spawn_piped(mut cmd: Command) -> (Child, BufReader<ChildStdout>) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

/// Two network namespaces, `server` (10.77.0.1) and `client` (10.77.0.2), joined by a veth
/// pair; deleted on drop (the veth ends go with them).
pub struct NetnsPair {
    pub server: Netns,
    pub client: Netns,
}

impl NetnsPair {
    pub fn create(tag: &str) -> NetnsPair {
        let pair = NetnsPair {
            server: Netns::new(&format!("{tag}-s")),
            client: Netns::new(&format!("{tag}-c")),
        };
        let (vs, vc) = (
            format!("kc{}s", std::process::id()),
            format!("kc{}c", std::process::id()),
        );
        ip(&["link", "add", &vs, "type", "veth", "peer", "name", &vc]);
        ip(&["link", "set", &vs, "netns", pair.server.name()]);
        ip(&["link", "set", &vc, "netns", pair.client.name()]);
        for (ns, dev, addr) in [
            (&pair.server, &vs, "10.77.0.1/24"),
            (&pair.client, &vc, "10.77.0.2/24"),
        ] {
            ip(&["-n", ns.name(), "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns.name(), "link", "set", dev, "up"]);
        }
        pair
    }
}

/// The global buffer's settings a recording must leave untouched.
pub fn global_tracing_state() -> Vec<(String, String)> {
    [
        "tracing_on",
        "current_tracer",
        "set_event",
        "trace_clock",
        "buffer_size_kb",
        "set_event_pid",
    ]
    .iter()
    .map(|f| {
        let text = std::fs::read_to_string(Path::new("/sys/kernel/tracing").join(f)).unwrap();
        (f.to_string(), text)
    })
    .collect()
}

/// Names of the kspan instances of process `pid`.
pub fn instances_of(pid: u32) -> Vec<String> {
    kspan_testsupport::kspan_instances_of(pid)
}
