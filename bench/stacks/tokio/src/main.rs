//! kspan stack bench: Rust tokio (multi-thread runtime, 2 workers) + hyper 1 front/back.
//!
//! usage: kst-tokio ROLE LISTEN_IP:PORT BACK_IP:PORT TRUTH_DIR
//!   front: /one = 1 GET BACK /work, /par = 2 GETs joined with tokio::join! (one task), over one
//!          shared hyper-util legacy Client (pooled keep-alive HttpConnector, nodelay)
//!   back:  /work answers after tokio::time::sleep(1 ms)
//! Truth: one JSON line per request in TRUTH_DIR/ROLE.jsonl; tid = gettid() of the worker thread
//! that polled the handler when the request arrived (a call's tid: the thread that started it);
//! a call's local end comes from hyper-util's HttpInfo response extension, its tid from a thin
//! wrapper around the connector's socket that notes the thread of the last write (hyper's pooled
//! connection task writes the request, maybe on another worker than the caller's).
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector, HttpInfo};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::fmt::Write as _;
use std::io::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::{TcpListener, TcpStream};

type HttpClient = Client<TidConnector, Empty<Bytes>>;

/// The thread that last wrote on a client connection (a response extension).
#[derive(Clone)]
struct WriterTid(Arc<AtomicI64>);

/// A client socket that notes the OS thread of each write.
struct TidIo {
    inner: TokioIo<TcpStream>,
    tid: Arc<AtomicI64>,
}

impl Read for TidIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl Write for TidIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.tid.store(gettid(), Ordering::Relaxed);
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.tid.store(gettid(), Ordering::Relaxed);
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Connection for TidIo {
    fn connected(&self) -> Connected {
        self.inner.connected().extra(WriterTid(self.tid.clone()))
    }
}

/// HttpConnector whose sockets are TidIo.
#[derive(Clone)]
struct TidConnector(HttpConnector);

type ConnectError = <HttpConnector as tower_service::Service<Uri>>::Error;

impl tower_service::Service<Uri> for TidConnector {
    type Response = TidIo;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<TidIo, ConnectError>> + Send>>;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        self.0.poll_ready(cx)
    }
    fn call(&mut self, uri: Uri) -> Self::Future {
        let fut = self.0.call(uri);
        Box::pin(async move { Ok(TidIo { inner: fut.await?, tid: Arc::new(AtomicI64::new(0)) }) })
    }
}

struct Ctx {
    role: String,
    back: String,
    client: HttpClient,
    log: Mutex<std::fs::File>,
}

static CTX: OnceLock<Ctx> = OnceLock::new();

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}

fn gettid() -> i64 {
    // SAFETY: SYS_gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i64 }
}

struct Call {
    local: String,
    tid: i64,
    start: i64,
    end: i64,
    status: String,
}

async fn call(ctx: &Ctx, rid: &str) -> Call {
    let mut c = Call { local: String::new(), tid: gettid(), start: now_ns(), end: 0, status: "ok".into() };
    let req = Request::get(format!("http://{}/work", ctx.back))
        .header("X-Request-Id", rid)
        .body(Empty::<Bytes>::new())
        .unwrap();
    match ctx.client.request(req).await {
        Ok(res) => {
            if let Some(info) = res.extensions().get::<HttpInfo>() {
                c.local = info.local_addr().to_string();
            }
            if let Some(w) = res.extensions().get::<WriterTid>() {
                c.tid = w.0.load(Ordering::Relaxed);
            }
            let code = res.status();
            match res.into_body().collect().await {
                Ok(_) if code == 200 => {}
                Ok(_) => c.status = format!("error: HTTP status {}", code.as_u16()),
                Err(e) => c.status = format!("error: body: {e}"),
            }
        }
        Err(e) => c.status = format!("error: {e}"),
    }
    c.end = now_ns();
    c
}

async fn handle(req: Request<Incoming>, peer: SocketAddr, local: SocketAddr) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let ctx = CTX.get().unwrap();
    let start = now_ns();
    let tid = gettid();
    let rid = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let path = req.uri().path().to_string();
    let mut calls = Vec::new();
    let mut status = "ok".to_string();
    if ctx.role == "back" {
        tokio::time::sleep(Duration::from_millis(1)).await;
    } else if path == "/one" {
        calls.push(call(ctx, &rid).await);
    } else if path == "/par" {
        let (a, b) = tokio::join!(call(ctx, &rid), call(ctx, &rid));
        calls.push(a);
        calls.push(b);
        calls.sort_by_key(|c| c.start);
    } else {
        status = format!("error: unknown endpoint {path}");
    }
    if let Some(c) = calls.iter().find(|c| c.status != "ok") {
        status = c.status.clone();
    }
    let code = if status == "ok" { 200 } else if calls.is_empty() { 404 } else { 502 };
    let body = format!("{} {} {}\n", ctx.role, path, if code == 200 { "ok" } else { &status });
    let resp = Response::builder()
        .status(code)
        .header("Content-Type", "text/plain")
        .header("Content-Length", body.len())
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    // The response is written after we return; log its end as now (hyper writes it right away).
    let end = now_ns();
    let mut cs = String::new();
    for (i, c) in calls.iter().enumerate() {
        if i > 0 {
            cs.push(',');
        }
        write!(
            cs,
            r#"{{"target":"back","proto":"http","local":"{}","peer":"{}","tid":{},"start_unix_ns":{},"end_unix_ns":{},"status":{:?}}}"#,
            c.local, ctx.back, c.tid, c.start, c.end, c.status
        )
        .unwrap();
    }
    let line = format!(
        "{{\"rid\":{:?},\"service\":\"{}\",\"design\":\"tokio\",\"pid\":{},\"tid\":{},\"start_unix_ns\":{},\"end_unix_ns\":{},\"peer\":\"{}\",\"local\":\"{}\",\"endpoint\":{:?},\"status\":{:?},\"calls\":[{}]}}\n",
        rid, ctx.role, std::process::id(), tid, start, end, peer, local, path, status, cs
    );
    ctx.log.lock().unwrap().write_all(line.as_bytes()).ok();
    Ok(resp)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: kst-tokio ROLE LISTEN_IP:PORT BACK_IP:PORT TRUTH_DIR");
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(format!("{}/{}.jsonl", args[4], args[1]))
            .expect("truth log");
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(128)
            .build(TidConnector(conn));
        CTX.set(Ctx { role: args[1].clone(), back: args[3].clone(), client, log: Mutex::new(log) })
            .ok()
            .unwrap();
        let listener = TcpListener::bind(&args[2]).await.expect("bind");
        eprintln!("{} listening on {}", args[1], args[2]);
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            stream.set_nodelay(true).ok();
            let local = stream.local_addr().unwrap();
            tokio::spawn(async move {
                let svc = service_fn(move |req| handle(req, peer, local));
                if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await {
                    eprintln!("connection {peer}: {e}");
                }
            });
        }
    });
}
