//! Redis pipelines on the real kernel: a Python HTTP server whose handler calls a real
//! redis-server over one connection per request, with one command (`/one`), a pipeline of
//! five commands written one write each (`/writes`), and the same five in one write
//! (`/batch`), fetched by curl, all recorded in a network namespace of the test. Each
//! command is a store span of its own (a client span under the handler's server span, with
//! redis-server's server span under it), named by its command; with the default 64-byte
//! heads, commands whose end a head does not show stay with the last one it shows. Needs
//! root, tracefs, python3, curl and redis-server.

mod common;

use common::{analyze_to, record_in_netns_with};
use kspan_testsupport::{Netns, Scratch};

/// The handler: a connection to redis per request, then `/one`, `/writes` or `/batch`
/// (anything else); replies are read until every command has its own.
const CLIENT: &str = r#"
import http.server, socket

def cmd(*args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)

PIPE = [cmd(b"SET", b"k", b"v"), cmd(b"GET", b"k"), cmd(b"INCR", b"n"), cmd(b"INCR", b"n"),
        cmd(b"GET", b"n")]

def reply_end(buf, at):
    line = buf.find(b"\r\n", at)
    if line < 0:
        return None
    kind, text = buf[at:at + 1], buf[at + 1:line]
    if kind == b"$":
        end = line + 2 + max(int(text) + 2, 0)
        return end if end <= len(buf) else None
    if kind == b"*":
        end = line + 2
        for _ in range(max(int(text), 0)):
            end = reply_end(buf, end)
            if end is None:
                return None
        return end
    return line + 2

def replies(sock, k):
    buf, at = b"", 0
    while k:
        end = reply_end(buf, at)
        if end is None:
            buf += sock.recv(65536)
            continue
        at, k = end, k - 1

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        r = socket.create_connection(("127.0.0.1", 16379))
        if self.path == "/one":
            r.sendall(cmd(b"SET", b"base", b"1"))
            replies(r, 1)
        elif self.path == "/writes":
            for c in PIPE:
                r.sendall(c)
            replies(r, len(PIPE))
        else:
            r.sendall(b"".join(PIPE))
            replies(r, len(PIPE))
        r.close()
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", 18091), Handler).serve_forever()
"#;

/// The commands of the pipeline, in order.
const PIPELINE: [&str; 5] = ["SET", "GET", "INCR", "INCR", "GET"];

/// The script: redis-server and the handler in `dir`, then curl on each path once.
fn script(dir: &str) -> String {
    format!(
        "cd {dir} && redis-server --port 16379 --bind 127.0.0.1 --save '' --appendonly no \
         >redis.log 2>&1 & R=$!; python3 {dir}/client.py & P=$!; \
         for i in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:18091/one && break; \
         sleep 0.1; done; \
         curl -sf -o /dev/null http://127.0.0.1:18091/writes; \
         curl -sf -o /dev/null http://127.0.0.1:18091/batch; kill $P $R; wait"
    )
}

/// One span of the OTLP document.
#[derive(Debug, Clone)]
struct Span {
    id: String,
    parent: Option<String>,
    name: String,
    kind: i64,
    start: u64,
    redis: bool,
    bytes: (i64, i64),
}

