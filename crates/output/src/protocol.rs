//! Spans named by protocol: the payload heads of the message that opened a span and of the
//! answer that followed on its socket, parsed by kspan-protocol into OpenTelemetry names
//! (`GET /compose`, `SET`, `SELECT`) and attributes (`http.request.method`, `url.path`,
//! `http.response.status_code`, `db.system`, `db.operation.name`, `db.query.text`).
//!
//! A client span's head is what its thread sent first at or after the span's start; a
//! server span's is what its thread read first (else, when it is linked by bytes to a span
//! at the other end, that span's: the same bytes); read from where the span's bytes start
//! in it (a pipeline's later commands). HTTP/2 requests are named from the
//! HEADERS frames of that head (gRPC calls when their `:path` is sent as a literal). The
//! answer is the first message the other way on the same descriptor of the same process
//! before the span ends.

use kspan_engine::{Evidence, Span, SpanKind, Trace};
use kspan_heads::{Direction, Head, HeadTable};
use kspan_protocol::{AttributeValue, Message, MysqlReply};

/// What the heads say about one span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanProtocol {
    /// The request that opened the span.
    pub request: Message,
    /// The answer, when it parsed (an HTTP status line, a MySQL reply).
    pub response: Option<Message>,
}

impl SpanProtocol {
    /// The span's name per the conventions (`GET /compose`).
    pub fn name(&self) -> Option<String> {
        self.request.span_name()
    }

    /// The attributes of the request and of the answer.
    pub fn attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        let mut attributes = self.request.attributes();
        attributes.extend(self.response.iter().flat_map(Message::attributes));
        attributes
    }

    /// The error the answer means for a span of `kind`, as the span status message: an
    /// HTTP status of 5xx for a server, 4xx and 5xx for a client (OpenTelemetry's rule); a
    /// MySQL ERR packet for either.
    pub fn status_error(&self, kind: SpanKind) -> Option<String> {
        match self.response {
            Some(Message::HttpResponse { status }) => {
                let floor = match kind {
                    SpanKind::Server => 500,
                    SpanKind::Client => 400,
                };
                (status >= floor).then(|| format!("HTTP status {status}"))
            }
            Some(Message::MysqlReply(MysqlReply::Error { code })) => {
                Some(format!("MySQL error {code}"))
            }
            _ => None,
        }
    }
}

/// The head that opened `span`, by its own thread.
fn opening_head<'h>(heads: &'h HeadTable, span: &Span) -> Option<&'h Head> {
    let dir = match span.kind {
        SpanKind::Client => Direction::Send,
        SpanKind::Server => Direction::Recv,
    };
    heads.first_of_thread(span.tid, dir, span.start, span.end)
}

/// The request `head` opens at `offset` (where a span's bytes start in its syscall's:
/// the second command of a pipelined write): its own bytes from there parsed, or, when
/// they are all its syscall read or sent and are no request alone, followed by the next
/// head on the same socket in the same direction before `to` (a server that reads a
/// message's header, then its body: MariaDB reads a packet's 4-byte header first).
fn request_at(heads: &HeadTable, head: &Head, offset: u64, to: u64) -> Option<Message> {
    let bytes = head.bytes.get(usize::try_from(offset).ok()?..)?;
    let alone = request_in(bytes);
    if alone.is_some() || offset > 0 || i64::try_from(bytes.len()).ok() != Some(head.ret) {
        return alone;
    }
    let dir = head.kind.direction();
    let next = heads.next_on_socket(head.tgid, head.fd, dir, head.exit_ns, to)?;
    request_in(&[head.bytes.as_slice(), &next.bytes].concat())
}

/// The request `bytes` start with: a message of a known protocol, or the request the
/// HTTP/2 HEADERS frames among them open (a gRPC call when its `:path` is a literal).
fn request_in(bytes: &[u8]) -> Option<Message> {
    kspan_protocol::parse(bytes)
        .filter(Message::is_request)
        .or_else(|| kspan_protocol::h2::request(bytes))
}

