//! A minimal HTTP/1.1 client exchange: write a GET with a request id, read one whole response
//! (Content-Length, chunked, or delimited by the connection's close).

use std::io::{self, Read, Write};
use std::time::Instant;

/// Largest response head accepted (status line and headers).
const MAX_HEAD: usize = 64 * 1024;

/// What is known about a response once it has been read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// False when the server closes the connection after this response.
    pub keep_alive: bool,
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The deadline passed before the response was complete.
    #[error("timeout")]
    Timeout,
    /// The server closed the connection before the response was complete.
    #[error("connection closed before the response was complete")]
    Closed,
    /// The server closed or reset the connection without sending a byte of the response:
    /// on a reused keep-alive connection, it had closed it as idle (the request can be
    /// sent again on a new one).
    #[error("connection closed before any response ({0})")]
    NoAnswer(String),
    /// The response is not valid HTTP/1.1.
    #[error("invalid response: {0}")]
    Invalid(String),
    /// The socket failed.
    #[error("{0}")]
    Io(io::Error),
}

impl From<io::Error> for ExchangeError {
    fn from(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ExchangeError::Timeout,
            _ => ExchangeError::Io(err),
        }
    }
}

/// A socket that can be told how long the next read may wait.
pub trait Deadlined: Read + Write {
    /// Limits the next reads and writes to end by `deadline` (an error once it has passed).
    fn set_deadline(&mut self, deadline: Instant) -> Result<(), ExchangeError>;
}

impl Deadlined for std::net::TcpStream {
    fn set_deadline(&mut self, deadline: Instant) -> Result<(), ExchangeError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ExchangeError::Timeout);
        }
        self.set_read_timeout(Some(left))?;
        self.set_write_timeout(Some(left))?;
        Ok(())
    }
}

/// The bytes of `GET path` carrying `X-Request-Id: rid`.
pub fn request_bytes(path: &str, host: &str, rid: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Request-Id: {rid}\r\nUser-Agent: kspan-loadgen\r\n\r\n"
    )
    .into_bytes()
}

/// A connection's read side: bytes received and not yet consumed.
pub struct Reader<S> {
    stream: S,
    buf: Vec<u8>,
    deadline: Instant,
}

impl<S: Deadlined> Reader<S> {
    /// Wraps a connected socket.
    pub fn new(stream: S) -> Self {
        Reader {
            stream,
            buf: Vec::new(),
            deadline: Instant::now(),
        }
    }

    /// The socket (to read its addresses).
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// Sends `request` and reads its whole response, all before `deadline`.
    pub fn exchange(
        &mut self,
        request: &[u8],
        deadline: Instant,
    ) -> Result<Response, ExchangeError> {
        self.deadline = deadline;
        let result = self
            .stream
            .set_deadline(deadline)
            .and_then(|()| Ok(self.stream.write_all(request)?))
            .and_then(|()| self.read_response());
        match result {
            Err(ExchangeError::Closed) if self.buf.is_empty() => {
                Err(ExchangeError::NoAnswer("end of stream".to_string()))
            }
            Err(ExchangeError::Io(err))
                if self.buf.is_empty()
                    && matches!(
                        err.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                    ) =>
            {
                Err(ExchangeError::NoAnswer(err.to_string()))
            }
            other => other,
        }
    }

    fn read_response(&mut self) -> Result<Response, ExchangeError> {
        let (head_len, status, body, close) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = parsed.code.unwrap_or(0);
                    let close =
                        header(parsed.headers, "connection").is_some_and(|v| v.contains("close"));
                    break (len, status, Body::of(status, parsed.headers)?, close);
                }
                Ok(httparse::Status::Partial) if self.buf.len() < MAX_HEAD => self.fill()?,
                Ok(httparse::Status::Partial) => {
                    return Err(ExchangeError::Invalid(
                        "response head too large".to_string(),
                    ))
                }
                Err(err) => return Err(ExchangeError::Invalid(err.to_string())),
            }
        };
        self.buf.drain(..head_len);
        match body {
            Body::Length(n) => self.consume(n)?,
            Body::Chunked => self.consume_chunked()?,
            Body::UntilClose => {
                while self.fill_or_eof()? {}
                self.buf.clear();
            }
        }
        Ok(Response {
            status,
            keep_alive: body != Body::UntilClose && !close,
        })
    }

    /// Consumes `n` body bytes.
    fn consume(&mut self, n: usize) -> Result<(), ExchangeError> {
        while self.buf.len() < n {
            self.fill()?;
        }
        self.buf.drain(..n);
        Ok(())
    }

    /// Consumes a chunked body and its trailers.
    fn consume_chunked(&mut self) -> Result<(), ExchangeError> {
        loop {
            let line = self.line()?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| ExchangeError::Invalid(format!("bad chunk size {size:?}")))?;
            if size == 0 {
                while !self.line()?.is_empty() {}
                return Ok(());
            }
            self.consume(size)?;
            if !self.line()?.is_empty() {
                return Err(ExchangeError::Invalid(
                    "chunk not followed by CRLF".to_string(),
                ));
            }
        }
    }

    /// Consumes one CRLF-terminated line and returns it without the CRLF.
    fn line(&mut self) -> Result<String, ExchangeError> {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..at]).into_owned();
                self.buf.drain(..at + 2);
                return Ok(line);
            }
            if self.buf.len() >= MAX_HEAD {
                return Err(ExchangeError::Invalid("line too long".to_string()));
            }
            self.fill()?;
        }
    }

    /// Reads more bytes; the connection's end is an error.
    fn fill(&mut self) -> Result<(), ExchangeError> {
        if self.fill_or_eof()? {
            Ok(())
        } else {
            Err(ExchangeError::Closed)
        }
    }

    /// Reads more bytes; false at the connection's end.
    fn fill_or_eof(&mut self) -> Result<bool, ExchangeError> {
        self.stream.set_deadline(self.deadline)?;
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }
}

