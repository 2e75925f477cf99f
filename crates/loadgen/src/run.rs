//! Running a load: one thread per connection, each taking the next request number from a
//! shared counter, pacing it (open loop) and sending it on its keep-alive connection.

use crate::config::{LoadConfig, Pace};
use crate::http::{request_bytes, ExchangeError, Reader};
use kspan_truth::records::LoadgenRecord;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// An open-loop request sent more than this after its due time counts as late.
pub const LATE_SLACK: Duration = Duration::from_millis(1);

/// What happened to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The request's number, from 0.
    pub n: u64,
    /// Its line of `loadgen.jsonl`.
    pub record: LoadgenRecord,
    /// From the first byte sent to the last byte read, when a response was read.
    pub latency: Option<Duration>,
    /// True when it failed by timing out.
    pub timed_out: bool,
    /// True when an open-loop request was sent more than [`LATE_SLACK`] after its due time.
    pub late: bool,
}

/// Runs the load and returns every request's outcome, by request number, and the time from
/// the start to the last answer.
pub fn run_workers(config: &LoadConfig) -> (Vec<Outcome>, Duration) {
    let next = AtomicU64::new(0);
    let start = Instant::now();
    let deadline = config.duration.map(|d| start + d);
    let mut outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..config.connections)
            .map(|_| scope.spawn(|| worker(config, &next, start, deadline)))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let elapsed = start.elapsed();
    outcomes.sort_by_key(|o| o.n);
    (outcomes, elapsed)
}

/// One connection's loop: until the count or the time is used up.
fn worker(
    config: &LoadConfig,
    next: &AtomicU64,
    start: Instant,
    deadline: Option<Instant>,
) -> Vec<Outcome> {
    let mut conn = None;
    let mut outcomes = Vec::new();
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if config.requests.is_some_and(|max| n >= max) {
            break;
        }
        let mut late = false;
        let due = match config.pace {
            Pace::Rate(rate) => start + Duration::from_nanos((n as f64 * 1e9 / rate) as u64),
            Pace::Closed => Instant::now(),
        };
        if deadline.is_some_and(|d| due >= d) {
            break;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else {
            late = now - due > LATE_SLACK;
        }
        let mut outcome = send(config, n, &mut conn);
        outcome.late = late;
        outcomes.push(outcome);
    }
    outcomes
}

/// Sends request `n` on `conn` (connecting first when there is none) and reads its answer;
/// drops the connection after a failure or when the server closes it. A request that a reused
/// connection drops unanswered (the server had closed it as idle) is sent once more on a new
/// connection.
fn send(config: &LoadConfig, n: u64, conn: &mut Option<Reader<TcpStream>>) -> Outcome {
    let deadline = Instant::now() + config.timeout;
    let rid = config.rid(n);
    let path = config.mix.path(n);
    let request = request_bytes(path, &config.host, &rid);
    let mut record = LoadgenRecord {
        rid,
        endpoint: path.to_string(),
        local: None,
        peer: config.target,
        start_unix_ns: unix_now_ns(),
        end_unix_ns: 0,
        status: 0,
        error: None,
    };
    let mut attempt = |conn: &mut Option<Reader<TcpStream>>| {
        connected(config, conn).and_then(|reader| {
            record.local = reader.stream().local_addr().ok();
            record.start_unix_ns = unix_now_ns();
            let sent = Instant::now();
            let response = reader.exchange(&request, deadline)?;
            Ok((response, sent.elapsed()))
        })
    };
    let reused = conn.is_some();
    let mut result = attempt(conn);
    if reused && matches!(result, Err(ExchangeError::NoAnswer(_))) {
        *conn = None;
        result = attempt(conn);
    }
    record.end_unix_ns = unix_now_ns();
    let mut outcome = Outcome {
        n,
        latency: None,
        timed_out: false,
        late: false,
        record,
    };
    match result {
        Ok((response, latency)) => {
            outcome.record.status = response.status;
            outcome.latency = Some(latency);
            if !response.keep_alive {
                *conn = None;
            }
        }
        Err(err) => {
            outcome.timed_out = matches!(err, ExchangeError::Timeout);
            outcome.record.error = Some(err.to_string());
            *conn = None;
        }
    }
    outcome
}

/// The open connection, connecting first when there is none.
fn connected<'a>(
    config: &LoadConfig,
    conn: &'a mut Option<Reader<TcpStream>>,
) -> Result<&'a mut Reader<TcpStream>, ExchangeError> {
    let reader = match conn.take() {
        Some(reader) => reader,
        None => {
            let stream =
                TcpStream::connect_timeout(&config.target, config.timeout).map_err(|err| {
                    match ExchangeError::from(err) {
                        ExchangeError::Io(err) => ExchangeError::Io(std::io::Error::new(
                            err.kind(),
                            format!("connect to {}: {err}", config.target),
                        )),
                        other => other,
                    }
                })?;
            stream.set_nodelay(true)?;
            Reader::new(stream)
        }
    };
    Ok(conn.insert(reader))
}

/// CLOCK_REALTIME in ns since the Unix epoch.
fn unix_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