/// The span at the other end of `span`'s bytes: for a server span linked by bytes, its
/// client parent; for a client span, its server child linked by bytes. Both moved the
/// same request, one sending, one reading it.
fn other_end<'t>(trace: &'t Trace, span: &Span) -> Option<&'t Span> {
    let by_bytes = |s: &Span| s.link.is_some_and(|l| l.evidence == Evidence::Bytes);
    match span.kind {
        SpanKind::Server => trace
            .spans
            .iter()
            .find(|s| Some(s.id) == span.parent && s.kind == SpanKind::Client)
            .filter(|_| by_bytes(span)),
        SpanKind::Client => trace
            .spans
            .iter()
            .find(|s| s.parent == Some(span.id) && s.kind == SpanKind::Server && by_bytes(s)),
    }
}

/// The protocol of `span` of `trace`, when its opening message's head parses as a request.
pub fn span_protocol(heads: &HeadTable, trace: &Trace, span: &Span) -> Option<SpanProtocol> {
    let own = opening_head(heads, span);
    let request = own
        .and_then(|head| request_at(heads, head, span.opening_offset, span.end))
        .or_else(|| {
            // The span's own head was not captured or not understood: the other end's is
            // the same bytes (a client's send whose head shows only its first iovec, a
            // server's read that starts with the header alone).
            let other = other_end(trace, span)?;
            let head = opening_head(heads, other)?;
            request_at(heads, head, other.opening_offset, other.end)
        })?;
    let response = own.and_then(|head| {
        let answer_dir = match head.kind.direction() {
            Direction::Send => Direction::Recv,
            Direction::Recv => Direction::Send,
        };
        let answer =
            heads.next_on_socket(head.tgid, head.fd, answer_dir, head.exit_ns, span.end)?;
        kspan_protocol::parse_answer(&request, &answer.bytes)
    });
    Some(SpanProtocol { request, response })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kspan_engine::{Activity, Link, SpanId, TraceId};
    use kspan_heads::SyscallKind;

    fn head(tid: i32, fd: i32, enter_ns: u64, kind: SyscallKind, bytes: &[u8]) -> Head {
        Head {
            enter_ns,
            exit_ns: enter_ns + 2,
            ret: bytes.len() as i64,
            tgid: tid,
            tid,
            fd,
            kind,
            bytes: bytes.to_vec(),
        }
    }

    fn span(id: u64, parent: Option<u64>, kind: SpanKind, tid: i32, start: u64, end: u64) -> Span {
        Span {
            id: SpanId(id),
            parent: parent.map(SpanId),
            kind,
            service: "svc".into(),
            pid: tid,
            tid,
            threads: vec![tid],
            start,
            end,
            local: None,
            peer: None,
            partial: false,
            error: None,
            link: parent.map(|_| Link {
                evidence: Evidence::Bytes,
                candidates: 1,
                confidence: 1.0,
            }),
            activity: Activity::default(),
            opening_offset: 0,
        }
    }

    #[test]
    fn client_and_server_spans_get_request_and_status() {
        let heads = HeadTable::new(vec![
            head(
                1,
                5,
                100,
                SyscallKind::Sendto,
                b"GET /compose?u=1 HTTP/1.1\r\n",
            ),
            head(1, 5, 400, SyscallKind::Recvfrom, b"HTTP/1.1 503 Busy\r\n"),
            head(2, 9, 150, SyscallKind::Sendto, b"HTTP/1.1 503 Busy\r\n"),
        ]);
        let trace = Trace {
            id: TraceId(1),
            spans: vec![
                span(1, None, SpanKind::Client, 1, 100, 410),
                span(2, Some(1), SpanKind::Server, 2, 120, 160),
            ],
        };
        let client = span_protocol(&heads, &trace, &trace.spans[0]).unwrap();
        assert_eq!(client.name().as_deref(), Some("GET /compose"));
        assert_eq!(client.response, Some(Message::HttpResponse { status: 503 }));
        assert_eq!(
            client.status_error(SpanKind::Client).as_deref(),
            Some("HTTP status 503")
        );
        // The server's read was not captured: it takes its caller's bytes, without status.
        let server = span_protocol(&heads, &trace, &trace.spans[1]).unwrap();
        assert_eq!(server.request, client.request);
        assert_eq!(server.response, None);
        // No head at all: no protocol.
        let lone = span(3, None, SpanKind::Server, 7, 0, 1000);
        assert_eq!(span_protocol(&heads, &trace, &lone), None);
    }

    #[test]
    fn a_mysql_query_is_named_and_its_error_fails_the_span() {
        let query = b"\x1a\0\0\0\x03SELECT * FROM t WHERE a=1";
        let error = b"\x17\0\0\x01\xff\x7a\x04#42S02Table 't' doesn't exist";
        let ok = b"\x07\0\0\x01\0\0\0\x02\0\0\0";
        let heads = HeadTable::new(vec![
            head(1, 5, 100, SyscallKind::Write, query),
            head(1, 5, 300, SyscallKind::Read, error),
            // The server reads the packet's header, then its body.
            head(2, 9, 150, SyscallKind::Read, &query[..4]),
            head(2, 9, 160, SyscallKind::Read, &query[4..]),
            head(2, 9, 200, SyscallKind::Write, ok),
        ]);
        let mut trace = Trace {
            id: TraceId(1),
            spans: vec![
                span(1, None, SpanKind::Client, 1, 100, 310),
                span(2, Some(1), SpanKind::Server, 2, 150, 210),
            ],
        };
        // Not linked by bytes: the server's name is from its own two reads alone.
        trace.spans[1].link = None;
        let client = span_protocol(&heads, &trace, &trace.spans[0]).unwrap();
        assert_eq!(client.name().as_deref(), Some("SELECT"));
        assert_eq!(
            client.attributes(),
            vec![
                ("db.system", AttributeValue::Str("mysql".into())),
                ("db.operation.name", AttributeValue::Str("SELECT".into())),
                (
                    "db.query.text",
                    AttributeValue::Str("SELECT * FROM t WHERE a=?".into())
                ),
                (
                    "db.response.status_code",
                    AttributeValue::Str("1146".into())
                ),
            ]
        );
        assert_eq!(
            client.status_error(SpanKind::Client).as_deref(),
            Some("MySQL error 1146")
        );
        let server = span_protocol(&heads, &trace, &trace.spans[1]).unwrap();
        assert_eq!(server.request, client.request);
        assert_eq!(server.response, Some(Message::MysqlReply(MysqlReply::Ok)));
        assert_eq!(server.status_error(SpanKind::Server), None);
    }

    #[test]
    fn a_grpc_call_is_named_by_the_literal_path_either_end_shows() {
        // A HEADERS frame (stream 1) of a first call: :method POST, :scheme http, then
        // :path /kst.Back/Work as a Huffman literal with incremental indexing.
        let block = b"\x83\x86\x44\x8b\x63\xaa\x12\xbd\xd1\x93\xab\x1c\x8f\x67\x5f";
        let mut frame = vec![0, 0, block.len() as u8, 1, 4, 0, 0, 0, 1];
        frame.extend_from_slice(block);
        // The same path again, by reference to the dynamic table (stream 3).
        let again = [0, 0, 3, 1, 4, 0, 0, 0, 3, 0x83, 0x86, 0xbe];
        let heads = HeadTable::new(vec![
            // The client's sendmsg: its first iovec shows the frame header and 2 bytes.
            head(1, 5, 100, SyscallKind::Sendmsg, &frame[..11]),
            head(2, 9, 150, SyscallKind::Recvmsg, &frame),
            head(1, 5, 500, SyscallKind::Sendmsg, &again),
            head(2, 9, 550, SyscallKind::Recvmsg, &again),
        ]);
        let trace = Trace {
            id: TraceId(1),
            spans: vec![
                span(1, None, SpanKind::Client, 1, 100, 400),
                span(2, Some(1), SpanKind::Server, 2, 150, 300),
                span(3, None, SpanKind::Client, 1, 500, 800),
                span(4, Some(3), SpanKind::Server, 2, 550, 700),
            ],
        };
        let named = |n: usize| span_protocol(&heads, &trace, &trace.spans[n]);
        let client = named(0).expect("named by its server's read");
        assert_eq!(client.name().as_deref(), Some("kst.Back/Work"));
        assert_eq!(
            client.attributes(),
            vec![
                ("rpc.system", AttributeValue::Str("grpc".into())),
                ("rpc.service", AttributeValue::Str("kst.Back".into())),
                ("rpc.method", AttributeValue::Str("Work".into())),
            ]
        );
        assert_eq!(named(1).map(|p| p.request), Some(client.request));
        // By reference: the dynamic table is not rebuilt, the spans keep generic names.
        assert_eq!((named(2), named(3)), (None, None));
    }
}
