//! Event names as the commands that read a recording take them (`kspan dump --event`,
//! `kspan analyze --drop-event`): `EVENT` or `SYSTEM:EVENT`, either part a glob.

use kspan_capture::events::glob_match;

/// One event name pattern: `sched_switch`, `sock:sock_send_length`, `sys_*_close`,
/// `syscalls:sys_exit_*`; `payload_head` (system `kspan`) names the payload heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPattern {
    /// The system's glob, when the pattern names one.
    system: Option<String>,
    /// The event name's glob.
    name: String,
}

impl std::str::FromStr for EventPattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (system, name) = match s.split_once(':') {
            Some((system, name)) => (Some(system.to_string()), name),
            None => (None, s),
        };
        if name.is_empty() || system.as_deref() == Some("") {
            return Err(format!(
                "`{s}` is not EVENT or SYSTEM:EVENT (e.g. sys_enter_close)"
            ));
        }
        Ok(EventPattern {
            system,
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for EventPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.system {
            Some(system) => write!(f, "{system}:{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl EventPattern {
    /// Whether the event `system:name` is one this pattern names.
    pub fn matches(&self, system: &str, name: &str) -> bool {
        glob_match(&self.name, name) && self.system.as_ref().is_none_or(|s| glob_match(s, system))
    }
}

/// Whether any of `patterns` names `system:name`.
pub fn any_matches(patterns: &[EventPattern], system: &str, name: &str) -> bool {
    patterns.iter().any(|p| p.matches(system, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(s: &str) -> EventPattern {
        s.parse().unwrap()
    }

    #[test]
    fn names_systems_and_globs() {
        assert!(pattern("sched_switch").matches("sched", "sched_switch"));
        assert!(pattern("sched:sched_switch").matches("sched", "sched_switch"));
        assert!(!pattern("sock:sched_switch").matches("sched", "sched_switch"));
        assert!(pattern("sys_*_close").matches("syscalls", "sys_exit_close"));
        assert!(!pattern("sys_*_close").matches("syscalls", "sys_exit_close_range"));
        assert!(pattern("syscalls:sys_enter_*").matches("syscalls", "sys_enter_read"));
        assert!(!pattern("syscalls:sys_enter_*").matches("syscalls", "sys_exit_read"));
        assert!(pattern("*:payload_head").matches("kspan", "payload_head"));
        assert!("sched:".parse::<EventPattern>().is_err());
        assert!(":x".parse::<EventPattern>().is_err());
    }
}
