//! Making one downstream call (blocking or async): reuse or open a keep-alive
//! connection, send the request, read and check the reply, record what happened.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::timeout;

use super::Service;
use crate::plan::Call;
use crate::proto::Proto;
use crate::topology::reply_timeout;
use crate::truth::{now_ns, CallRecord};
use crate::wire::{Conn, Pool, CONNECT_TIMEOUT};

/// Why a call failed.
struct CallError {
    timed_out: bool,
    message: String,
}

impl From<io::Error> for CallError {
    fn from(e: io::Error) -> Self {
        let timed_out = matches!(
            e.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        );
        let message = if timed_out {
            "timed out".to_string()
        } else {
            e.to_string()
        };
        CallError { timed_out, message }
    }
}

fn timeout_error(_: tokio::time::error::Elapsed) -> io::Error {
    io::Error::from(io::ErrorKind::TimedOut)
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed before the reply",
    )
}

/// Where a call's connection came from, as far as one was had: its caller's end, and
/// whether it was opened for this call (its startup exchange, if the protocol has one, was
/// part of the call).
#[derive(Clone, Copy)]
struct Used {
    local: Option<SocketAddr>,
    opened: bool,
}

impl Used {
    /// No connection could be had.
    const NONE: Used = Used {
        local: None,
        opened: false,
    };
}

/// Builds the record and the timed-out flag of a finished call.
fn record(
    call: &Call,
    peer: Option<SocketAddr>,
    used: Used,
    start: u64,
    result: Result<(), CallError>,
) -> (CallRecord, bool) {
    let (status, timed_out) = match result {
        Ok(()) => ("ok".to_string(), false),
        Err(e) => (
            format!("error: {}: {}", call.target, e.message),
            e.timed_out,
        ),
    };
    let rec = CallRecord {
        target: call.target.to_string(),
        proto: call.proto.name().to_string(),
        local: used.local.map(|a| a.to_string()).unwrap_or_default(),
        peer: peer.map(|a| a.to_string()).unwrap_or_default(),
        start_unix_ns: start,
        end_unix_ns: now_ns(),
        status,
        operation: call.operation.clone(),
        startup: used.opened && call.proto.handshake().is_some(),
    };
    (rec, timed_out)
}

impl Service {
    fn target_addr(&self, call: &Call) -> Result<SocketAddr, CallError> {
        self.downstreams
            .get(call.target)
            .copied()
            .ok_or_else(|| CallError {
                timed_out: false,
                message: "no address given (pass --downstream NAME=IP:PORT)".to_string(),
            })
    }

    /// One blocking call through `pool`.
    pub(super) fn call_blocking(&self, pool: &Pool<TcpStream>, call: &Call) -> (CallRecord, bool) {
        let start = now_ns();
        let addr = match self.target_addr(call) {
            Ok(addr) => addr,
            Err(e) => return record(call, None, Used::NONE, start, Err(e)),
        };
        let (conn, opened) = match pool.take(call.target) {
            Some(conn) => (Ok(conn), false),
            None => (connect_blocking(addr, call), true),
        };
        let mut conn = match conn {
            Ok(conn) => conn,
            Err(e) => return record(call, Some(addr), Used::NONE, start, Err(e)),
        };
        let used = Used {
            local: conn.stream.local_addr().ok(),
            opened,
        };
        let result = exchange_blocking(&mut conn, call.proto, &call.request);
        if result.is_ok() {
            pool.put(call.target, conn);
        }
        record(call, Some(addr), used, start, result)
    }

    /// One async call through `pool`: the async twin of [`Service::call_blocking`].
    pub(super) async fn call_async(
        &self,
        pool: &Pool<tokio::net::TcpStream>,
        call: &Call,
    ) -> (CallRecord, bool) {
        let start = now_ns();
        let addr = match self.target_addr(call) {
            Ok(addr) => addr,
            Err(e) => return record(call, None, Used::NONE, start, Err(e)),
        };
        let (conn, opened) = match pool.take(call.target) {
            Some(conn) => (Ok(conn), false),
            None => (connect_async(addr, call).await, true),
        };
        let mut conn = match conn {
            Ok(conn) => conn,
            Err(e) => return record(call, Some(addr), Used::NONE, start, Err(e)),
        };
        let used = Used {
            local: conn.stream.local_addr().ok(),
            opened,
        };
        let wait = reply_timeout(call.target);
        let result = exchange_async(&mut conn, call.proto, &call.request, wait).await;
        if result.is_ok() {
            pool.put(call.target, conn);
        }
        record(call, Some(addr), used, start, result)
    }
}

/// Opens a connection for `call`'s target, with the target's reply timeout.
fn connect_blocking(addr: SocketAddr, call: &Call) -> Result<Conn<TcpStream>, CallError> {
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(reply_timeout(call.target)))?;
    stream.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut conn = Conn::new(stream);
    if let Some(hello) = call.proto.handshake() {
        exchange_blocking(&mut conn, call.proto, &hello)?;
    }
    Ok(conn)
}

fn exchange_blocking(
    conn: &mut Conn<TcpStream>,
    proto: Proto,
    request: &[u8],
) -> Result<(), CallError> {
    conn.stream.write_all(request)?;
    let reply = conn
        .read_message(|b| proto.reply_len(b))?
        .ok_or_else(closed)?;
    proto.check_reply(&reply).map_err(|message| CallError {
        timed_out: false,
        message,
    })
}

async fn connect_async(
    addr: SocketAddr,
    call: &Call,
) -> Result<Conn<tokio::net::TcpStream>, CallError> {
    let stream = timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(timeout_error)??;
    stream.set_nodelay(true)?;
    let mut conn = Conn::new(stream);
    if let Some(hello) = call.proto.handshake() {
        exchange_async(&mut conn, call.proto, &hello, reply_timeout(call.target)).await?;
    }
    Ok(conn)
}

async fn exchange_async(
    conn: &mut Conn<tokio::net::TcpStream>,
    proto: Proto,
    request: &[u8],
    wait: Duration,
) -> Result<(), CallError> {
    timeout(CONNECT_TIMEOUT, conn.stream.write_all(request))
        .await
        .map_err(timeout_error)??;
    let reply = timeout(wait, conn.read_message_async(|b| proto.reply_len(b)))
        .await
        .map_err(timeout_error)??
        .ok_or_else(closed)?;
    proto.check_reply(&reply).map_err(|message| CallError {
        timed_out: false,
        message,
    })
}
