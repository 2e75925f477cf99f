//! Process per connection: the single-threaded parent accepts and forks a child that
//! serves the connection (blocking) and exits when the client closes it.

use std::io;
use std::net::TcpListener;

use super::{blocking, Service};
use crate::wire::Pool;

/// Accepts forever, forking one child per connection.
pub(super) fn run(service: Service, listener: TcpListener) -> io::Result<()> {
    // SAFETY: SIG_IGN for SIGCHLD installs no handler code; it makes the kernel reap
    // exited children so none linger as zombies.
    if unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("{}: accept failed: {e}", service.name);
                continue;
            }
        };
        // SAFETY: this process never starts a thread (the prefork design is single
        // threaded up to here), so the child is a complete copy and may run any code.
        match unsafe { libc::fork() } {
            0 => {
                blocking::serve_connection(&service, &Pool::default(), stream);
                // SAFETY: _exit ends the child at once, without running exit handlers
                // or destructors that belong to the parent's copy of the state.
                unsafe { libc::_exit(0) }
            }
            -1 => eprintln!(
                "{}: fork failed: {}",
                service.name,
                io::Error::last_os_error()
            ),
            _ => drop(stream),
        }
    }
    Ok(())
}
