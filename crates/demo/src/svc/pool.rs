//! Acceptor + worker pool: one acceptor thread polls the listener and every idle
//! connection, READS each request and queues it; a fixed pool of workers makes the
//! downstream calls and writes the response, then hands the connection back to the
//! acceptor (the cross-thread hand-off case).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use super::{blocking, Received, Service};
use crate::proto;
use crate::wire::{Conn, Pool};

/// Number of worker threads.
const WORKERS: usize = 4;

/// A request read by the acceptor, with its connection, for a worker.
struct Job {
    conn: Conn<TcpStream>,
    got: Received,
}

/// Runs the acceptor on the calling thread and starts the workers.
pub(super) fn run(service: Service, listener: TcpListener) -> io::Result<()> {
    let shared = Arc::new((service, Pool::default()));
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (back_tx, back_rx) = mpsc::channel::<Conn<TcpStream>>();
    let (mut wake_rx, wake_tx) = UnixStream::pair()?;
    for _ in 0..WORKERS {
        let (shared, job_rx, back_tx) = (Arc::clone(&shared), Arc::clone(&job_rx), back_tx.clone());
        let wake_tx = wake_tx.try_clone()?;
        std::thread::spawn(move || worker(&shared, &job_rx, &back_tx, wake_tx));
    }
    listener.set_nonblocking(true)?;
    wake_rx.set_nonblocking(true)?;
    let mut idle: Vec<Conn<TcpStream>> = Vec::new();
    loop {
        let mut fds: Vec<libc::pollfd> = [listener.as_raw_fd(), wake_rx.as_raw_fd()]
            .into_iter()
            .chain(idle.iter().map(|c| c.stream.as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        poll(&mut fds)?;
        let mut still_idle = Vec::with_capacity(idle.len());
        for (mut conn, fd) in idle.drain(..).zip(&fds[2..]) {
            if fd.revents == 0 {
                still_idle.push(conn);
            } else if fill(&mut conn) {
                still_idle.extend(dispatch(conn, &job_tx));
            }
        }
        if fds[1].revents != 0 {
            let mut drain = [0u8; 64];
            while matches!(wake_rx.read(&mut drain), Ok(n) if n > 0) {}
            for conn in back_rx.try_iter() {
                conn.stream.set_nonblocking(true)?;
                still_idle.extend(dispatch(conn, &job_tx));
            }
        }
        if fds[0].revents != 0 {
            while let Ok((stream, _)) = listener.accept() {
                stream.set_nonblocking(true)?;
                stream.set_nodelay(true)?;
                still_idle.push(Conn::new(stream));
            }
        }
        idle = still_idle;
    }
}

/// Waits until one of `fds` is ready (retrying on EINTR).
fn poll(fds: &mut [libc::pollfd]) -> io::Result<()> {
    loop {
        // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()` pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Reads what a non-blocking connection has; false when it closed or failed.
fn fill(conn: &mut Conn<TcpStream>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match conn.stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => conn.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// Queues the connection's next complete request for a worker, or gives the connection
/// back when no request is complete yet.
fn dispatch(mut conn: Conn<TcpStream>, jobs: &Sender<Job>) -> Option<Conn<TcpStream>> {
    let Some(raw) = conn.take_message(proto::http_message_len) else {
        return Some(conn);
    };
    let (Ok(peer), Ok(local)) = (conn.stream.peer_addr(), conn.stream.local_addr()) else {
        return None;
    };
    let got = Received::new(&raw, peer, local)?;
    conn.stream.set_nonblocking(false).ok()?;
    jobs.send(Job { conn, got }).ok()?;
    None
}

/// Takes jobs forever: calls, responds, and returns the connection to the acceptor.
fn worker(
    shared: &(Service, Pool<TcpStream>),
    jobs: &Mutex<Receiver<Job>>,
    back: &Sender<Conn<TcpStream>>,
    mut wake: UnixStream,
) {
    loop {
        let job = match jobs.lock().map(|rx| rx.recv()) {
            Ok(Ok(job)) => job,
            _ => return,
        };
        let Job { mut conn, got } = job;
        let close = got.req.close;
        if blocking::respond(&shared.0, &shared.1, got, &mut conn.stream).is_ok()
            && !close
            && back.send(conn).is_ok()
        {
            let _ = wake.write_all(&[1]);
        }
    }
}
