//! HTTP/1.x request and status lines. A request line cut short by the head's length (no
//! version yet) is still a request when its method is a standard one and its target an
//! absolute path.

use crate::message::Message;

/// The standard methods (RFC 9110, and PATCH).
const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// The first line of `head`, and whether it ended (CRLF or LF seen).
fn first_line(head: &[u8]) -> (&[u8], bool) {
    match head.iter().position(|&b| b == b'\n') {
        Some(end) => (
            head[..end].strip_suffix(b"\r").unwrap_or(&head[..end]),
            true,
        ),
        None => (head, false),
    }
}

/// The path of a request target: origin form (`/a?b`) or absolute form
/// (`http://host/a?b`), without query string and fragment.
fn target_path(target: &[u8]) -> Option<String> {
    let target = match target.iter().position(|&b| b == b'?' || b == b'#') {
        Some(end) => &target[..end],
        None => target,
    };
    let path = if target.starts_with(b"/") {
        target
    } else {
        let rest = target
            .strip_prefix(b"http://")
            .or_else(|| target.strip_prefix(b"https://"))?;
        let slash = rest.iter().position(|&b| b == b'/');
        slash.map_or(&b"/"[..], |at| &rest[at..])
    };
    if path.iter().any(|&b| !(0x21..=0x7e).contains(&b)) {
        return None;
    }
    String::from_utf8(path.to_vec()).ok()
}

/// An HTTP/1.x request line: `METHOD SP target SP HTTP/1.x`.
pub fn parse_request(head: &[u8]) -> Option<Message> {
    let (line, complete) = first_line(head);
    let mut parts = line.split(|&b| b == b' ');
    let method = std::str::from_utf8(parts.next()?).ok()?;
    if !METHODS.contains(&method) {
        return None;
    }
    let target = parts.next()?;
    match parts.next() {
        Some(version)
            if version.starts_with(b"HTTP/1.")
                || (!complete && b"HTTP/1.".starts_with(version)) => {}
        None if !complete => {}
        _ => return None,
    }
    if parts.next().is_some() {
        return None;
    }
    // A target cut off by the head's end may be a prefix of the path: still the best name.
    Some(Message::HttpRequest {
        method: method.to_string(),
        path: target_path(target)?,
    })
}

/// An HTTP/1.x status line: `HTTP/1.x SP 3DIGIT …`.
pub fn parse_response(head: &[u8]) -> Option<Message> {
    let rest = head.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5)?;
    if !rest.first()?.is_ascii_digit() || rest.get(1) != Some(&b' ') {
        return None;
    }
    if !code.iter().all(u8::is_ascii_digit) || rest.get(5).is_some_and(|&b| b != b' ' && b != b'\r')
    {
        return None;
    }
    let status = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    (100..=599)
        .contains(&status)
        .then_some(Message::HttpResponse { status })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(head: &[u8]) -> Option<(String, String)> {
        match parse_request(head)? {
            Message::HttpRequest { method, path } => Some((method, path)),
            _ => None,
        }
    }

    #[test]
    fn request_lines_give_method_and_path_without_query() {
        let got = |h: &[u8]| request(h).map(|(m, p)| format!("{m} {p}"));
        assert_eq!(
            got(b"GET /compose?user=7&x=1 HTTP/1.1\r\nHost: a\r\n").as_deref(),
            Some("GET /compose")
        );
        assert_eq!(
            got(b"POST /a/b#frag HTTP/1.0\r\n").as_deref(),
            Some("POST /a/b")
        );
        assert_eq!(
            got(b"GET http://api:8080/v1/x?q HTTP/1.1\r\n").as_deref(),
            Some("GET /v1/x")
        );
        assert_eq!(
            got(b"GET http://api HTTP/1.1\r\n").as_deref(),
            Some("GET /")
        );
        // Cut short by the head's length.
        assert_eq!(
            got(b"DELETE /very/long/pa").as_deref(),
            Some("DELETE /very/long/pa")
        );
        assert_eq!(got(b"PUT /x HTTP/1").as_deref(), Some("PUT /x"));
    }

    #[test]
    fn other_lines_are_not_requests() {
        for head in [
            &b"get /a HTTP/1.1\r\n"[..],
            b"GET /a HTTP/2.0\r\n",
            b"GET /a\r\n",
            b"GET a HTTP/1.1\r\n",
            b"GET /a HTTP/1.1 extra\r\n",
            b"GET /\xff HTTP/1.1\r\n",
            b"PRI * HTTP/2.0\r\n",
            b"GET",
            b"",
        ] {
            assert_eq!(
                parse_request(head),
                None,
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn status_lines_give_the_code() {
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n"),
            Some(Message::HttpResponse { status: 200 })
        );
        assert_eq!(
            parse_response(b"HTTP/1.0 404 File not found"),
            Some(Message::HttpResponse { status: 404 })
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 503\r\n"),
            Some(Message::HttpResponse { status: 503 })
        );
        for head in [
            &b"HTTP/1.1 20"[..],
            b"HTTP/1.1 999 X",
            b"HTTP/1.1 2000",
            b"HTTP/2 200",
            b"HTTP/1.1200 OK",
        ] {
            assert_eq!(parse_response(head), None);
        }
    }
}
