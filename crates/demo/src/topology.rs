//! The demo application's static shape: its hosts (one network namespace each), their
//! addresses, the design of each of our services and who calls whom.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::str::FromStr;
use std::time::Duration;

/// How one of our services is built (the concurrency design under test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Design {
    /// Thread per connection, blocking std I/O.
    Thread,
    /// An acceptor thread reads requests and queues them for a fixed pool of workers.
    Pool,
    /// One thread multiplexing every connection (tokio current-thread runtime).
    Epoll,
    /// A forked child process per accepted connection.
    Prefork,
    /// Multi-threaded tokio runtime with 2 workers.
    Tokio,
}

impl Design {
    /// Every design, in declaration order.
    pub const ALL: [Design; 5] = [
        Design::Thread,
        Design::Pool,
        Design::Epoll,
        Design::Prefork,
        Design::Tokio,
    ];

    /// The design's name as used on the command line and in the truth log.
    pub fn name(self) -> &'static str {
        match self {
            Design::Thread => "thread",
            Design::Pool => "pool",
            Design::Epoll => "epoll",
            Design::Prefork => "prefork",
            Design::Tokio => "tokio",
        }
    }
}

impl fmt::Display for Design {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Design {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Design::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                format!("unknown design {s:?}: use thread, pool, epoll, prefork or tokio")
            })
    }
}

/// What runs on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The load generator's namespace (nothing is started there).
    Client,
    /// nginx.
    Gateway,
    /// One of our services (`kspan-demo-svc`) with its design.
    Service(Design),
    /// redis-server.
    Redis,
    /// memcached.
    Memcached,
    /// PostgreSQL 15.
    Postgres,
}

/// One host of the application: a network namespace with one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// Service name (also the suffix of its netns and its cgroup name).
    pub name: &'static str,
    /// Last octet of its address in 10.77.0.0/24.
    pub octet: u8,
    /// The port it serves on (0 for the client).
    pub port: u16,
    /// What runs there.
    pub role: Role,
    /// The hosts it calls.
    pub downstreams: &'static [&'static str],
}

impl Host {
    /// Its IPv4 address.
    pub fn ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, 0, self.octet)
    }

    /// Its serving address.
    pub fn addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.ip(), self.port)
    }
}

/// The whole application. The gateway routes `/compose`, `/home-timeline`,
/// `/user-timeline` and `/follow` to the service of the same role.
pub const HOSTS: &[Host] = &[
    host("client", 2, 0, Role::Client, &[]),
    host(
        "gateway",
        10,
        80,
        Role::Gateway,
        &[
            "compose-post",
            "home-timeline",
            "user-timeline",
            "social-graph",
        ],
    ),
    host(
        "compose-post",
        11,
        8080,
        Role::Service(Design::Tokio),
        &["unique-id", "text", "user", "post-storage"],
    ),
    host("unique-id", 12, 8080, Role::Service(Design::Epoll), &[]),
    host(
        "text",
        13,
        8080,
        Role::Service(Design::Pool),
        &["url-shorten"],
    ),
    host("url-shorten", 14, 8080, Role::Service(Design::Prefork), &[]),
    host(
        "user",
        15,
        8080,
        Role::Service(Design::Thread),
        &["memcached"],
    ),
    host(
        "post-storage",
        16,
        8080,
        Role::Service(Design::Pool),
        &["postgres", "memcached"],
    ),
    host(
        "home-timeline",
        17,
        8080,
        Role::Service(Design::Prefork),
        &["redis", "post-storage"],
    ),
    host(
        "user-timeline",
        18,
        8080,
        Role::Service(Design::Thread),
        &["postgres", "post-storage"],
    ),
    host(
        "social-graph",
        19,
        8080,
        Role::Service(Design::Epoll),
        &["redis"],
    ),
    host("redis", 31, 6379, Role::Redis, &[]),
    host("memcached", 32, 11211, Role::Memcached, &[]),
    host("postgres", 33, 5432, Role::Postgres, &[]),
];

const fn host(
    name: &'static str,
    octet: u8,
    port: u16,
    role: Role,
    downstreams: &'static [&'static str],
) -> Host {
    Host {
        name,
        octet,
        port,
        role,
        downstreams,
    }
}

/// The host named `name`.
pub fn host_named(name: &str) -> Option<&'static Host> {
    HOSTS.iter().find(|h| h.name == name)
}

/// How long a caller waits for `target`'s reply: 1 s per level of the call tree below
/// and including it (a store or a leaf service: 1 s; compose-post: 3 s), so that a
/// timeout deep down comes back as an error response before any caller above times out.
/// Unknown names get 1 s.
pub fn reply_timeout(target: &str) -> Duration {
    fn height(name: &str) -> u64 {
        host_named(name).map_or(1, |h| {
            1 + h.downstreams.iter().map(|d| height(d)).max().unwrap_or(0)
        })
    }
    Duration::from_secs(height(target))
}

/// The gateway's endpoints and the service each is routed to.
pub const ROUTES: &[(&str, &str)] = &[
    ("/compose", "compose-post"),
    ("/home-timeline", "home-timeline"),
    ("/user-timeline", "user-timeline"),
    ("/follow", "social-graph"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_downstream_and_route_is_a_host_and_addresses_are_unique() {
        for h in HOSTS {
            for d in h.downstreams {
                assert!(host_named(d).is_some(), "{d}");
            }
        }
        for (_, svc) in ROUTES {
            assert!(host_named(svc).is_some());
        }
        let mut octets: Vec<u8> = HOSTS.iter().map(|h| h.octet).collect();
        octets.sort();
        octets.dedup();
        assert_eq!(octets.len(), HOSTS.len());
        let secs = |n| reply_timeout(n).as_secs();
        assert_eq!(
            (
                secs("redis"),
                secs("url-shorten"),
                secs("text"),
                secs("compose-post")
            ),
            (1, 1, 2, 3)
        );
        for d in Design::ALL {
            assert!(
                HOSTS.iter().any(|h| h.role == Role::Service(d)),
                "{d} unused"
            );
            assert_eq!(d.name().parse::<Design>(), Ok(d));
        }
    }
}