/// The spans of the OTLP document at `path`, in document order.
fn spans(path: &std::path::Path) -> Vec<Span> {
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for resource in doc["resourceSpans"].as_array().unwrap() {
        for s in resource["scopeSpans"][0]["spans"].as_array().unwrap() {
            let attribute = |key: &str| {
                s["attributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|a| a["key"] == key)
                    .map(|a| a["value"].clone())
            };
            let int = |key: &str| {
                attribute(key).map_or(0, |v| v["intValue"].as_str().unwrap().parse().unwrap())
            };
            out.push(Span {
                id: s["spanId"].as_str().unwrap().to_string(),
                parent: s["parentSpanId"].as_str().map(str::to_string),
                name: s["name"].as_str().unwrap().to_string(),
                kind: s["kind"].as_i64().unwrap(),
                start: s["startTimeUnixNano"].as_str().unwrap().parse().unwrap(),
                redis: attribute("db.system").is_some_and(|v| v["stringValue"] == "redis"),
                bytes: (int("kspan.bytes.out"), int("kspan.bytes.in")),
            });
        }
    }
    out
}

/// The store calls (client spans) under the handler's server span of `GET path`, in
/// start order (byte order for one write), each checked to have exactly one redis-server
/// span of the same name under it: (name, bytes out, bytes in).
fn calls_of(spans: &[Span], path: &str) -> Vec<(String, (i64, i64))> {
    let name = format!("GET {path}");
    let handler: Vec<&Span> = spans
        .iter()
        .filter(|s| s.kind == 2 && s.name == name)
        .collect();
    assert_eq!(handler.len(), 1, "{name}: {spans:#?}");
    let mut calls: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent.as_ref() == Some(&handler[0].id))
        .collect();
    calls.sort_by_key(|s| s.start);
    calls
        .into_iter()
        .map(|call| {
            assert!(call.kind == 3 && call.redis, "{call:?}");
            let served: Vec<&Span> = spans
                .iter()
                .filter(|s| s.parent.as_ref() == Some(&call.id))
                .collect();
            assert_eq!(served.len(), 1, "{call:?}");
            assert!(served[0].kind == 2 && served[0].redis && served[0].name == call.name);
            (call.name.clone(), call.bytes)
        })
        .collect()
}

/// Records the script with `extra` recorder arguments and returns its spans.
fn record(tag: &str, extra: &[&str]) -> Vec<Span> {
    let netns = Netns::new(tag);
    let scratch = Scratch::new(tag);
    std::fs::write(scratch.join("client.py"), CLIENT).unwrap();
    let recording = scratch.join("redis.dat");
    record_in_netns_with(
        &recording,
        extra,
        &netns,
        &script(scratch.path().to_str().unwrap()),
    );
    let otlp = scratch.join("redis.otlp.json");
    analyze_to(&recording, "otlp-json", &otlp);
    spans(&otlp)
}

/// Names of `calls`.
fn names(calls: &[(String, (i64, i64))]) -> Vec<&str> {
    calls.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn each_command_of_a_pipeline_is_a_store_span_of_its_own() {
    let spans = record("cli-redis", &["--payload-bytes", "256"]);
    assert_eq!(names(&calls_of(&spans, "/one")), ["SET"]);
    let writes = calls_of(&spans, "/writes");
    assert_eq!(names(&writes), PIPELINE);
    // Each command's bytes and its own reply's: +OK, $1 v, :1, :2, $1 2.
    let bytes: Vec<(i64, i64)> = writes.iter().map(|(_, b)| *b).collect();
    assert_eq!(bytes, [(27, 5), (20, 7), (21, 4), (21, 4), (20, 7)]);
    let batch = calls_of(&spans, "/batch");
    assert_eq!(names(&batch), PIPELINE);
    let bytes: Vec<(i64, i64)> = batch.iter().map(|(_, b)| *b).collect();
    assert_eq!(bytes, [(27, 5), (20, 7), (21, 4), (21, 4), (20, 7)]);
    // 11 commands: a client and a server span each, nothing else named by redis.
    assert_eq!(spans.iter().filter(|s| s.redis).count(), 22);
}

#[test]
fn commands_past_a_64_byte_head_stay_with_the_last_it_shows() {
    let spans = record("cli-redis64", &[]);
    // One command per write: each head shows its command.
    assert_eq!(names(&calls_of(&spans, "/writes")), PIPELINE);
    // One write of 109 bytes: the head shows SET and GET whole and where INCR starts, so
    // INCR, INCR and GET are one span, with all three replies.
    let batch = calls_of(&spans, "/batch");
    assert_eq!(
        batch,
        [
            ("SET".to_string(), (27, 5)),
            ("GET".to_string(), (20, 7)),
            ("INCR".to_string(), (62, 15))
        ]
    );
}
