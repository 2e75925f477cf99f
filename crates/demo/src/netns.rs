//! Network namespaces: the per-host namespaces, the bridge namespace that connects them,
//! and running code or processes inside one.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{io_err, Error, Result};

/// Runs `ip ARGS…`, failing with its error output.
pub fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(io_err("run `ip` (apt-get install iproute2)"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Command {
        command: format!("ip {}", args.join(" ")),
        detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// The bind-mount of a named network namespace.
pub fn path(name: &str) -> PathBuf {
    Path::new("/run/netns").join(name)
}

/// True when the named network namespace exists.
pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// Opens the named network namespace (for `setns`).
pub fn open(name: &str) -> Result<File> {
    File::open(path(name)).map_err(io_err(format!("open network namespace {name}")))
}

/// Moves the calling thread into the network namespace `ns`.
pub fn enter(ns: &File) -> std::io::Result<()> {
    // SAFETY: setns only reads the fd, which `ns` keeps open; it changes the namespace of
    // the calling thread only.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a new thread inside network namespace `name` (sockets it creates live
/// there) and returns its result.
pub fn run_in<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
    let ns = open(name)?;
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(&ns).map_err(io_err(format!("enter network namespace {name}")))?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Creates a namespace `host_ns` with `ip/24` on its `eth0`, a veth whose other end
/// `bridge_port` is enslaved to `br0` in `bridge_ns`.
pub fn attach_host(bridge_ns: &str, host_ns: &str, bridge_port: &str, ip_cidr: &str) -> Result<()> {
    ip(&["netns", "add", host_ns])?;
    ip(&[
        "-n",
        bridge_ns,
        "link",
        "add",
        bridge_port,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        host_ns,
    ])?;
    ip(&[
        "-n",
        bridge_ns,
        "link",
        "set",
        bridge_port,
        "master",
        "br0",
        "up",
    ])?;
    ip(&["-n", host_ns, "addr", "add", ip_cidr, "dev", "eth0"])?;
    ip(&["-n", host_ns, "link", "set", "eth0", "up"])?;
    ip(&["-n", host_ns, "link", "set", "lo", "up"])
}

/// Creates the bridge namespace with an up `br0`.
pub fn create_bridge(bridge_ns: &str) -> Result<()> {
    ip(&["netns", "add", bridge_ns])?;
    ip(&["-n", bridge_ns, "link", "add", "br0", "type", "bridge"])?;
    ip(&["-n", bridge_ns, "link", "set", "br0", "up"])?;
    ip(&["-n", bridge_ns, "link", "set", "lo", "up"])
}

/// Deletes a network namespace if it exists (its veth ends go with it).
pub fn delete(name: &str) -> Result<()> {
    if exists(name) {
        ip(&["netns", "del", name])?;
    }
    Ok(())
}
