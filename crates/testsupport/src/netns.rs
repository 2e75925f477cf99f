//! A private network namespace.

use std::ffi::OsStr;
use std::process::Command;

use crate::command::ip;
use crate::unique_name;

/// A network namespace of one test (`ip netns add`), with only `lo`, up; deleted (with any
/// veth ends moved into it) when dropped.
///
/// Why: live tests need traffic that nothing else on the machine makes (exact byte counts,
/// fixed ports, addresses of their own), and a namespace filter that finds only their own
/// processes. The name is [`unique_name`], so parallel tests never share one.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `kspan-test-<tag>-<pid>-<n>` and brings its `lo` up; panics if `ip` fails
    /// (a namespace already made is deleted again by the guard as the panic unwinds).
    pub fn new(tag: &str) -> Netns {
        let name = unique_name(tag);
        // A namespace of this name can only be a leftover of a killed earlier run with the
        // same pid; take it over.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let netns = Netns { name };
        ip(&["-n", &netns.name, "link", "set", "lo", "up"]);
        netns
    }

    /// The namespace's `ip netns` name (what `--netns` and `/run/netns/<name>` use).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command running `program` inside the namespace (`ip netns exec <name> program`;
    /// `ip` execs the program, so the child's pid is the program's). Add its arguments.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// `cmd` (program, arguments, environment changes and working directory) run inside the
    /// namespace instead, as [`Netns::command`] does.
    pub fn wrap(&self, cmd: &Command) -> Command {
        let mut wrapped = self.command(cmd.get_program());
        wrapped.args(cmd.get_args());
        for (key, value) in cmd.get_envs() {
            match value {
                Some(value) => wrapped.env(key, value),
                None => wrapped.env_remove(key),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            wrapped.current_dir(dir);
        }
        wrapped
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
