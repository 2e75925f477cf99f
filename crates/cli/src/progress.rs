//! Progress on a terminal: a bar by bytes read for an analysis ([`ReadBar`]), a spinner
//! with the elapsed time, events and bytes for a recording ([`RecordSpinner`]). Both are
//! drawn on standard error only when it is a terminal that the traces themselves are not
//! printed on; otherwise (a pipe, a file, a test) nothing at all is written.

use indicatif::{ProgressBar, ProgressStyle};
use kspan_capture::Progress;
use std::io::{self, IsTerminal};
use std::time::Instant;

/// Whether progress may be drawn: standard error is a terminal and the traces are not
/// written to it (`traces_on_terminal`), where a redrawn line would cut into them.
pub fn wanted(traces_on_terminal: bool) -> bool {
    io::stderr().is_terminal() && !traces_on_terminal
}

/// A bar of the bytes of event data read, with the rate and the time left.
pub struct ReadBar(ProgressBar);

impl ReadBar {
    /// A bar up to `total` bytes, drawn only when `visible`.
    pub fn new(total: u64, visible: bool) -> ReadBar {
        if !visible {
            return ReadBar(ProgressBar::hidden());
        }
        // The bar takes the width the figures leave: the line never wraps.
        let style = ProgressStyle::with_template(
            "kspan: analysing {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, \
             {eta} left) [{wide_bar}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = ProgressBar::new(total).with_style(style);
        bar.tick();
        ReadBar(bar)
    }

    /// Moves the bar to `read` bytes.
    pub fn set(&self, read: u64) {
        self.0.set_position(read);
    }
}

impl Drop for ReadBar {
    /// Removes the bar from the terminal.
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// A spinner of a recording: elapsed time, events read, their rate, bytes written to the
/// page files and the events the kernel lost.
pub struct RecordSpinner {
    bar: ProgressBar,
    last: Progress,
    last_at: Instant,
}

impl RecordSpinner {
    /// A spinner, drawn only when `visible`.
    pub fn new(visible: bool) -> RecordSpinner {
        let bar = if visible {
            let style =
                ProgressStyle::with_template("kspan: {spinner} {elapsed_precise} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner());
            ProgressBar::new_spinner().with_style(style)
        } else {
            ProgressBar::hidden()
        };
        RecordSpinner {
            bar,
            last: Progress::default(),
            last_at: Instant::now(),
        }
    }

    /// Shows the recorder's counts `now` (call it every few hundred milliseconds).
    pub fn update(&mut self, now: Progress) {
        if self.bar.is_hidden() {
            return;
        }
        let events = now.main_events + now.net_events;
        let before = self.last.main_events + self.last.net_events;
        let rate = events.saturating_sub(before) as f64 / self.last_at.elapsed().as_secs_f64();
        self.bar.set_message(format!(
            "{events} events ({rate:.0}/s), {} written, {} lost",
            indicatif::BinaryBytes(now.bytes),
            now.lost
        ));
        self.bar.tick();
        self.last = now;
        self.last_at = Instant::now();
    }
}

impl Drop for RecordSpinner {
    /// Removes the spinner from the terminal.
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
