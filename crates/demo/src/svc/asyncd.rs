//! The async designs on tokio: `epoll` (a current-thread runtime: one thread multiplexes
//! every connection and every downstream call) and `tokio` (a 2-worker multi-threaded
//! runtime). A stage's calls are spawned as tasks and run in parallel.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{Outcome, Received, Service};
use crate::proto;
use crate::wire::{Conn, Pool};

type Shared = Arc<(Service, Pool<TcpStream>)>;

/// Serves forever on a current-thread (`multi_thread == false`) or 2-worker runtime.
pub(super) fn run(
    service: Service,
    listener: std::net::TcpListener,
    multi_thread: bool,
) -> io::Result<()> {
    let runtime = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    listener.set_nonblocking(true)?;
    let shared: Shared = Arc::new((service, Pool::default()));
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            let (stream, peer) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(serve_connection(Arc::clone(&shared), stream, peer));
        }
    })
}

async fn serve_connection(shared: Shared, stream: TcpStream, peer: SocketAddr) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let mut conn = Conn::new(stream);
    while let Ok(Some(raw)) = conn.read_message_async(proto::http_message_len).await {
        let Some(got) = Received::new(&raw, peer, local) else {
            return;
        };
        let close = got.req.close;
        if respond(&shared, got, &mut conn.stream).await.is_err() || close {
            return;
        }
    }
}

/// Runs the stages (each stage's calls as parallel tasks), writes the response, logs.
async fn respond(shared: &Shared, got: Received, stream: &mut TcpStream) -> io::Result<()> {
    let service = &shared.0;
    let outcome = match service.plan(&got) {
        None => None,
        Some(stages) => {
            let mut outcome = Outcome::default();
            for stage in stages {
                let tasks: Vec<_> = stage
                    .into_iter()
                    .map(|call| {
                        let shared = Arc::clone(shared);
                        tokio::spawn(async move { shared.0.call_async(&shared.1, &call).await })
                    })
                    .collect();
                for task in tasks {
                    let (record, timed_out) = task.await.map_err(io::Error::other)?;
                    outcome.push(record, timed_out);
                }
                if outcome.failure.is_some() {
                    break;
                }
            }
            Some(outcome)
        }
    };
    let (response, status) = service.response(&got, outcome.as_ref());
    stream.write_all(&response).await?;
    service.log(got, status, outcome.map(|o| o.calls).unwrap_or_default());
    Ok(())
}
