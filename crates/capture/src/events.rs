//! How a recording's tracepoints are picked and enabled: patterns (`system:event`, globs,
//! from `-e` and the event sets of [`crate::event_set`]), their filters, and "did you
//! mean" suggestions.

use crate::error::{CaptureError, Result};
use crate::tracefs::{self, Instance};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::Path;

/// Events of the unfiltered network instance: TCP connection state changes fire in
/// softirq context, where a pid filter would drop them.
pub const NET_EVENTS: &[(&str, &str, Option<&str>)] = &[
    ("sock", "inet_sock_set_state", Some("protocol == 6")),
    ("tcp", "tcp_destroy_sock", None),
];

/// One requested event pattern with its optional filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRequest {
    /// `system:event`, `system/event` or `system`; `*` and `?` glob.
    pub pattern: String,
    /// Filter expression applied to every matching event.
    pub filter: Option<String>,
    /// When false, a pattern matching nothing is skipped silently (default syscalls).
    pub required: bool,
}

impl EventRequest {
    /// A user request (`-e PATTERN [-f FILTER]`): must match at least one event.
    pub fn user(pattern: &str, filter: Option<&str>) -> EventRequest {
        EventRequest {
            pattern: pattern.to_string(),
            filter: filter.map(str::to_string),
            required: true,
        }
    }
}

/// One concrete event to enable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSpec {
    /// Event system (directory under `events/`).
    pub system: String,
    /// Event name.
    pub name: String,
    /// Filter expression, if any.
    pub filter: Option<String>,
}

impl EventSpec {
    /// `system:name`.
    pub fn full_name(&self) -> String {
        format!("{}:{}", self.system, self.name)
    }
}

/// Every `(system, event)` pair under an `events/` directory, sorted.
pub fn list_events(events_dir: &Path) -> Result<Vec<(String, String)>> {
    let systems =
        fs::read_dir(events_dir).map_err(|e| tracefs::tracefs_error("listing", events_dir, e))?;
    let mut all = Vec::new();
    for system in systems.flatten().filter(|s| s.path().is_dir()) {
        let sys_name = system.file_name().to_string_lossy().into_owned();
        for event in fs::read_dir(system.path()).into_iter().flatten().flatten() {
            if event.path().join("format").is_file() {
                all.push((
                    sys_name.clone(),
                    event.file_name().to_string_lossy().into_owned(),
                ));
            }
        }
    }
    all.sort();
    Ok(all)
}

/// Resolves requests against the available events, in request order, without duplicates
/// (a later request's filter replaces an earlier one's for the same event).
pub fn resolve(
    available: &[(String, String)],
    requests: &[EventRequest],
) -> Result<Vec<EventSpec>> {
    let mut specs: Vec<EventSpec> = Vec::new();
    for request in requests {
        let (sys_pat, evt_pat) = split_pattern(&request.pattern);
        let matches: Vec<_> = available
            .iter()
            .filter(|(s, e)| glob_match(sys_pat, s) && glob_match(evt_pat, e))
            .collect();
        if matches.is_empty() && request.required {
            return Err(CaptureError::UnknownEvent {
                name: request.pattern.clone(),
                suggestions: suggest(available, &request.pattern),
            });
        }
        for (system, name) in matches {
            let spec = EventSpec {
                system: system.clone(),
                name: name.clone(),
                filter: request.filter.clone(),
            };
            match specs
                .iter_mut()
                .find(|s| s.system == *system && s.name == *name)
            {
                Some(existing) => *existing = spec,
                None => specs.push(spec),
            }
        }
    }
    Ok(specs)
}

/// Enables `spec` in `instance`, setting its filter first; a rejected filter becomes
/// [`CaptureError::BadFilter`] with the kernel's explanation.
pub fn enable(instance: &Instance, spec: &EventSpec) -> Result<()> {
    let rel = format!("events/{}/{}", spec.system, spec.name);
    if let Some(filter) = &spec.filter {
        let filter_rel = format!("{rel}/filter");
        if let Err(err) = instance.write(&filter_rel, filter) {
            let CaptureError::Tracefs { cause, .. } = &err else {
                return Err(err);
            };
            if cause.raw_os_error() != Some(libc::EINVAL) {
                return Err(err);
            }
            let text = instance.read(&filter_rel).unwrap_or_default();
            return Err(CaptureError::BadFilter {
                event: spec.full_name(),
                filter: filter.clone(),
                message: kernel_filter_message(&text),
            });
        }
    }
    instance.write(&format!("{rel}/enable"), "1")
}

