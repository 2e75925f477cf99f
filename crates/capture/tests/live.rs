//! Live recording of a known TCP exchange between two network namespaces: the file must
//! hold exactly the messages' send/recv byte counts for the exchanging threads, nothing
//! from other processes, and the connection's state changes with the right 4-tuples.

mod common;

use common::*;
use kspan_capture::meta::{MAIN_BUFFER, NET_BUFFER};
use kspan_capture::{
    read_meta, write_trace_dat, FileVersion, RecordOptions, Recording, TargetSpec,
};
use kspan_tracedat::TraceFile;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};

const MESSAGES: usize = 20;
const PORT: u16 = 7000;

fn request_size(i: usize) -> usize {
    100 + 37 * i
}

fn response_size(i: usize) -> usize {
    1000 + 113 * i
}

/// Server and client roles of the exchange, run inside the namespaces by re-execution.
#[test]
fn role_entry() {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return;
    };
    let mut stdout = std::io::stdout();
    match role.as_str() {
        "server" => {
            let listener = TcpListener::bind(("10.77.0.1", PORT)).unwrap();
            writeln!(stdout, "{LINE_PREFIX}ready").unwrap();
            let (mut conn, _) = listener.accept().unwrap();
            for i in 0..MESSAGES {
                let mut request = vec![0u8; request_size(i)];
                conn.read_exact(&mut request).unwrap();
                conn.write_all(&vec![b'r'; response_size(i)]).unwrap();
            }
            assert_eq!(conn.read(&mut [0u8; 16]).unwrap(), 0);
        }
        "client" => {
            writeln!(stdout, "{LINE_PREFIX}ready").unwrap();
            let mut go = String::new();
            std::io::stdin().read_line(&mut go).unwrap();
            let mut conn = TcpStream::connect(("10.77.0.1", PORT)).unwrap();
            writeln!(stdout, "{LINE_PREFIX}{}", conn.local_addr().unwrap().port()).unwrap();
            for i in 0..MESSAGES {
                conn.write_all(&vec![b'q'; request_size(i)]).unwrap();
                let mut response = vec![0u8; response_size(i)];
                conn.read_exact(&mut response).unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// Splits `lengths` into runs summing to `sizes` in order; returns the leftover lengths.
fn consume_messages(lengths: &[i64], sizes: impl Iterator<Item = usize>) -> Vec<i64> {
    let mut rest = lengths.iter().copied().peekable();
    for size in sizes {
        let mut sum = 0i64;
        while sum < size as i64 {
            sum += rest.next().expect("fewer bytes received than sent");
        }
        assert_eq!(sum, size as i64, "a read spanned two messages");
    }
    rest.collect()
}

#[test]
fn records_exact_tcp_exchange_between_two_namespaces() {
    let pair = NetnsPair::create("cap");
    let scratch = Scratch::new("capture-live");
    let netns_exec = |ns: &Netns, role: &str| spawn_piped(ns.wrap(&role_command(role)));
    let (mut server, mut server_out) = netns_exec(&pair.server, "server");
    assert_eq!(next_line(&mut server_out), "ready");
    let (mut client, mut client_out) = netns_exec(&pair.client, "client");
    assert_eq!(next_line(&mut client_out), "ready");

    let recording = Recording::start(RecordOptions {
        targets: TargetSpec {
            netns: vec![pair.server.name().into(), pair.client.name().into()],
            ..TargetSpec::default()
        },
        event_set: kspan_capture::EventSet::Default,
        temp_parent: scratch.path().to_path_buf(),
        tracefs_root: kspan_capture::TRACEFS_ROOT.into(),
        ..RecordOptions::default()
    })
    .unwrap();
    writeln!(client.stdin.as_mut().unwrap(), "go").unwrap();
    let client_port: u16 = next_line(&mut client_out).parse().unwrap();
    assert!(client.wait().unwrap().success());
    assert!(server.wait().unwrap().success());
    let capture = recording.finish().unwrap();
    let out = scratch.join("live.dat");
    write_trace_dat(&capture, &out, FileVersion::V7Zstd).unwrap();

    let (server_pid, client_pid) = (server.id() as i32, client.id() as i32);
    let meta = read_meta(capture.meta.to_bytes().as_slice()).unwrap();
    let threads_of = |pid: i32| -> BTreeSet<i32> {
        meta.world
            .processes
            .iter()
            .filter(|p| p.pid == pid)
            .flat_map(|p| p.threads.iter().map(|t| t.tid))
            .collect()
    };
    let (server_tids, client_tids) = (threads_of(server_pid), threads_of(client_pid));
    assert!(
        !server_tids.is_empty() && !client_tids.is_empty(),
        "both processes are in the snapshot"
    );
    let listener = meta
        .world
        .sockets
        .iter()
        .find(|s| s.state == 10 && s.local == (Ipv4Addr::new(10, 77, 0, 1), PORT).into())
        .expect("the listening socket is in the snapshot");
    assert_eq!(listener.owner_pids, vec![server_pid]);
    let server_netns = meta
        .world
        .netns
        .iter()
        .find(|n| n.name.as_deref() == Some(pair.server.name()))
        .expect("server netns named");
    let v4: Vec<_> = server_netns
        .addresses
        .iter()
        .filter(|a| a.is_ipv4())
        .map(|a| a.to_string())
        .collect();
    assert_eq!(v4, vec!["10.77.0.1", "127.0.0.1"]);
    let server_process = meta
        .world
        .processes
        .iter()
        .find(|p| p.pid == server_pid)
        .unwrap();
    assert_eq!(server_process.netns_inode, server_netns.inode);

    let file = TraceFile::open(&out).unwrap();
    let file_meta = read_meta(file.metadata().kspan_metadata().unwrap()).unwrap();
    assert_eq!(file_meta, capture.meta);
    let net_index = file.metadata().buffer_index(NET_BUFFER).unwrap();
    let mut sends = Vec::new();
    let mut recvs = Vec::new();
    let mut send_sks = BTreeSet::new();
    let mut state_changes = Vec::new();
    let mut destroyed = Vec::new();
    let mut events = file.events();
    while let Some(rec) = events.next_event().unwrap() {
        let Some(format) = rec.format else { continue };
        let field = |name: &str| rec.i64(rec.field(name).unwrap()).unwrap();
        match (rec.buffer == net_index, format.name.as_str()) {
            (false, "sock_send_length") => {
                sends.push((rec.pid(), field("ret")));
                if client_tids.contains(&rec.pid()) {
                    send_sks.insert(field("sk") as u64);
                }
            }
            (false, "sock_recv_length") => recvs.push((rec.pid(), field("ret"))),
            (true, "tcp_destroy_sock") if field("sport") as u16 == PORT => {
                destroyed.push((field("skaddr") as u64, field("sock_cookie") as u64));
            }
            (true, "inet_sock_set_state") => {
                let bytes = |n: &str| rec.bytes(rec.field(n).unwrap()).unwrap().to_vec();
                let (sport, dport) = (field("sport") as u16, field("dport") as u16);
                if sport != PORT && dport != PORT {
                    continue;
                }
                let ip = |b: Vec<u8>| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
                state_changes.push((
                    (ip(bytes("saddr")), sport, ip(bytes("daddr")), dport),
                    field("oldstate"),
                    field("newstate"),
                    field("skaddr") as u64,
                ));
            }
            _ => {}
        }
    }
    assert_eq!(capture.meta.buffers[0].name, MAIN_BUFFER);
    assert_eq!(
        capture.meta.lost_events(),
        0,
        "nothing may be lost in this small test"
    );

    // Every socket event comes from the two processes.
    let outsiders: Vec<_> = sends
        .iter()
        .chain(&recvs)
        .filter(|(p, _)| !server_tids.contains(p) && !client_tids.contains(p))
        .collect();
    assert_eq!(outsiders, Vec::<&(i32, i64)>::new());
    let of = |list: &[(i32, i64)], tids: &BTreeSet<i32>| -> Vec<i64> {
        list.iter()
            .filter(|(p, _)| tids.contains(p))
            .map(|(_, r)| *r)
            .collect()
    };
    // Sends: exactly one per message, with exactly its size.
    assert_eq!(
        of(&sends, &client_tids),
        (0..MESSAGES)
            .map(|i| request_size(i) as i64)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        of(&sends, &server_tids),
        (0..MESSAGES)
            .map(|i| response_size(i) as i64)
            .collect::<Vec<_>>()
    );
    // Receives: reads add up to each message exactly; the server's last read, which sees
    // EOF, is filtered out in the kernel (the default set keeps the reads that moved bytes).
    assert_eq!(
        consume_messages(&of(&recvs, &server_tids), (0..MESSAGES).map(request_size)),
        Vec::<i64>::new()
    );
    assert_eq!(
        consume_messages(&of(&recvs, &client_tids), (0..MESSAGES).map(response_size)),
        Vec::<i64>::new()
    );

    // The net buffer holds the connection's state changes with both ends' 4-tuples.
    let (server_ip, client_ip) = (Ipv4Addr::new(10, 77, 0, 1), Ipv4Addr::new(10, 77, 0, 2));
    let client_view = (client_ip, client_port, server_ip, PORT);
    let client_changes: Vec<_> = state_changes
        .iter()
        .filter(|c| send_sks.contains(&c.3))
        .collect();
    let client_states: Vec<(i64, i64)> = client_changes.iter().map(|c| (c.1, c.2)).collect();
    // CLOSE→SYN_SENT→ESTABLISHED, then the active close: FIN_WAIT1→FIN_WAIT2→CLOSE.
    assert_eq!(client_states, vec![(7, 2), (2, 1), (1, 4), (4, 5), (5, 7)]);
    // The local port is only bound after CLOSE→SYN_SENT, so that event shows port 0.
    let tuples: Vec<_> = client_changes.iter().map(|c| c.0).collect();
    assert_eq!(tuples[1..], vec![client_view; 4][..]);
    assert_eq!(
        (tuples[0].1, tuples[0].2, tuples[0].3),
        (0, server_ip, PORT)
    );
    let server_view = (server_ip, PORT, client_ip, client_port);
    let server_states: Vec<(i64, i64)> = state_changes
        .iter()
        .filter(|c| c.0 == server_view)
        .map(|c| (c.1, c.2))
        .collect();
    // The accepted socket is born from the listener (LISTEN→SYN_RECV→ESTABLISHED), then
    // the passive close: CLOSE_WAIT→LAST_ACK→CLOSE.
    assert_eq!(server_states, vec![(10, 3), (3, 1), (1, 8), (8, 9), (9, 7)]);
    // The listener closes when the server exits; its skaddr is the snapshot's raw pointer.
    let listener_close: Vec<u64> = state_changes
        .iter()
        .filter(|c| c.1 == 10 && c.2 == 7)
        .map(|c| c.3)
        .collect();
    assert_eq!(
        listener_close,
        vec![listener.sk.expect("raw socket pointer readable")]
    );
}
