//! OTLP/HTTP export: [`OtlpPushSink`] turns each trace into OTLP protobuf and puts it on a
//! bounded queue for a sender thread, which batches, gzips, POSTs to the collector and
//! retries with backoff. The analysis never waits for the network: when the queue is full
//! the trace is dropped and counted, and the [`PushReport`] says exactly how many spans were
//! delivered and how many were dropped, and why.

mod deadline;
mod http;
mod report;
mod sender;

pub use report::PushReport;

use self::deadline::Deadline;
use self::sender::{Batching, Item, Sender};
use super::proto::{span_count, trace_resource_spans};
use crate::{OutputContext, TraceSink};
use kspan_engine::{Summary, Trace};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The OTLP/HTTP path of the traces signal, appended to an endpoint given without a path.
pub const TRACES_PATH: &str = "/v1/traces";

/// Where and how to push.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// The collector's traces URL (`http://host:4318/v1/traces`).
    pub url: String,
    /// How long a batch is retried before it is dropped; also about the longest the end of
    /// the analysis waits for the queue to drain.
    pub timeout: Duration,
    /// The most spans waiting on the queue; traces that do not fit are dropped and counted.
    pub queue_spans: usize,
    /// Send a batch once it has this many spans.
    pub batch_spans: usize,
    /// Send a batch this long after its first trace, however small.
    pub batch_delay: Duration,
}

impl PushConfig {
    /// The configuration for `endpoint` (`http://host:port`, with or without a path;
    /// `/v1/traces` is appended when it has none), with OpenTelemetry's usual batching
    /// (512 spans or 1 s) and the given timeout and queue size.
    pub fn new(
        endpoint: &str,
        timeout: Duration,
        queue_spans: usize,
    ) -> Result<PushConfig, String> {
        let rest = endpoint.strip_prefix("http://").ok_or_else(|| {
            format!(
                "the OTLP endpoint `{endpoint}` is not an http:// URL (like http://127.0.0.1:4318)"
            )
        })?;
        let url = match rest.find('/') {
            None => format!("{endpoint}{TRACES_PATH}"),
            Some(slash) if rest[slash..] == *"/" => {
                format!("{}{TRACES_PATH}", endpoint.trim_end_matches('/'))
            }
            Some(_) => endpoint.to_string(),
        };
        Ok(PushConfig {
            url,
            timeout,
            queue_spans: queue_spans.max(1),
            batch_spans: 512,
            batch_delay: Duration::from_secs(1),
        })
    }
}

/// The report of a push, available once its sink has finished.
#[derive(Clone, Default)]
pub struct PushOutcome(Arc<OnceLock<PushReport>>);

impl PushOutcome {
    /// The report, once the sink's `finish` has run.
    pub fn report(&self) -> Option<&PushReport> {
        self.0.get()
    }
}

/// Pushes traces to an OTLP/HTTP collector from a sender thread.
pub struct OtlpPushSink {
    context: OutputContext,
    config: PushConfig,
    queue: mpsc::Sender<Item>,
    queued: Arc<AtomicUsize>,
    deadline: Arc<Deadline>,
    sender: Option<JoinHandle<PushReport>>,
    spans: u64,
    traces: u64,
    dropped_queue_full: u64,
    outcome: PushOutcome,
}

impl OtlpPushSink {
    /// Starts the sender thread; the returned outcome holds the report once the sink has
    /// finished.
    pub fn start(
        config: PushConfig,
        context: OutputContext,
    ) -> io::Result<(OtlpPushSink, PushOutcome)> {
        let (queue, receiver) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let deadline = Arc::new(Deadline::default());
        let sender = Sender {
            collector: http::Collector::new(&config.url),
            queue: receiver,
            queued: Arc::clone(&queued),
            deadline: Arc::clone(&deadline),
            batching: Batching {
                spans: config.batch_spans,
                delay: config.batch_delay,
                timeout: config.timeout,
            },
            report: PushReport::default(),
        };
        let sender = std::thread::Builder::new()
            .name("kspan-otlp-push".into())
            .spawn(move || sender.run())?;
        let outcome = PushOutcome::default();
        let sink = OtlpPushSink {
            context,
            config,
            queue,
            queued,
            deadline,
            sender: Some(sender),
            spans: 0,
            traces: 0,
            dropped_queue_full: 0,
            outcome: outcome.clone(),
        };
        Ok((sink, outcome))
    }
}

