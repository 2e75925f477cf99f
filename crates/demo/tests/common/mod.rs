//! Helpers shared by the demo's integration tests: a tiny keep-alive HTTP client and
//! waiting for truth-log lines.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use kspan_demo::proto;
use kspan_demo::truth::{read_spans, SpanRecord};
use kspan_demo::wire::Conn;

/// One keep-alive client connection.
pub struct Client {
    conn: Conn<TcpStream>,
}

impl Client {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            conn: Conn::new(stream),
        }
    }

    /// Sends GET `path` with `X-Request-Id: rid` and returns the status code.
    pub fn get(&mut self, path: &str, rid: &str) -> u16 {
        let request = proto::http_request("GET", "demo", path, rid, "");
        self.conn.stream.write_all(&request).expect("send");
        let reply = self
            .conn
            .read_message(proto::http_message_len)
            .expect("read")
            .expect("reply");
        let line = String::from_utf8_lossy(&reply);
        line.split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status code")
    }
}

/// Waits until `<dir>/<service>.jsonl` has at least `n` lines (a service logs right after
/// writing its response, so the client can see the response first), then returns them.
pub fn spans(dir: &Path, service: &str, n: usize) -> Vec<SpanRecord> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let spans = read_spans(&dir.join(format!("{service}.jsonl"))).expect("read truth");
        if spans.len() >= n || Instant::now() > deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
