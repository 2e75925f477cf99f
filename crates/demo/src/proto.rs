//! Wire protocols the services speak: message framing (where one message ends in a byte
//! stream), request encoding and reply checking for HTTP/1.1, Redis (RESP), memcached
//! (text protocol) and PostgreSQL (simple-query protocol).
//!
//! Only what the demo needs is implemented; framing is shared by the blocking and the async
//! transports in [`crate::wire`].

/// The protocol of a call, also its `proto` name in the ground-truth log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/1.1 with Content-Length bodies.
    Http,
    /// Redis RESP2.
    Redis,
    /// memcached text protocol.
    Memcached,
    /// PostgreSQL frontend/backend protocol v3, simple queries.
    Postgres,
}

impl Proto {
    /// The protocol's name in the ground-truth log.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Http => "http",
            Proto::Redis => "redis",
            Proto::Memcached => "memcached",
            Proto::Postgres => "postgres",
        }
    }

    /// Length of the first complete reply at the start of `buf`, or `None` while incomplete.
    pub fn reply_len(self, buf: &[u8]) -> Option<usize> {
        match self {
            Proto::Http => http_message_len(buf),
            Proto::Redis => resp_len(buf, 0),
            Proto::Memcached => memcached_len(buf),
            Proto::Postgres => pg_ready_len(buf),
        }
    }

    /// Bytes to send once on a new connection before the first request (the PostgreSQL
    /// startup message); its reply is framed like any other reply.
    pub fn handshake(self) -> Option<Vec<u8>> {
        (self == Proto::Postgres).then(|| pg_startup("postgres", "postgres"))
    }

    /// `Err(reason)` when a complete reply reports a failure.
    pub fn check_reply(self, reply: &[u8]) -> Result<(), String> {
        match self {
            Proto::Http => match http_status(reply) {
                Some(code) if (200..300).contains(&code) => Ok(()),
                Some(code) => Err(format!("HTTP status {code}")),
                None => Err("malformed HTTP response".into()),
            },
            Proto::Redis if reply.first() == Some(&b'-') => {
                Err(format!("redis: {}", first_line(&reply[1..])))
            }
            Proto::Memcached
                if [&b"ERROR"[..], b"CLIENT_ERROR", b"SERVER_ERROR"]
                    .iter()
                    .any(|p| reply.starts_with(p)) =>
            {
                Err(format!("memcached: {}", first_line(reply)))
            }
            Proto::Postgres => pg_error(reply).map_or(Ok(()), |m| Err(format!("postgres: {m}"))),
            _ => Ok(()),
        }
    }
}

