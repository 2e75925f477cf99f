//! `kspan dump`: prints a recording's events, one line each, like `trace-cmd report -R -t`.

use std::io::Write;
use std::path::PathBuf;

use crate::event_pattern::{any_matches, EventPattern};
use crate::heads_lines::{format_head, HeadLines, HEADS_SYSTEM};
use kspan_tracedat::text;

/// Arguments of `kspan dump`.
#[derive(clap::Args)]
#[command(
    after_help = "Example: the events of threads 1510 and 1500 in a 2 ms window:\n  \
    kspan dump app.dat --tid 1510 --tid 1500 --from 7964.8877 --to 7964.8897"
)]
pub struct DumpArgs {
    /// The trace.dat file (v6 or v7, written by kspan or trace-cmd).
    pub file: PathBuf,
    /// Only events of this thread (the task running when the event fired); repeatable.
    #[arg(long = "tid", value_name = "TID")]
    pub tids: Vec<i32>,
    /// Only events of this type, as EVENT or SYSTEM:EVENT, either part a glob (e.g.
    /// sched_switch, sock:sock_send_length, 'sys_*_close', payload_head for the payload
    /// heads); repeatable.
    #[arg(long = "event", value_name = "NAME")]
    pub events: Vec<EventPattern>,
    /// Only events at or after this time, in seconds on the recording's clock (as printed).
    #[arg(long, value_name = "SECONDS")]
    pub from: Option<f64>,
    /// Only events at or before this time, in seconds on the recording's clock.
    #[arg(long, value_name = "SECONDS")]
    pub to: Option<f64>,
}

/// Which events `kspan dump` prints.
struct Filter {
    tids: Vec<i32>,
    events: Vec<EventPattern>,
    from: u64,
    to: u64,
}

impl Filter {
    fn new(args: &DumpArgs) -> Filter {
        let ns = |s: f64| (s * 1e9).round().max(0.0) as u64;
        Filter {
            tids: args.tids.clone(),
            events: args.events.clone(),
            from: args.from.map_or(0, ns),
            to: args.to.map_or(u64::MAX, ns),
        }
    }

    fn keeps_head(&self, head: &kspan_heads::Head) -> bool {
        (self.from..=self.to).contains(&head.exit_ns)
            && (self.tids.is_empty() || self.tids.contains(&head.tid))
            && (self.events.is_empty()
                || any_matches(&self.events, HEADS_SYSTEM, crate::heads_lines::EVENT))
    }

    fn keeps(&self, rec: &kspan_tracedat::Record<'_>) -> bool {
        if rec.timestamp < self.from || rec.timestamp > self.to {
            return false;
        }
        if !self.tids.is_empty() && !self.tids.contains(&rec.pid()) {
            return false;
        }
        self.events.is_empty()
            || rec
                .format
                .is_some_and(|f| any_matches(&self.events, &f.system, &f.name))
    }
}

/// Runs `kspan dump`: every event of every buffer in timestamp order; damaged pages are
/// reported on stderr and the other CPUs' events still printed.
pub fn run(args: DumpArgs) -> anyhow::Result<()> {
    let file = crate::open_trace::open(&args.file)?.0;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut line = String::new();
    let filter = Filter::new(&args);
    let mut events = file.events();
    let mut heads = HeadLines::load(file.metadata());
    let mut failed = false;
    loop {
        let next = events.next_event();
        let until = match &next {
            Ok(Some(rec)) => rec.timestamp,
            _ => u64::MAX,
        };
        for head in heads.before(until).iter().filter(|h| filter.keeps_head(h)) {
            line.clear();
            format_head(&mut line, head, file.metadata())?;
            line.push('\n');
            if let Err(e) = out.write_all(line.as_bytes()) {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(());
                }
                return Err(e.into());
            }
        }
        match next {
            Ok(Some(rec)) if !filter.keeps(&rec) => {}
            Ok(Some(rec)) => {
                line.clear();
                text::format_record(&mut line, &rec, file.metadata())?;
                line.push('\n');
                if let Err(e) = out.write_all(line.as_bytes()) {
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        return Ok(());
                    }
                    return Err(e.into());
                }
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("kspan: error: {e}");
                failed = true;
            }
        }
    }
    out.flush()?;
    for w in events.warnings() {
        eprintln!("kspan: warning: {w}");
    }
    let flagged = crate::loss::flagged_lost(&events.lost_events());
    crate::loss::warn(
        &args.file,
        crate::loss::kernel_lost(&file),
        flagged,
        &mut std::io::stderr(),
    )?;
    if failed {
        anyhow::bail!(
            "{} has damaged pages (see above); the events printed are the readable ones",
            args.file.display()
        );
    }
    Ok(())
}
