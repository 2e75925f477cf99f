//! The payload heads of a recording: read from its trace.dat option, as the analysis's
//! lookup table, and as `kspan dump` lines merged by time into the ftrace events:
//! `heads: COMM-TID [---] SECONDS: payload_head: tgid=… fd=… call=… ret=… bytes="…"`,
//! stamped at the syscall's exit (when the bytes were copied).

use kspan_heads::{Head, HeadTable, StoredHeads, HEADS_OPTION};
use kspan_tracedat::Metadata;
use std::fmt::Write;
use std::sync::Arc;

/// The event name `--event` and `--drop-event` select heads by (also as
/// `kspan:payload_head`).
pub const EVENT: &str = "payload_head";

/// The system the heads' event name belongs to, for `SYSTEM:EVENT` patterns.
pub const HEADS_SYSTEM: &str = "kspan";

/// A recording's heads, in time order, handed out as the event stream passes them.
pub struct HeadLines {
    heads: Vec<Head>,
    next: usize,
}

/// The heads of the recording with metadata `meta` (none when it has none; a damaged
/// section is reported on stderr and skipped).
fn load(meta: &Metadata) -> Vec<Head> {
    match meta.option(HEADS_OPTION).map(StoredHeads::from_option) {
        Some(Ok(stored)) => stored.heads,
        Some(Err(e)) => {
            eprintln!("kspan: warning: {e}");
            Vec::new()
        }
        None => Vec::new(),
    }
}

/// The heads of the recording with metadata `meta` indexed for naming spans; `None` when it
/// has none.
pub fn head_table(meta: &Metadata) -> Option<Arc<HeadTable>> {
    let heads = load(meta);
    (!heads.is_empty()).then(|| Arc::new(HeadTable::new(heads)))
}

impl HeadLines {
    /// The heads of the recording with metadata `meta`, for `kspan dump`.
    pub fn load(meta: &Metadata) -> HeadLines {
        let mut heads = load(meta);
        heads.sort_by_key(|h| (h.exit_ns, h.tid));
        HeadLines { heads, next: 0 }
    }

    /// The heads stamped before `ts` not yet handed out, in time order.
    pub fn before(&mut self, ts: u64) -> &[Head] {
        let start = self.next;
        while self.heads.get(self.next).is_some_and(|h| h.exit_ns < ts) {
            self.next += 1;
        }
        &self.heads[start..self.next]
    }
}

/// Writes `head` as one dump line (without the newline).
pub fn format_head(out: &mut String, head: &Head, meta: &Metadata) -> std::fmt::Result {
    let comm = meta.cmdlines.get(&head.tid).map_or("<...>", String::as_str);
    let (secs, nanos) = (head.exit_ns / 1_000_000_000, head.exit_ns % 1_000_000_000);
    write!(
        out,
        "heads: {comm}-{} [---] {secs}.{nanos:09}: {EVENT}: tgid={} fd={} call={} ret={} bytes=\"{}\"",
        head.tid,
        head.tgid,
        head.fd,
        head.kind.name(),
        head.ret,
        head.escaped()
    )
}
