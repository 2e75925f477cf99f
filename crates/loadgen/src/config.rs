//! What a load run does: where, which paths, how fast, for how long.

use crate::error::LoadError;
use crate::mix::Mix;
use std::net::SocketAddr;
use std::time::Duration;

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Open loop: request `n` is due at `n / rate` seconds after the start, whatever the
    /// responses do; a request that finds every connection busy at its due time is sent as
    /// soon as one frees and counted late.
    Rate(f64),
    /// Closed loop: every connection sends its next request as soon as the previous answer
    /// is read.
    Closed,
}

/// A load run's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadConfig {
    /// The server (the gateway).
    pub target: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// Which path each request asks for.
    pub mix: Mix,
    /// Open or closed loop.
    pub pace: Pace,
    /// Keep-alive connections (the pool of an open-loop run, the clients of a closed-loop one).
    pub connections: usize,
    /// Stop sending once this long has passed since the start (requests in flight finish).
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    pub requests: Option<u64>,
    /// A request not answered this long after it was sent fails as a timeout.
    pub timeout: Duration,
    /// Request ids are this prefix and the request's number from 1, six digits (`r-000001`).
    pub rid_prefix: String,
}

impl LoadConfig {
    /// A closed-loop run of one connection to `target` asking for `/`, bounded by nothing
    /// yet: set `duration` or `requests` before running it.
    pub fn new(target: SocketAddr) -> LoadConfig {
        LoadConfig {
            target,
            host: target.to_string(),
            mix: Mix::default(),
            pace: Pace::Closed,
            connections: 1,
            duration: None,
            requests: None,
            timeout: Duration::from_secs(2),
            rid_prefix: "r-".to_string(),
        }
    }

    /// Checks that the run is bounded and its counts and rate are positive.
    pub fn validate(&self) -> Result<(), LoadError> {
        if self.duration.is_none() && self.requests.is_none() {
            return Err(LoadError::Unbounded);
        }
        let positive = [
            ("the number of connections", self.connections > 0),
            ("the request count", self.requests != Some(0)),
            ("the duration", self.duration != Some(Duration::ZERO)),
            ("the timeout", !self.timeout.is_zero()),
            (
                "the rate",
                !matches!(self.pace, Pace::Rate(r) if !(r > 0.0 && r.is_finite())),
            ),
        ];
        match positive.iter().find(|(_, ok)| !ok) {
            Some((what, _)) => Err(LoadError::NotPositive { what }),
            None => Ok(()),
        }
    }

    /// The request id of request number `n` (from 0).
    pub fn rid(&self, n: u64) -> String {
        format!("{}{:06}", self.rid_prefix, n + 1)
    }
}

/// Parses a duration such as `10s`, `500ms`, `2m` or `1.5` (seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    number
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|v| Duration::try_from_secs_f64(v * scale).ok())
        .ok_or_else(|| format!("{text:?} is not a duration (write e.g. 10s, 500ms, 2m)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn unbounded_or_zero_settings_are_refused() {
        let mut config = LoadConfig::new("127.0.0.1:80".parse().unwrap());
        assert!(matches!(config.validate(), Err(LoadError::Unbounded)));
        config.requests = Some(1);
        assert!(config.validate().is_ok());
        config.pace = Pace::Rate(0.0);
        assert!(matches!(
            config.validate(),
            Err(LoadError::NotPositive { what: "the rate" })
        ));
        assert_eq!(config.rid(122), "r-000123");
    }
}