/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Length(usize),
    Chunked,
    UntilClose,
}

impl Body {
    fn of(status: u16, headers: &[httparse::Header<'_>]) -> Result<Body, ExchangeError> {
        if (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(Body::Length(0));
        }
        if header(headers, "transfer-encoding").is_some_and(|v| v.ends_with("chunked")) {
            return Ok(Body::Chunked);
        }
        match header(headers, "content-length") {
            Some(len) => len
                .parse()
                .map(Body::Length)
                .map_err(|_| ExchangeError::Invalid(format!("bad Content-Length {len:?}"))),
            None => Ok(Body::UntilClose),
        }
    }
}

/// A header's value, trimmed and lower-cased.
fn header(headers: &[httparse::Header<'_>], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::time::Duration;

    /// Canned server bytes; records what was written.
    struct Canned {
        input: Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Read for Canned {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // One byte at a time, to exercise every partial-read path.
            let n = buf.len().min(1);
            self.input.read(&mut buf[..n])
        }
    }

    impl Write for Canned {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Deadlined for Canned {
        fn set_deadline(&mut self, _: Instant) -> Result<(), ExchangeError> {
            Ok(())
        }
    }

    fn reader(bytes: &str) -> Reader<Canned> {
        Reader::new(Canned {
            input: Cursor::new(bytes.as_bytes().to_vec()),
            written: Vec::new(),
        })
    }

    fn exchange(r: &mut Reader<Canned>) -> Result<Response, ExchangeError> {
        r.exchange(
            b"GET / HTTP/1.1\r\n\r\n",
            Instant::now() + Duration::from_secs(1),
        )
    }

    #[test]
    fn reads_back_to_back_responses_of_every_framing() {
        let mut r = reader(concat!(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
            "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n",
            "2;x=y\r\nab\r\n1\r\nc\r\n0\r\nTrailer: t\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nz",
        ));
        let ok = |status, keep_alive| Response { status, keep_alive };
        assert_eq!(exchange(&mut r).unwrap(), ok(200, true));
        assert_eq!(exchange(&mut r).unwrap(), ok(404, true));
        assert_eq!(exchange(&mut r).unwrap(), ok(204, true));
        assert_eq!(exchange(&mut r).unwrap(), ok(200, false));
        assert!(r.buf.is_empty());
        assert_eq!(r.stream().written.len(), 4 * 18);
    }

    #[test]
    fn a_body_ended_by_close_is_read_to_the_end() {
        let mut r = reader("HTTP/1.0 200 OK\r\n\r\nhello");
        assert_eq!(
            exchange(&mut r).unwrap(),
            Response {
                status: 200,
                keep_alive: false
            }
        );
    }

    #[test]
    fn truncated_and_invalid_responses_are_errors() {
        let mut r = reader("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc");
        assert!(matches!(exchange(&mut r), Err(ExchangeError::Closed)));
        let mut r = reader("");
        assert!(
            matches!(exchange(&mut r), Err(ExchangeError::NoAnswer(m)) if m == "end of stream")
        );
        let mut r = reader("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        assert!(
            matches!(exchange(&mut r), Err(ExchangeError::Invalid(m)) if m == "bad chunk size \"zz\"")
        );
        let mut r = reader("SMTP ready\r\n\r\n");
        assert!(matches!(exchange(&mut r), Err(ExchangeError::Invalid(_))));
    }

    #[test]
    fn the_request_carries_the_id() {
        assert_eq!(
            request_bytes("/compose", "10.77.0.10", "r-000001"),
            b"GET /compose HTTP/1.1\r\nHost: 10.77.0.10\r\nX-Request-Id: r-000001\r\nUser-Agent: kspan-loadgen\r\n\r\n"
        );
    }
}
