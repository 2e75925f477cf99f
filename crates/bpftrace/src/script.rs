//! kspan's additions to a user's bpftrace script, injected as text:
//!
//! - the map `@kspan_pids`, seeded in `BEGIN` with the traced processes' pids and extended on
//!   every `sched_process_fork` of a traced process (threads and children), its entries
//!   deleted when they exit. Users filter with the predicate `/@kspan_pids[pid]/`;
//! - the ready marker [`READY_MARKER`], printed at the end of `BEGIN`: bpftrace runs `BEGIN`
//!   once every probe is attached, so the marker means "attached";
//! - `clear(@kspan_pids)` in `END`, so the map is not printed at exit.
//!
//! bpftrace 0.17 allows one `BEGIN` and one `END` probe: when the script has its own, kspan's
//! statements go at the start of its block, on the same line; otherwise kspan appends the
//! probe. Either way the user's line numbers are unchanged.

/// The line bpftrace prints once every probe is attached.
pub const READY_MARKER: &str = "KSPAN_READY";
/// The line bpftrace prints when kspan calls `getpriority(PRIO_PROCESS, FLUSH_WHO)`: seen in
/// the output, it means bpftrace has read the events emitted before (it drops what it has not
/// read when interrupted, so kspan waits for this before stopping it).
pub const FLUSH_MARKER: &str = "KSPAN_FLUSH";
/// The `who` argument of kspan's flush call ("kspn"): no process has this id.
pub const FLUSH_WHO: u32 = 0x6b73_706e;
/// The `who` argument of kspan's call `getpriority(PID, ADD_WHO)` adding a process found
/// after the start (it joined a traced cgroup or network namespace) to `@kspan_pids`. The
/// call fails (EINVAL) after its entry tracepoint has fired.
pub const ADD_WHO: u32 = 0x6b73_706f;

/// The probes kspan appends to every script: fork following and the flush marker.
const FOLLOW_FORKS: &str = "\n// kspan: follow threads and children of traced processes\n\
tracepoint:sched:sched_process_fork /@kspan_pids[pid]/ { @kspan_pids[args->child_pid] = 1; }\n\
tracepoint:sched:sched_process_exit /@kspan_pids[tid] && tid != pid/ { delete(@kspan_pids[tid]); }\n\
tracepoint:syscalls:sys_enter_getpriority /args->who == 1802727534/ { printf(\"KSPAN_FLUSH\\n\"); }\n\
tracepoint:syscalls:sys_enter_getpriority /args->who == 1802727535/ { @kspan_pids[args->which] = 1; }\n";

/// Byte offset just after the `{` opening the block of the top-level probe named `probe`
/// (`BEGIN` or `END`), skipping comments, strings and nested blocks.
fn probe_block_start(source: &str, probe: &str) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    let mut pending = false; // saw the probe name at depth 0; its `{` opens its block
    while i < bytes.len() {
        let rest = &source[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
            continue;
        }
        if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
            continue;
        }
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => {
                if depth == 0 && pending {
                    return Some(i + 1);
                }
                depth += 1;
            }
            b'}' => depth = depth.saturating_sub(1),
            c if depth == 0 && (c.is_ascii_alphabetic() || c == b'_') => {
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                let word = &rest[..len];
                let after_colon = i > 0 && bytes[i - 1] == b':';
                if !after_colon {
                    pending = word == probe;
                }
                i += len;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Adds process `pid` to the `@kspan_pids` map of every running kspan bpftrace script.
pub fn announce(pid: i32) {
    // SAFETY: getpriority has no memory preconditions; with `which` a pid it fails with
    // EINVAL, after the tracepoint kspan's probe listens to has fired.
    unsafe { libc::getpriority(pid as libc::__priority_which_t, ADD_WHO) };
}

/// Inserts `statements` at the start of the `probe` block, or adds the probe.
fn inject(source: &str, probe: &str, statements: &str) -> String {
    match probe_block_start(source, probe) {
        Some(at) => format!("{} {statements}{}", &source[..at], &source[at..]),
        // Appended, so that the user's line numbers in bpftrace's messages stay right.
        None => format!("{source}\n{probe} {{ {statements} }}\n"),
    }
}

/// The script bpftrace runs: `source` with kspan's map seeded with `pids`, the ready marker,
/// fork following and the map cleared at exit.
pub fn instrument(source: &str, pids: &[i32]) -> String {
    let mut seed: String = pids
        .iter()
        .map(|p| format!("@kspan_pids[{p}] = 1; "))
        .collect();
    seed.push_str(&format!("printf(\"{READY_MARKER}\\n\");"));
    let with_begin = inject(source, "BEGIN", &seed);
    let mut out = inject(&with_begin, "END", "clear(@kspan_pids);");
    out.push_str(FOLLOW_FORKS);
    out
}

/// True when the script uses kprobes (`kprobe:` or `kretprobe:` probes).
pub fn uses_kprobes(source: &str) -> bool {
    source.lines().any(|line| {
        let code = line.split("//").next().unwrap_or("");
        code.contains("kprobe:") || code.contains("kretprobe:")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_added_when_absent() {
        let out = instrument("tracepoint:a:b { printf(\"x\\n\"); }\n", &[4, 9]);
        assert_eq!(
            out,
            format!(
                "tracepoint:a:b {{ printf(\"x\\n\"); }}\n\nBEGIN {{ @kspan_pids[4] = 1; \
                 @kspan_pids[9] = 1; printf(\"KSPAN_READY\\n\"); }}\n\nEND {{ clear(@kspan_pids); }}\n\
                 {FOLLOW_FORKS}"
            )
        );
    }

    #[test]
    fn statements_go_into_the_users_begin_and_end() {
        let src = "// BEGIN { in a comment }\nuprobe:/x:BEGIN { @a = \"BEGIN {\"; }\n\
                   BEGIN { @n = 1; }\nEND { print(@n); }\n";
        let out = instrument(src, &[7]);
        let expected = "// BEGIN { in a comment }\nuprobe:/x:BEGIN { @a = \"BEGIN {\"; }\n\
                   BEGIN { @kspan_pids[7] = 1; printf(\"KSPAN_READY\\n\"); @n = 1; }\n\
                   END { clear(@kspan_pids); print(@n); }\n";
        assert_eq!(out, format!("{expected}{FOLLOW_FORKS}"));
    }

    #[test]
    fn kprobes_are_detected_outside_comments() {
        assert!(uses_kprobes("kprobe:tcp_sendmsg { }"));
        assert!(uses_kprobes("kretprobe:x { }"));
        assert!(!uses_kprobes("// kprobe:x\ntracepoint:a:b { }"));
    }
}
