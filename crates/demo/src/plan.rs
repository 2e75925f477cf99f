//! The calls each of our services makes for each endpoint: stages run one after the
//! other, the calls within a stage in parallel (async designs) or in order (blocking
//! designs). The same table gives the exact call set the accuracy tests expect.

use crate::proto::{self, Proto};
use crate::truth::Operation;

/// One downstream call to make for a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Target host name (a service or a store).
    pub target: &'static str,
    /// Its protocol.
    pub proto: Proto,
    /// The complete request bytes.
    pub request: Vec<u8>,
    /// What the request asks for, for the truth log.
    pub operation: Operation,
}

/// A small number derived from the request id, so that requests touch varied keys.
fn key_of(rid: &str) -> u64 {
    rid.bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 1000
}

fn http(target: &'static str, method: &str, path: &str, rid: &str, body: &str) -> Call {
    let request = proto::http_request(method, target, path, rid, body);
    Call {
        target,
        proto: Proto::Http,
        request,
        operation: Operation {
            method: Some(method.to_string()),
            path: Some(path.to_string()),
            ..Operation::default()
        },
    }
}

/// A memcached or Redis call of `command`.
fn store(target: &'static str, proto: Proto, command: &str, request: Vec<u8>) -> Call {
    Call {
        target,
        proto,
        request,
        operation: Operation {
            command: Some(command.to_string()),
            ..Operation::default()
        },
    }
}

/// The Redis command `command args…`.
fn redis(command: &str, args: &[&str]) -> Call {
    let words: Vec<&str> = std::iter::once(command)
        .chain(args.iter().copied())
        .collect();
    store("redis", Proto::Redis, command, proto::redis_command(&words))
}

/// The memcached text command `command rest` (`rest` ends the line, and holds any data
/// block).
fn memcached(command: &str, rest: &str) -> Call {
    let request = format!("{command} {rest}").into_bytes();
    store("memcached", Proto::Memcached, command, request)
}

fn postgres(sql: &str) -> Call {
    Call {
        target: "postgres",
        proto: Proto::Postgres,
        request: proto::pg_query(sql),
        operation: Operation {
            query: Some(sql.to_string()),
            ..Operation::default()
        },
    }
}

/// The stages of calls `service` makes for a request to `endpoint` with id `rid`, or
/// `None` when the service does not serve that endpoint.
pub fn plan(service: &str, endpoint: &str, rid: &str) -> Option<Vec<Vec<Call>>> {
    let k = key_of(rid);
    let user = k % 50;
    let stages = match (service, endpoint) {
        ("compose-post", "/compose") => vec![
            vec![
                http("unique-id", "GET", "/unique-id", rid, ""),
                http(
                    "text",
                    "POST",
                    "/text",
                    rid,
                    &format!("{{\"text\":\"post {k} http://x/{k}\"}}"),
                ),
                http("user", "GET", "/user", rid, ""),
            ],
            vec![http(
                "post-storage",
                "POST",
                "/store",
                rid,
                &format!("{{\"author\":{user}}}"),
            )],
        ],
        ("unique-id", "/unique-id") | ("url-shorten", "/shorten") => vec![],
        ("text", "/text") => vec![vec![http(
            "url-shorten",
            "POST",
            "/shorten",
            rid,
            "{\"url\":\"http://x\"}",
        )]],
        ("user", "/user") => vec![vec![memcached("get", &format!("user:{user}\r\n"))]],
        ("post-storage", "/store") => vec![
            vec![postgres(&format!(
                "INSERT INTO posts (author, body) VALUES ({user}, 'post {k}')"
            ))],
            vec![memcached(
                "set",
                &format!("post:{k} 0 60 8\r\npost-{k:03}\r\n"),
            )],
        ],
        ("post-storage", "/read") => vec![
            vec![memcached("get", &format!("post:{k}\r\n"))],
            vec![postgres(&format!(
                "SELECT id, body FROM posts WHERE author = {user} ORDER BY id DESC LIMIT 5"
            ))],
        ],
        ("home-timeline", "/home-timeline") => vec![
            vec![redis("LRANGE", &[&format!("timeline:{user}"), "0", "9"])],
            vec![http("post-storage", "GET", "/read", rid, "")],
        ],
        ("user-timeline", "/user-timeline") => vec![
            vec![postgres(&format!(
                "SELECT count(*) FROM posts WHERE author = {user}"
            ))],
            vec![http("post-storage", "GET", "/read", rid, "")],
        ],
        ("social-graph", "/follow") => vec![
            vec![redis(
                "SADD",
                &[&format!("followers:{user}"), &(k % 37).to_string()],
            )],
            vec![redis("SCARD", &[&format!("followers:{user}")])],
        ],
        _ => return None,
    };
    Some(stages)
}

/// The targets `service` calls for `endpoint`, in plan order (calls of one stage in
/// their listed order), or `None` when it does not serve that endpoint.
pub fn expected_targets(service: &str, endpoint: &str) -> Option<Vec<&'static str>> {
    let stages = plan(service, endpoint, "r-000000")?;
    Some(stages.iter().flatten().map(|c| c.target).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_fans_out_then_stores() {
        assert_eq!(
            expected_targets("compose-post", "/compose"),
            Some(vec!["unique-id", "text", "user", "post-storage"])
        );
        assert_eq!(expected_targets("gateway", "/compose"), None);
        let stages = plan("compose-post", "/compose", "r-1").unwrap();
        assert_eq!(stages.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 1]);
        assert_eq!(stages[1][0].operation.path.as_deref(), Some("/store"));
        assert_eq!(stages[1][0].operation.method.as_deref(), Some("POST"));
    }

    #[test]
    fn store_calls_say_their_command_and_send_it() {
        let stages = plan("post-storage", "/store", "r-1").unwrap();
        let (insert, set) = (&stages[0][0], &stages[1][0]);
        let sql = insert.operation.query.as_deref().unwrap();
        assert!(sql.starts_with("INSERT INTO posts"), "{sql}");
        assert_eq!(insert.request, proto::pg_query(sql));
        assert_eq!(set.operation.command.as_deref(), Some("set"));
        assert!(set.request.starts_with(b"set post:"));
        let stages = plan("social-graph", "/follow", "r-1").unwrap();
        let scard = &stages[1][0];
        assert_eq!(scard.operation.command.as_deref(), Some("SCARD"));
        assert!(scard.request.starts_with(b"*2\r\n$5\r\nSCARD\r\n"));
    }
}