/// Condenses the kernel's filter error text (expression, caret line, `parse_error: ...`)
/// into "MESSAGE at column N".
fn kernel_filter_message(text: &str) -> String {
    let message = text
        .lines()
        .find_map(|l| l.strip_prefix("parse_error: "))
        .unwrap_or("invalid filter");
    match text.lines().find_map(|l| l.find('^')) {
        Some(col) => format!("{message} at column {}", col + 1),
        None => message.to_string(),
    }
}

/// Splits `sys:evt`, `sys/evt` or `sys` (= `sys:*`).
fn split_pattern(pattern: &str) -> (&str, &str) {
    pattern.split_once([':', '/']).unwrap_or((pattern, "*"))
}

/// Shell-style glob with `*` (any run) and `?` (any one character): how `-e` patterns
/// pick events, shared with the commands that select events of a recording.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if let Some((bp, bt)) = backtrack {
            pi = bp + 1;
            ti = bt + 1;
            backtrack = Some((bp, bt + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Up to three existing `system:event` names closest to `pattern` by edit distance.
fn suggest(available: &[(String, String)], pattern: &str) -> Vec<String> {
    let wanted = pattern.replace('/', ":");
    let mut scored: Vec<(usize, String)> = available
        .iter()
        .map(|(s, e)| {
            let name = format!("{s}:{e}");
            (strsim::levenshtein(&wanted, &name), name)
        })
        .collect();
    scored.sort();
    let limit = (wanted.len() / 3).max(3);
    scored
        .into_iter()
        .take_while(|(d, _)| *d <= limit)
        .take(3)
        .map(|(_, n)| n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn available() -> Vec<(String, String)> {
        [
            ("sched", "sched_switch"),
            ("sched", "sched_waking"),
            ("sock", "sock_send_length"),
            ("block", "block_rq_issue"),
        ]
        .iter()
        .map(|(s, e)| (s.to_string(), e.to_string()))
        .collect()
    }

    #[test]
    fn globs_and_whole_systems_resolve_in_order_without_duplicates() {
        let specs = resolve(
            &available(),
            &[
                EventRequest::user("sched:*", None),
                EventRequest::user("sched/sched_switch", Some("prev_pid > 0")),
                EventRequest::user("block", None),
            ],
        )
        .unwrap();
        let names: Vec<_> = specs
            .iter()
            .map(|s| (s.full_name(), s.filter.clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("sched:sched_switch".into(), Some("prev_pid > 0".into())),
                ("sched:sched_waking".into(), None),
                ("block:block_rq_issue".into(), None),
            ]
        );
    }

    #[test]
    fn unknown_event_suggests_the_closest_name() {
        let err = resolve(
            &available(),
            &[EventRequest::user("sched:sched_swtich", None)],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown event `sched:sched_swtich` (did you mean sched:sched_switch, \
             sched:sched_waking?); list this kernel's events with `ls /sys/kernel/tracing/events/*`"
        );
    }

    #[test]
    fn optional_requests_that_match_nothing_are_skipped() {
        let mut request = EventRequest::user("syscalls:sys_enter_nosuch", None);
        request.required = false;
        assert_eq!(resolve(&available(), &[request]).unwrap(), vec![]);
    }

    #[test]
    fn kernel_filter_message_keeps_message_and_column() {
        let text = "nosuch > 1\n       ^\nparse_error: Field not found\n";
        assert_eq!(kernel_filter_message(text), "Field not found at column 8");
    }

    #[test]
    fn glob_matching() {
        assert!(glob_match("sys_*_read", "sys_enter_read"));
        assert!(glob_match("s?hed", "sched"));
        assert!(!glob_match("sys_*_read", "sys_enter_readv"));
        assert!(glob_match("*", ""));
    }
}
