//! The world at the start of a recording: traced processes and threads, their network
//! namespaces (name, addresses) and the TCP sockets that already existed there, so the
//! analysis can attribute connections opened before the recording began.

use crate::procfs;
use crate::sockdiag;
use crate::tracefs::{read_text, write_text};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

/// Where the kernel decides whether `%pK` prints raw pointers (1: raw for root).
const KPTR_RESTRICT: &str = "/proc/sys/kernel/kptr_restrict";

/// The start-of-recording snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorldSnapshot {
    /// Traced processes with their threads.
    pub processes: Vec<ProcessInfo>,
    /// The network namespaces of the traced processes.
    pub netns: Vec<NetnsInfo>,
    /// TCP sockets of those namespaces (IPv4 and IPv6).
    pub sockets: Vec<TcpSocket>,
}

/// One traced process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Process id (tgid).
    pub pid: i32,
    /// Process comm.
    pub comm: String,
    /// Command line.
    pub cmdline: Vec<String>,
    /// cgroup v2 path.
    pub cgroup: String,
    /// Inode of its network namespace (0 when unreadable).
    pub netns_inode: u64,
    /// Its threads.
    pub threads: Vec<ThreadInfo>,
}

/// One thread of a traced process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadInfo {
    /// Thread id.
    pub tid: i32,
    /// Thread comm.
    pub comm: String,
}

/// One network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsInfo {
    /// Namespace inode.
    pub inode: u64,
    /// Its `ip netns` name, if it has one.
    pub name: Option<String>,
    /// Local IP addresses configured inside it.
    pub addresses: Vec<IpAddr>,
}

/// One TCP socket as /proc/net/tcp{,6} showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpSocket {
    /// Inode of the namespace it lives in.
    pub netns_inode: u64,
    /// Local address.
    pub local: SocketAddr,
    /// Remote address.
    pub remote: SocketAddr,
    /// TCP state number (1 = ESTABLISHED, 10 = LISTEN, as in `inet_sock_set_state`).
    pub state: u8,
    /// Bytes sent and not yet acknowledged (LISTEN: accept backlog).
    pub tx_queue: u64,
    /// Bytes received and not yet read by the application.
    pub rx_queue: u64,
    /// Socket inode (0 for sockets without a file, e.g. TIME_WAIT).
    pub inode: u64,
    /// Traced processes holding the socket open.
    pub owner_pids: Vec<i32>,
    /// The local port is a listening port of the namespace: this end was accepted.
    pub server_side: bool,
    /// Kernel `struct sock *` (the `sk` of sock events) when raw pointers were readable.
    pub sk: Option<u64>,
    /// Socket cookie (`sock_cookie` of tcp events) from sock_diag, when it answered.
    pub cookie: Option<u64>,
}

/// Takes the snapshot of `pids` (thread-group ids) and of their namespaces' sockets.
pub fn snapshot(pids: &[i32]) -> WorldSnapshot {
    let processes: Vec<ProcessInfo> = pids.iter().filter_map(|&p| process_info(p)).collect();
    let names = procfs::named_netns();
    // One live process per namespace, to read /proc/<pid>/net/* inside it.
    let mut reader_of: BTreeMap<u64, i32> = BTreeMap::new();
    for p in &processes {
        reader_of.entry(p.netns_inode).or_insert(p.pid);
    }
    let raw_pointers = RawPointers::enable();
    let mut netns = Vec::new();
    let mut sockets = Vec::new();
    for (&inode, &pid) in &reader_of {
        netns.push(NetnsInfo {
            inode,
            name: names
                .iter()
                .find(|(_, i)| *i == inode)
                .map(|(n, _)| n.clone()),
            addresses: addresses(pid),
        });
        let owners: Vec<(i32, Vec<u64>)> = processes
            .iter()
            .filter(|p| p.netns_inode == inode)
            .map(|p| (p.pid, procfs::socket_inodes(p.pid)))
            .collect();
        sockets.extend(tcp_sockets(pid, inode, raw_pointers.active, &owners));
    }
    WorldSnapshot {
        processes,
        netns,
        sockets,
    }
}