impl TraceSink for OtlpPushSink {
    fn trace(&mut self, trace: &Trace) -> io::Result<()> {
        let spans = trace_resource_spans(&self.context, trace);
        let count = span_count(&spans);
        self.spans += count as u64;
        self.traces += 1;
        let queued = self.queued.load(Ordering::Relaxed);
        // A trace bigger than the whole queue still goes when the queue is empty.
        if queued > 0 && queued + count > self.config.queue_spans {
            self.dropped_queue_full += count as u64;
            return Ok(());
        }
        self.queued.fetch_add(count, Ordering::Relaxed);
        if self.queue.send(Item::Trace { spans, count }).is_err() {
            self.dropped_queue_full += count as u64;
        }
        Ok(())
    }

    /// Sends what is queued, waiting at most about the timeout, and makes the report.
    fn finish(&mut self, _summary: &Summary) -> io::Result<()> {
        let Some(sender) = self.sender.take() else {
            return Ok(());
        };
        self.deadline.set(Instant::now() + self.config.timeout);
        // The sender only stops after End; a send fails only if it died, which join shows.
        let _ = self.queue.send(Item::End);
        let sent = sender
            .join()
            .map_err(|_| io::Error::other("the OTLP sender thread failed"))?;
        let report = PushReport {
            endpoint: self.config.url.clone(),
            spans: self.spans,
            traces: self.traces,
            dropped_queue_full: self.dropped_queue_full,
            queue_spans: self.config.queue_spans,
            timeout: self.config.timeout,
            ..sent
        };
        let _ = self.outcome.0.set(report);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kspan_engine::{Activity, Span, SpanId, SpanKind, TraceId};

    fn trace(id: u128, spans: u64) -> Trace {
        let span = |n: u64| Span {
            id: SpanId(id as u64 * 100 + n),
            parent: (n > 0).then(|| SpanId(id as u64 * 100)),
            kind: SpanKind::Server,
            service: "svc".into(),
            pid: 1,
            tid: 1,
            threads: vec![1],
            start: 10,
            end: 20,
            local: None,
            peer: None,
            partial: false,
            error: None,
            link: None,
            activity: Activity::default(),
            opening_offset: 0,
        };
        Trace {
            id: TraceId(id),
            spans: (0..spans).map(span).collect(),
        }
    }

    #[test]
    fn with_no_collector_every_span_is_counted_once_as_dropped_and_the_end_is_bounded() {
        // Port 9 (discard) on loopback: nothing listens there in a test machine.
        let config = PushConfig::new("http://127.0.0.1:9", Duration::from_millis(300), 10).unwrap();
        let (mut sink, outcome) = OtlpPushSink::start(config, OutputContext::default()).unwrap();
        for id in 1..=20 {
            sink.trace(&trace(id, 3)).unwrap();
        }
        let started = Instant::now();
        sink.finish(&Summary::default()).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let report = outcome.report().unwrap();
        assert_eq!(report.spans, 60);
        assert_eq!(report.delivered, 0);
        assert_eq!(report.dropped(), 60);
        assert_eq!((report.traces, report.dropped_traces()), (20, 20));
        assert!(report.dropped_queue_full > 0, "{report:?}");
        assert!(report.dropped_unsent > 0, "{report:?}");
    }

    fn config(endpoint: &str) -> Result<PushConfig, String> {
        PushConfig::new(endpoint, Duration::from_secs(1), 10)
    }

    #[test]
    fn the_traces_path_is_added_to_a_bare_endpoint() {
        assert_eq!(
            config("http://127.0.0.1:4318").unwrap().url,
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            config("http://127.0.0.1:4318/").unwrap().url,
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            config("http://c:4318/otlp/v1/traces").unwrap().url,
            "http://c:4318/otlp/v1/traces"
        );
        assert!(config("https://c:4318")
            .unwrap_err()
            .contains("not an http:// URL"));
    }
}
