//! Moving framed messages over TCP, blocking and async, and the keep-alive pool of
//! downstream connections shared by a process's threads or tasks.

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Connect timeout of every downstream call (reply timeouts:
/// [`crate::topology::reply_timeout`]).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A connection and the bytes read from it beyond the last message.
#[derive(Debug)]
pub struct Conn<S> {
    /// The stream.
    pub stream: S,
    /// Bytes read but not yet consumed.
    pub buf: Vec<u8>,
}

impl<S> Conn<S> {
    /// A fresh connection with an empty buffer.
    pub fn new(stream: S) -> Conn<S> {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Removes and returns the first complete message in the buffer, if any.
    pub fn take_message(&mut self, len: impl Fn(&[u8]) -> Option<usize>) -> Option<Vec<u8>> {
        let n = len(&self.buf)?;
        Some(self.buf.drain(..n).collect())
    }
}

fn eof_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed mid-message",
    )
}

const CHUNK: usize = 16 * 1024;

impl<S: Read> Conn<S> {
    /// Reads one message; `Ok(None)` on a clean close between messages.
    pub fn read_message(
        &mut self,
        len: impl Fn(&[u8]) -> Option<usize>,
    ) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(msg) = self.take_message(&len) {
                return Ok(Some(msg));
            }
            let mut chunk = [0u8; CHUNK];
            match self.stream.read(&mut chunk)? {
                0 if self.buf.is_empty() => return Ok(None),
                0 => return Err(eof_error()),
                n => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> Conn<S> {
    /// Async twin of [`Conn::read_message`].
    pub async fn read_message_async(
        &mut self,
        len: impl Fn(&[u8]) -> Option<usize>,
    ) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(msg) = self.take_message(&len) {
                return Ok(Some(msg));
            }
            let mut chunk = [0u8; CHUNK];
            match self.stream.read(&mut chunk).await? {
                0 if self.buf.is_empty() => return Ok(None),
                0 => return Err(eof_error()),
                n => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// Idle keep-alive connections per target, shared by a process's threads or tasks.
#[derive(Debug)]
pub struct Pool<S> {
    idle: Mutex<HashMap<&'static str, Vec<Conn<S>>>>,
}

impl<S> Default for Pool<S> {
    fn default() -> Self {
        Pool {
            idle: Mutex::new(HashMap::new()),
        }
    }
}

impl<S> Pool<S> {
    /// An idle connection to `target`, if one is pooled.
    pub fn take(&self, target: &'static str) -> Option<Conn<S>> {
        self.idle.lock().ok()?.get_mut(target)?.pop()
    }

    /// Returns a connection whose last exchange completed cleanly.
    pub fn put(&self, target: &'static str, conn: Conn<S>) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.entry(target).or_default().push(conn);
        }
    }
}