impl WorldSnapshot {
    /// Describes a started command by what it is once it has `exec`ed: it is still waiting
    /// at its gate when the snapshot is taken, with the recorder's name. Its comm is what
    /// the kernel will set (the program's base name, at most 15 bytes), its command line
    /// `argv`, and it has one thread.
    pub fn describe_command(&mut self, pid: i32, argv: &[String]) {
        let Some(process) = self.processes.iter_mut().find(|p| p.pid == pid) else {
            return;
        };
        let program = argv.first().map(String::as_str).unwrap_or_default();
        let base = program.rsplit('/').next().unwrap_or(program);
        let mut end = base.len().min(15);
        while !base.is_char_boundary(end) {
            end -= 1;
        }
        process.comm = base[..end].to_string();
        process.cmdline = argv.to_vec();
        process.threads = vec![ThreadInfo {
            tid: pid,
            comm: process.comm.clone(),
        }];
    }
}

fn process_info(pid: i32) -> Option<ProcessInfo> {
    let base = format!("/proc/{pid}");
    if !Path::new(&base).exists() {
        return None;
    }
    let threads = procfs::threads(pid)
        .into_iter()
        .map(|tid| ThreadInfo {
            tid,
            comm: procfs::comm(&format!("{base}/task/{tid}")),
        })
        .collect();
    Some(ProcessInfo {
        pid,
        comm: procfs::comm(&base),
        cmdline: procfs::cmdline(pid),
        cgroup: procfs::cgroup(pid),
        netns_inode: procfs::netns_inode(pid).unwrap_or(0),
        threads,
    })
}

/// Sets `kptr_restrict` to 1 (raw `%pK` pointers for root) while alive, then restores it.
struct RawPointers {
    previous: Option<String>,
    active: bool,
}

impl RawPointers {
    fn enable() -> RawPointers {
        let path = Path::new(KPTR_RESTRICT);
        let previous = read_text(path).ok().map(|s| s.trim().to_string());
        let active = match previous.as_deref() {
            Some("1") => true,
            Some(_) => write_text(path, "1").is_ok(),
            None => false,
        };
        RawPointers { previous, active }
    }
}

impl Drop for RawPointers {
    fn drop(&mut self) {
        if let Some(prev) = self.previous.as_deref().filter(|p| *p != "1") {
            let _ = write_text(Path::new(KPTR_RESTRICT), prev);
        }
    }
}

/// The namespace's local addresses: IPv4 from `fib_trie` (`/32 host LOCAL` entries),
/// IPv6 from `if_inet6`.
fn addresses(pid: i32) -> Vec<IpAddr> {
    let mut found = BTreeSet::new();
    let trie = fs::read_to_string(format!("/proc/{pid}/net/fib_trie")).unwrap_or_default();
    let mut last: Option<Ipv4Addr> = None;
    for line in trie.lines() {
        let line = line.trim();
        if let Some(addr) = line.strip_prefix("|-- ") {
            last = addr.parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(a) = last {
                found.insert(IpAddr::V4(a));
            }
        }
    }
    let inet6 = fs::read_to_string(format!("/proc/{pid}/net/if_inet6")).unwrap_or_default();
    for line in inet6.lines() {
        if let Some(bytes) = line.split_whitespace().next().and_then(hex_bytes_be) {
            found.insert(IpAddr::V6(Ipv6Addr::from(bytes)));
        }
    }
    found.into_iter().collect()
}

