//! Socket cookies of existing TCP sockets, from the kernel's sock_diag netlink interface
//! (INET_DIAG dump) run inside the sockets' network namespace. A cookie is the 64-bit id
//! `tcp:*` tracepoints report as `sock_cookie`; unlike a `struct sock *` it is never reused.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `SOCK_DIAG_BY_FAMILY` netlink message type.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// Netlink header size.
const NLMSG_HDR: usize = 16;
/// `struct inet_diag_req_v2` size.
const REQ_V2: usize = 56;
/// Offsets inside `struct inet_diag_msg` (after the netlink header).
const MSG_SPORT: usize = 4;
const MSG_DPORT: usize = 6;
const MSG_SRC: usize = 8;
const MSG_DST: usize = 24;
const MSG_COOKIE: usize = 44;
const MSG_LEN: usize = 72;

/// (local, remote) address pair of a socket.
pub type SocketKey = (SocketAddr, SocketAddr);

/// Cookies of every IPv4 and IPv6 TCP socket in the network namespace of process `pid`.
pub fn tcp_cookies(pid: i32) -> io::Result<HashMap<SocketKey, u64>> {
    let ns = File::open(format!("/proc/{pid}/ns/net"))?;
    // setns() changes only the calling thread's namespace: do it in a short-lived thread.
    std::thread::spawn(move || -> io::Result<HashMap<SocketKey, u64>> {
        // SAFETY: setns on a valid namespace fd; it affects only this thread.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut cookies = HashMap::new();
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            dump(family, &mut cookies)?;
        }
        Ok(cookies)
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("sock_diag thread panicked")))
}

/// Dumps the TCP sockets of one address family into `cookies`.
fn dump(family: u8, cookies: &mut HashMap<SocketKey, u64>) -> io::Result<()> {
    // SAFETY: plain socket(2) call; the fd is owned right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let request = request(family);
    // SAFETY: sends from a valid buffer of the given length on an open socket.
    let sent = unsafe { libc::send(sock.as_raw_fd(), request.as_ptr().cast(), request.len(), 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: receives into a valid, writable buffer of the given length.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if parse_messages(&buf[..n as usize], family, cookies)? {
            return Ok(());
        }
    }
}

/// A netlink dump request for all TCP sockets of `family` in every state.
fn request(family: u8) -> Vec<u8> {
    let mut r = Vec::with_capacity(NLMSG_HDR + REQ_V2);
    r.extend_from_slice(&((NLMSG_HDR + REQ_V2) as u32).to_ne_bytes());
    r.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    r.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    r.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    r.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    r.extend_from_slice(&[family, libc::IPPROTO_TCP as u8, 0, 0]);
    r.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
    r.resize(NLMSG_HDR + REQ_V2, 0); // an all-zero socket id: no filter
    r
}

/// Parses one datagram of dump replies; returns true at the end of the dump.
fn parse_messages(
    mut data: &[u8],
    family: u8,
    cookies: &mut HashMap<SocketKey, u64>,
) -> io::Result<bool> {
    let word = |b: &[u8], at: usize| u32::from_ne_bytes(b[at..at + 4].try_into().unwrap());
    while data.len() >= NLMSG_HDR {
        let len = word(data, 0) as usize;
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        if len < NLMSG_HDR || len > data.len() {
            return Err(io::Error::other("malformed sock_diag reply"));
        }
        match kind as i32 {
            libc::NLMSG_DONE => return Ok(true),
            libc::NLMSG_ERROR => {
                let errno = data.get(16..20).map_or(0, |_| word(data, 16) as i32);
                return Err(io::Error::from_raw_os_error(-errno));
            }
            _ => {
                let msg = &data[NLMSG_HDR..len];
                if msg.len() >= MSG_LEN {
                    let key = (
                        addr(family, &msg[MSG_SRC..MSG_SRC + 16], &msg[MSG_SPORT..]),
                        addr(family, &msg[MSG_DST..MSG_DST + 16], &msg[MSG_DPORT..]),
                    );
                    let cookie =
                        word(msg, MSG_COOKIE) as u64 | (word(msg, MSG_COOKIE + 4) as u64) << 32;
                    cookies.insert(key, cookie);
                }
            }
        }
        data = &data[(len + 3) & !3..];
    }
    Ok(false)
}

/// An address from sock_diag's 16-byte field and big-endian port.
fn addr(family: u8, bytes: &[u8], port: &[u8]) -> SocketAddr {
    let port = u16::from_be_bytes([port[0], port[1]]);
    let ip = if family == libc::AF_INET as u8 {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(bytes).unwrap_or([0; 16]),
        ))
    };
    SocketAddr::new(ip, port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn cookies_of_own_sockets_are_found_and_distinct() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let cookies = tcp_cookies(std::process::id() as i32).unwrap();
        let key = |s: &TcpStream| (s.local_addr().unwrap(), s.peer_addr().unwrap());
        let a = cookies[&key(&client)];
        let b = cookies[&key(&server)];
        assert_ne!(a, b);
        assert_ne!(a, 0);
    }
}
