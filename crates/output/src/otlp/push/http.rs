//! One OTLP/HTTP export request: the batch encoded as protobuf, gzipped, POSTed to the
//! collector, and the answer sorted into accepted, worth retrying, or refused.

use crate::otlp::proto::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;
use std::io::Write;
use std::time::Duration;

/// What the collector made of one request.
#[derive(Debug, PartialEq)]
pub(super) enum Answer {
    /// Taken; the collector may have rejected some of its spans (OTLP partial success).
    Accepted {
        /// Spans the collector said it rejected.
        rejected: u64,
    },
    /// Not taken, but may be later: connection failed, timed out, or 429/502/503/504.
    Retry {
        /// Why, in a few words.
        error: String,
        /// How long the collector asked to wait (`Retry-After`), when it did.
        after: Option<Duration>,
    },
    /// Refused for good (any other status): retrying would not help.
    Refused {
        /// Why, in a few words.
        error: String,
    },
}

/// The collector's OTLP/HTTP traces endpoint.
pub(super) struct Collector {
    agent: ureq::Agent,
    url: String,
}

/// The HTTP statuses OTLP/HTTP says a client should retry.
fn retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// `request` as the body of an OTLP/HTTP request: protobuf, gzipped.
pub(super) fn encode(request: &ExportTraceServiceRequest) -> Vec<u8> {
    let mut gzip = GzEncoder::new(Vec::new(), Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = gzip.write_all(&request.encode_to_vec());
    gzip.finish().unwrap_or_default()
}

/// The spans an OTLP response body says were rejected (0 for an empty or unreadable body).
fn rejected_spans(body: &[u8]) -> u64 {
    ExportTraceServiceResponse::decode(body)
        .ok()
        .and_then(|r| r.partial_success)
        .map_or(0, |p| p.rejected_spans.max(0) as u64)
}

impl Collector {
    /// A client for `url` (the full URL, path included).
    pub(super) fn new(url: &str) -> Collector {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Collector {
            agent,
            url: url.to_string(),
        }
    }

    /// POSTs `body` (from [`encode`]), giving up on the request after `timeout`.
    pub(super) fn post(&self, body: &[u8], timeout: Duration) -> Answer {
        let sent = self
            .agent
            .post(&self.url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "gzip")
            .send(body);
        let mut response = match sent {
            Ok(response) => response,
            Err(e) => {
                return Answer::Retry {
                    error: e.to_string(),
                    after: None,
                }
            }
        };
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            let body = response.body_mut().read_to_vec().unwrap_or_default();
            return Answer::Accepted {
                rejected: rejected_spans(&body),
            };
        }
        let error = format!("HTTP {status}");
        if retryable(status) {
            let after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            Answer::Retry { error, after }
        } else {
            Answer::Refused { error }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;
    use std::io::Read;

    #[test]
    fn a_body_is_the_gzipped_protobuf_request() {
        let request = ExportTraceServiceRequest::default();
        let mut plain = Vec::new();
        GzDecoder::new(&encode(&request)[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(
            ExportTraceServiceRequest::decode(&plain[..]).unwrap(),
            request
        );
    }

    #[test]
    fn partial_success_counts_the_rejected_spans() {
        let response = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "too old".into(),
            }),
        };
        assert_eq!(rejected_spans(&response.encode_to_vec()), 3);
        assert_eq!(rejected_spans(b""), 0);
    }

    #[test]
    fn only_overload_and_gateway_statuses_are_retried() {
        assert!(retryable(503) && retryable(429) && retryable(502) && retryable(504));
        assert!(!retryable(400) && !retryable(404) && !retryable(500));
    }

    #[test]
    fn a_closed_port_is_worth_retrying() {
        // Port 9 (discard) on loopback: nothing listens there in a test machine.
        let answer = Collector::new("http://127.0.0.1:9/v1/traces").post(
            &encode(&ExportTraceServiceRequest::default()),
            Duration::from_secs(2),
        );
        assert!(
            matches!(answer, Answer::Retry { after: None, .. }),
            "{answer:?}"
        );
    }
}