/// 32 hex digits as 16 bytes, in order.
fn hex_bytes_be(hex: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    if hex.len() != 32 {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Reads /proc/<pid>/net/tcp and tcp6 (the namespace of `pid`).
fn tcp_sockets(
    pid: i32,
    netns_inode: u64,
    raw_pointers: bool,
    owners: &[(i32, Vec<u64>)],
) -> Vec<TcpSocket> {
    let mut sockets: Vec<TcpSocket> = ["tcp", "tcp6"]
        .iter()
        .flat_map(|f| {
            fs::read_to_string(format!("/proc/{pid}/net/{f}"))
                .unwrap_or_default()
                .lines()
                .skip(1)
                .filter_map(|l| parse_tcp_line(l, netns_inode, raw_pointers))
                .collect::<Vec<_>>()
        })
        .collect();
    let cookies = sockdiag::tcp_cookies(pid).unwrap_or_default();
    let listening: BTreeSet<u16> = sockets
        .iter()
        .filter(|s| s.state == 10)
        .map(|s| s.local.port())
        .collect();
    for s in &mut sockets {
        s.server_side = s.state != 10 && listening.contains(&s.local.port());
        s.cookie = cookies.get(&(s.local, s.remote)).copied();
        if s.inode != 0 {
            s.owner_pids = owners
                .iter()
                .filter(|(_, inodes)| inodes.contains(&s.inode))
                .map(|(p, _)| *p)
                .collect();
        }
    }
    sockets
}

/// Parses one line of /proc/net/tcp{,6}.
fn parse_tcp_line(line: &str, netns_inode: u64, raw_pointers: bool) -> Option<TcpSocket> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let (tx, rx) = f.get(4)?.split_once(':')?;
    let sk = u64::from_str_radix(f.get(11)?, 16)
        .ok()
        .filter(|&p| raw_pointers && p != 0);
    Some(TcpSocket {
        netns_inode,
        local: parse_addr(f.get(1)?)?,
        remote: parse_addr(f.get(2)?)?,
        state: u8::from_str_radix(f.get(3)?, 16).ok()?,
        tx_queue: u64::from_str_radix(tx, 16).ok()?,
        rx_queue: u64::from_str_radix(rx, 16).ok()?,
        inode: f.get(9)?.parse().ok()?,
        owner_pids: Vec::new(),
        server_side: false,
        sk,
        cookie: None,
    })
}

/// Parses `ADDR:PORT` as printed by /proc/net/tcp: the address as native-endian 32-bit
/// words in hex, the port as a hex number.
fn parse_addr(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = Vec::with_capacity(16);
    for i in (0..addr.len()).step_by(8) {
        let word = u32::from_str_radix(addr.get(i..i + 8)?, 16).ok()?;
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_lines_are_parsed() {
        let line = "   1: 0100000A:1F90 0200000A:D431 01 00000010:00000020 00:00000000 00000000     0        0 4242 1 ffff8a0c12345678 20 4 30 10 -1";
        let s = parse_tcp_line(line, 7, true).unwrap();
        assert_eq!(s.local, "10.0.0.1:8080".parse().unwrap());
        assert_eq!(s.remote, "10.0.0.2:54321".parse().unwrap());
        assert_eq!(
            (s.state, s.tx_queue, s.rx_queue, s.inode),
            (1, 16, 32, 4242)
        );
        assert_eq!(s.sk, Some(0xffff8a0c12345678));
        assert_eq!(parse_tcp_line(line, 7, false).unwrap().sk, None);
    }

    #[test]
    fn a_gated_command_is_described_as_the_kernel_will_name_it() {
        let mut world = WorldSnapshot {
            processes: vec![ProcessInfo {
                pid: 9,
                comm: "kspan".into(),
                ..ProcessInfo::default()
            }],
            ..WorldSnapshot::default()
        };
        let argv = [
            "/usr/bin/a-very-long-program-name".to_string(),
            "-x".to_string(),
        ];
        world.describe_command(9, &argv);
        let p = &world.processes[0];
        assert_eq!(p.comm, "a-very-long-pro");
        assert_eq!(p.cmdline, argv);
        assert_eq!(
            p.threads,
            vec![ThreadInfo {
                tid: 9,
                comm: "a-very-long-pro".into()
            }]
        );
    }

    #[test]
    fn ipv6_addresses_are_parsed() {
        let a = parse_addr("0000000000000000FFFF00000100007F:0050").unwrap();
        assert_eq!(a, "[::ffff:127.0.0.1]:80".parse().unwrap());
    }
}