fn first_line(buf: &[u8]) -> String {
    let end = find(buf, b"\r\n", 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn find(buf: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn parse_int(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// Length of one HTTP/1.1 request or response (head plus Content-Length body).
pub fn http_message_len(buf: &[u8]) -> Option<usize> {
    let head_end = find(buf, b"\r\n\r\n", 0)? + 4;
    let body = header(&buf[..head_end], "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    (buf.len() >= head_end + body).then_some(head_end + body)
}

/// The value of header `name` (lower case) in an HTTP head, trimmed.
pub fn header<'a>(head: &'a [u8], name: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(head).ok()?;
    text.split("\r\n").skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn http_status(reply: &[u8]) -> Option<u16> {
    let line = first_line(reply);
    line.split(' ').nth(1)?.parse().ok()
}

/// One parsed HTTP request as a service sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// The request method (`GET`, `POST`).
    pub method: String,
    /// Request path without the query string.
    pub path: String,
    /// The `X-Request-Id` header, empty when absent.
    pub rid: String,
    /// True when the client asked to close the connection after the response.
    pub close: bool,
}

impl HttpRequest {
    /// Parses a complete request as framed by [`http_message_len`].
    pub fn parse(raw: &[u8]) -> Option<HttpRequest> {
        let line = first_line(raw);
        let mut parts = line.split(' ');
        let method = parts.next()?.to_string();
        let target = parts.next()?;
        let path = target.split('?').next().unwrap_or(target).to_string();
        let rid = header(raw, "x-request-id").unwrap_or("").to_string();
        let close = header(raw, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        Some(HttpRequest {
            method,
            path,
            rid,
            close,
        })
    }
}

/// Encodes an HTTP/1.1 request carrying the request id.
pub fn http_request(method: &str, host: &str, path: &str, rid: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nX-Request-Id: {rid}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Encodes an HTTP/1.1 response, head and body in one buffer (written with one write).
pub fn http_response(code: u16, body: &str) -> Vec<u8> {
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        502 => "Bad Gateway",
        504 => "Gateway Timeout",
        _ => "Error",
    };
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Encodes a Redis command as a RESP array of bulk strings.
pub fn redis_command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len());
    for arg in args {
        out.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    out.into_bytes()
}

/// End of the RESP value starting at `pos`.
fn resp_len(buf: &[u8], pos: usize) -> Option<usize> {
    let line_end = find(buf, b"\r\n", pos)?;
    let after = line_end + 2;
    match buf.get(pos)? {
        b'+' | b'-' | b':' => Some(after),
        b'$' => {
            let n = parse_int(&buf[pos + 1..line_end])?;
            let end = if n < 0 { after } else { after + n as usize + 2 };
            (buf.len() >= end).then_some(end)
        }
        b'*' => {
            let n = parse_int(&buf[pos + 1..line_end])?;
            (0..n.max(0)).try_fold(after, |at, _| resp_len(buf, at))
        }
        _ => Some(after),
    }
}

/// End of one memcached reply: `VALUE` blocks up to a terminal line (`END`, `STORED`, …).
fn memcached_len(buf: &[u8]) -> Option<usize> {
    let mut pos = 0;
    loop {
        let line_end = find(buf, b"\r\n", pos)?;
        let line = &buf[pos..line_end];
        if !line.starts_with(b"VALUE ") {
            return Some(line_end + 2);
        }
        let bytes = line.split(|&b| b == b' ').nth(3).and_then(parse_int)? as usize;
        pos = line_end + 2 + bytes + 2;
        if buf.len() < pos {
            return None;
        }
    }
}

/// Encodes a PostgreSQL v3 startup message.
fn pg_startup(user: &str, database: &str) -> Vec<u8> {
    let mut body = 196_608i32.to_be_bytes().to_vec();
    for s in ["user", user, "database", database] {
        body.extend_from_slice(s.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

/// Encodes a PostgreSQL simple query (`Q` message).
pub fn pg_query(sql: &str) -> Vec<u8> {
    let mut out = vec![b'Q'];
    out.extend_from_slice(&((sql.len() + 5) as i32).to_be_bytes());
    out.extend_from_slice(sql.as_bytes());
    out.push(0);
    out
}

/// Iterates over the (type, end) of complete backend messages at the start of `buf`.
fn pg_messages(buf: &[u8]) -> impl Iterator<Item = (u8, usize)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let header = buf.get(pos..pos + 5)?;
        let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let end = pos + 1 + usize::try_from(len).ok()?;
        if buf.len() < end {
            return None;
        }
        pos = end;
        Some((header[0], end))
    })
}

/// End of the backend messages up to and including `ReadyForQuery` (`Z`).
fn pg_ready_len(buf: &[u8]) -> Option<usize> {
    pg_messages(buf)
        .find(|&(kind, _)| kind == b'Z')
        .map(|(_, end)| end)
}

/// The message (`M` field) of the first `ErrorResponse` in a reply, if any.
fn pg_error(reply: &[u8]) -> Option<String> {
    let mut start = 0;
    for (kind, end) in pg_messages(reply) {
        if kind == b'E' {
            let fields = &reply[start + 5..end];
            let message = fields
                .split(|&b| b == 0)
                .find_map(|f| f.strip_prefix(b"M"))
                .unwrap_or(b"error");
            return Some(String::from_utf8_lossy(message).into_owned());
        }
        start = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_framing_waits_for_the_whole_body() {
        let msg = http_response(200, "{\"a\":1}");
        assert_eq!(http_message_len(&msg[..msg.len() - 1]), None);
        let mut two = msg.clone();
        two.extend_from_slice(&msg);
        assert_eq!(http_message_len(&two), Some(msg.len()));
        assert_eq!(Proto::Http.check_reply(&msg), Ok(()));
        assert_eq!(
            Proto::Http.check_reply(&http_response(502, "")),
            Err("HTTP status 502".to_string())
        );
    }

    #[test]
    fn http_request_parses_path_rid_and_close() {
        let raw = b"GET /follow?x=1 HTTP/1.1\r\nx-request-id: r-7\r\nConnection: close\r\n\r\n";
        let req = HttpRequest::parse(raw).unwrap();
        assert_eq!(
            req,
            HttpRequest {
                method: "GET".into(),
                path: "/follow".into(),
                rid: "r-7".into(),
                close: true
            }
        );
    }

    #[test]
    fn resp_framing_handles_nested_arrays_and_errors() {
        let arr = b"*2\r\n$3\r\nabc\r\n*1\r\n:5\r\n+OK\r\n";
        assert_eq!(Proto::Redis.reply_len(arr), Some(arr.len() - 5));
        assert_eq!(Proto::Redis.reply_len(&arr[..10]), None);
        assert_eq!(
            Proto::Redis.check_reply(b"-ERR bad\r\n"),
            Err("redis: ERR bad".into())
        );
    }

    #[test]
    fn memcached_framing_skips_value_blocks() {
        let reply = b"VALUE k 0 5\r\nEND\r\n\r\nEND\r\n";
        assert_eq!(Proto::Memcached.reply_len(reply), Some(reply.len()));
        assert_eq!(Proto::Memcached.reply_len(b"STORED\r\n"), Some(8));
        assert_eq!(Proto::Memcached.reply_len(b"VALUE k 0 5\r\nEND"), None);
    }

    #[test]
    fn postgres_framing_ends_at_ready_for_query() {
        let mut reply = vec![b'C', 0, 0, 0, 11];
        reply.extend_from_slice(b"SELECT\0");
        let z = [b'Z', 0, 0, 0, 5, b'I'];
        assert_eq!(Proto::Postgres.reply_len(&reply), None);
        reply.extend_from_slice(&z);
        assert_eq!(Proto::Postgres.reply_len(&reply), Some(reply.len()));
        assert_eq!(Proto::Postgres.check_reply(&reply), Ok(()));
        assert_eq!(pg_query("SELECT 1")[1..5], 13i32.to_be_bytes());
        let mut failed = vec![b'E', 0, 0, 0, 22];
        failed.extend_from_slice(b"SERROR\0Mno table\0\0");
        failed.extend_from_slice(&z);
        assert_eq!(Proto::Postgres.reply_len(&failed), Some(failed.len()));
        assert_eq!(
            Proto::Postgres.check_reply(&failed),
            Err("postgres: no table".into())
        );
    }
}
