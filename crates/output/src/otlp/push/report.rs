//! What an OTLP push delivered and what it dropped, with exact counts.

use std::fmt;
use std::time::Duration;

/// The outcome of pushing an analysis's spans to a collector. Every span handed to the sink
/// is counted exactly once: delivered, or dropped for one of three reasons; every trace is
/// counted as delivered (sent in a request the collector took) or dropped (none of its
/// spans reached the collector, or its whole request was refused).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// The collector's URL.
    pub endpoint: String,
    /// Spans handed to the sink.
    pub spans: u64,
    /// Traces handed to the sink.
    pub traces: u64,
    /// Spans the collector took and did not reject.
    pub delivered: u64,
    /// Traces sent in requests the collector took (some of their spans may be among those
    /// its answer rejected).
    pub traces_delivered: u64,
    /// Export requests the collector took.
    pub requests: u64,
    /// Requests sent again after a failure.
    pub retries: u64,
    /// Spans dropped because the queue was full (the collector slower than the analysis).
    pub dropped_queue_full: u64,
    /// Spans not sent in time: their batch failed for the whole timeout, or they were still
    /// queued or being retried when the wait at the end ran out.
    pub dropped_unsent: u64,
    /// Spans the collector refused (a status not worth retrying, or a partial success).
    pub rejected: u64,
    /// The queue's size, in spans.
    pub queue_spans: usize,
    /// How long a batch is retried.
    pub timeout: Duration,
    /// The last failure the collector or the network reported.
    pub last_error: Option<String>,
}

impl PushReport {
    /// Spans that did not reach the collector.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_unsent + self.rejected
    }

    /// Traces the collector got no request with: dropped from the queue, not sent in
    /// time, or refused whole.
    pub fn dropped_traces(&self) -> u64 {
        self.traces - self.traces_delivered
    }
}

impl fmt::Display for PushReport {
    /// One sentence: what was sent, or how many spans were dropped and why.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dropped = self.dropped();
        if dropped == 0 {
            return write!(
                f,
                "OTLP: {} spans ({} traces) sent to {} in {} requests ({} retried)",
                self.delivered, self.traces_delivered, self.endpoint, self.requests, self.retries
            );
        }
        let mut why = Vec::new();
        if self.dropped_queue_full > 0 {
            why.push(format!(
                "{} did not fit the queue of {} spans",
                self.dropped_queue_full, self.queue_spans
            ));
        }
        if self.dropped_unsent > 0 {
            why.push(format!(
                "{} could not be sent within the {:?} timeout",
                self.dropped_unsent, self.timeout
            ));
        }
        if self.rejected > 0 {
            why.push(format!("{} were refused by the collector", self.rejected));
        }
        write!(
            f,
            "OTLP: {dropped} of {} spans ({} of {} traces) were not delivered to {} ({}",
            self.spans,
            self.dropped_traces(),
            self.traces,
            self.endpoint,
            why.join(", ")
        )?;
        if let Some(error) = &self.last_error {
            write!(f, "; last error: {error}")?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> PushReport {
        PushReport {
            endpoint: "http://127.0.0.1:4318/v1/traces".into(),
            queue_spans: 100,
            timeout: Duration::from_secs(2),
            ..Default::default()
        }
    }

    #[test]
    fn a_full_delivery_is_one_sentence_of_counts() {
        let r = PushReport {
            spans: 5,
            traces: 2,
            delivered: 5,
            traces_delivered: 2,
            requests: 1,
            retries: 2,
            ..report()
        };
        assert_eq!(
            r.to_string(),
            "OTLP: 5 spans (2 traces) sent to http://127.0.0.1:4318/v1/traces in 1 requests (2 \
             retried)"
        );
    }

    #[test]
    fn drops_say_how_many_and_why() {
        let r = PushReport {
            spans: 10,
            traces: 4,
            dropped_queue_full: 4,
            dropped_unsent: 6,
            last_error: Some("connection refused".into()),
            ..report()
        };
        assert_eq!(r.dropped(), 10);
        assert_eq!(r.dropped_traces(), 4);
        assert_eq!(
            r.to_string(),
            "OTLP: 10 of 10 spans (4 of 4 traces) were not delivered to \
             http://127.0.0.1:4318/v1/traces (4 did \
             not fit the queue of 100 spans, 6 could not be sent within the 2s timeout; last \
             error: connection refused)"
        );
    }
}
