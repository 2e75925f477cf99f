//! The sender thread: takes traces off the queue into batches (so many spans, or so long
//! after a batch's first trace) and exports each with retries and exponential backoff,
//! counting exactly what was delivered and what was dropped.

use super::deadline::Deadline;
use super::http::{encode, Answer, Collector};
use super::PushReport;
use crate::otlp::proto::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The first wait before a retry; it doubles after each failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The least time a request is given, even when its batch's time is nearly up: a request
/// cut short by kspan's own timeout may still have reached the collector, which would make
/// a span counted as dropped arrive all the same.
const MIN_ATTEMPT: Duration = Duration::from_secs(1);

/// What the sink puts on the queue.
pub(super) enum Item {
    /// One trace's spans, grouped per service.
    Trace {
        /// The spans.
        spans: Vec<ResourceSpans>,
        /// How many spans they are.
        count: usize,
    },
    /// The analysis is over: send what is left, then stop.
    End,
}

/// When to send a batch and how long to retry it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Batching {
    /// Send a batch once it has this many spans.
    pub spans: usize,
    /// Send a batch this long after its first trace, however small.
    pub delay: Duration,
    /// Retry a batch for this long before dropping it.
    pub timeout: Duration,
}

/// Spans waiting to be sent together.
#[derive(Default)]
struct Batch {
    spans: Vec<ResourceSpans>,
    count: usize,
    traces: u64,
    started: Option<Instant>,
}

impl Batch {
    fn add(&mut self, spans: Vec<ResourceSpans>, count: usize) {
        self.started.get_or_insert_with(Instant::now);
        self.spans.extend(spans);
        self.count += count;
        self.traces += 1;
    }
}

/// The sender's side of the queue, and what it has counted so far.
pub(super) struct Sender {
    pub(super) collector: Collector,
    pub(super) queue: Receiver<Item>,
    /// Spans on the queue (the sink adds, the sender takes off).
    pub(super) queued: Arc<AtomicUsize>,
    pub(super) deadline: Arc<Deadline>,
    pub(super) batching: Batching,
    pub(super) report: PushReport,
}

impl Sender {
    /// Runs until the sink says the analysis is over (or is dropped), then returns the
    /// counts of what it sent and dropped.
    pub(super) fn run(mut self) -> PushReport {
        let mut batch = Batch::default();
        loop {
            let item = match batch.started {
                None => self.queue.recv().ok(),
                Some(started) => {
                    let due =
                        (started + self.batching.delay).saturating_duration_since(Instant::now());
                    match self.queue.recv_timeout(due) {
                        Ok(item) => Some(item),
                        Err(RecvTimeoutError::Timeout) => {
                            self.export(std::mem::take(&mut batch));
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => None,
                    }
                }
            };
            match item {
                Some(Item::Trace { spans, count }) => {
                    self.queued.fetch_sub(count, Ordering::Relaxed);
                    batch.add(spans, count);
                    if batch.count >= self.batching.spans {
                        self.export(std::mem::take(&mut batch));
                    }
                }
                Some(Item::End) | None => {
                    self.export(batch);
                    return self.report;
                }
            }
        }
    }

    /// Sends `batch`, retrying with backoff until it is taken, refused, or its time (the
    /// timeout, or the deadline once the analysis is over) runs out; a request started in
    /// time gets at least [`MIN_ATTEMPT`] to be answered.
    fn export(&mut self, batch: Batch) {
        let (count, traces) = (batch.count as u64, batch.traces);
        if count == 0 {
            return;
        }
        let body = encode(&ExportTraceServiceRequest {
            resource_spans: batch.spans,
        });
        let give_up = Instant::now() + self.batching.timeout;
        let mut backoff = FIRST_BACKOFF;
        for attempt in 0.. {
            let stop = self.deadline.get().map_or(give_up, |d| d.min(give_up));
            let now = Instant::now();
            if now >= stop {
                self.report.dropped_unsent += count;
                return;
            }
            if attempt > 0 {
                self.report.retries += 1;
            }
            match self.collector.post(&body, (stop - now).max(MIN_ATTEMPT)) {
                Answer::Accepted { rejected } => {
                    let rejected = rejected.min(count);
                    self.report.requests += 1;
                    self.report.delivered += count - rejected;
                    self.report.traces_delivered += traces;
                    self.report.rejected += rejected;
                    return;
                }
                Answer::Refused { error } => {
                    self.report.rejected += count;
                    self.report.last_error = Some(error);
                    return;
                }
                Answer::Retry { error, after } => {
                    self.report.last_error = Some(error);
                    let wait = after.unwrap_or(backoff).min(MAX_BACKOFF);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    self.deadline.sleep_until((Instant::now() + wait).min(stop));
                }
            }
        }
    }
}
