//! A recording's metadata (`kspan record`'s world snapshot) → the engine's [`World`].

use kspan_capture::meta::RecordingMeta;
use kspan_capture::world::{NetnsInfo, ProcessInfo};
use kspan_engine::{FourTuple, SocketInfo, ThreadInfo, World};
use std::net::{SocketAddr, SocketAddrV6};

/// cgroup leaf names that say nothing about the service (systemd's and the root).
fn meaningful_cgroup_leaf(cgroup: &str) -> Option<&str> {
    let leaf = cgroup
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    let leaf = leaf.strip_suffix(".service").unwrap_or(leaf);
    let generic =
        leaf.is_empty() || leaf.ends_with(".scope") || leaf.ends_with(".slice") || leaf == "init";
    (!generic).then_some(leaf)
}

/// The service a process belongs to: its cgroup's name when it has its own cgroup, else the
/// name of its network namespace when that has one (`ip netns`), else its command name.
pub fn service_name(process: &ProcessInfo, netns: &[NetnsInfo]) -> String {
    if let Some(leaf) = meaningful_cgroup_leaf(&process.cgroup) {
        return leaf.to_string();
    }
    netns
        .iter()
        .find(|n| n.inode == process.netns_inode && process.netns_inode != 0)
        .and_then(|n| n.name.clone())
        .unwrap_or_else(|| process.comm.clone())
}

fn v6(addr: SocketAddr) -> SocketAddrV6 {
    match addr {
        SocketAddr::V4(a) => SocketAddrV6::new(a.ip().to_ipv6_mapped(), a.port(), 0, 0),
        SocketAddr::V6(a) => a,
    }
}

/// The engine's world at the start of the recording described by `meta`.
pub fn world_from_meta(meta: &RecordingMeta) -> World {
    let snapshot = &meta.world;
    let mut threads = Vec::new();
    for process in &snapshot.processes {
        let service = service_name(process, &snapshot.netns);
        for thread in &process.threads {
            threads.push(ThreadInfo {
                tid: thread.tid,
                tgid: process.pid,
                comm: thread.comm.clone(),
                service: service.clone(),
            });
        }
    }
    let sockets = snapshot
        .sockets
        .iter()
        .map(|s| SocketInfo {
            sk: s.sk,
            cookie: s.cookie,
            tuple: FourTuple {
                local: v6(s.local),
                remote: v6(s.remote),
            },
            state: i32::from(s.state),
            server_side: s.server_side,
            send_queue: s.tx_queue,
            recv_queue: s.rx_queue,
        })
        .collect();
    World {
        threads,
        sockets,
        clock_to_unix_ns: meta.clock_to_unix_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(cgroup: &str, netns_inode: u64) -> ProcessInfo {
        ProcessInfo {
            pid: 7,
            comm: "server".into(),
            cgroup: cgroup.into(),
            netns_inode,
            ..Default::default()
        }
    }

    #[test]
    fn service_names_come_from_cgroup_then_netns_then_comm() {
        let netns = vec![NetnsInfo {
            inode: 5,
            name: Some("web".into()),
            addresses: vec![],
        }];
        assert_eq!(
            service_name(&process("/kspan-demo/user", 5), &netns),
            "user"
        );
        assert_eq!(
            service_name(&process("/system.slice/nginx.service", 5), &netns),
            "nginx"
        );
        assert_eq!(service_name(&process("/", 5), &netns), "web");
        assert_eq!(
            service_name(&process("/user.slice/session-1.scope", 6), &netns),
            "server"
        );
    }
}
