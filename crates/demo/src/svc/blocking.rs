//! The blocking request path shared by the thread, pool and prefork designs, and the
//! thread-per-connection design itself.

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use super::{Outcome, Received, Service};
use crate::proto;
use crate::wire::{Conn, Pool};

/// Thread per connection: every accepted connection gets its own thread, which reads,
/// calls downstream (in order) and writes, blocking.
pub(super) fn run_thread_per_connection(service: Service, listener: TcpListener) -> io::Result<()> {
    let shared = Arc::new((service, Pool::default()));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("{}: accept failed: {e}", shared.0.name);
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || serve_connection(&shared.0, &shared.1, stream));
    }
    Ok(())
}

/// Serves the requests of one keep-alive connection until the client closes it.
pub(super) fn serve_connection(service: &Service, pool: &Pool<TcpStream>, stream: TcpStream) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let mut conn = Conn::new(stream);
    while let Ok(Some(raw)) = conn.read_message(proto::http_message_len) {
        let Some(got) = Received::new(&raw, peer, local) else {
            return;
        };
        let close = got.req.close;
        if respond(service, pool, got, &mut conn.stream).is_err() || close {
            return;
        }
    }
}

/// Makes a request's calls in plan order (stopping at the first failure), writes the
/// response and logs the span.
pub(super) fn respond(
    service: &Service,
    pool: &Pool<TcpStream>,
    got: Received,
    stream: &mut TcpStream,
) -> io::Result<()> {
    let outcome = service.plan(&got).map(|stages| {
        let mut outcome = Outcome::default();
        for call in stages.iter().flatten() {
            let (record, timed_out) = service.call_blocking(pool, call);
            outcome.push(record, timed_out);
            if outcome.failure.is_some() {
                break;
            }
        }
        outcome
    });
    let (response, status) = service.response(&got, outcome.as_ref());
    stream.write_all(&response)?;
    service.log(got, status, outcome.map(|o| o.calls).unwrap_or_default());
    Ok(())
}
