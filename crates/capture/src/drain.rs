//! Moves sub-buffer pages from `per_cpu/cpuN/trace_pipe_raw` into one temporary file per
//! CPU, one thread per CPU: `poll` with a timeout, then non-blocking page-sized reads until
//! the buffer is empty. The kernel wakes the poller when the buffer is `buffer_percent`
//! full, so a busy CPU is drained in large batches and an idle one every [`POLL_MS`].

use crate::error::{CaptureError, Result};
use crate::tap::{PageTap, COMMIT_MARGIN_NS};
use kspan_tracedat::page::{Missed, Page};
use kspan_tracedat::{Endian, HeaderPage};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Name of the page file of buffer `prefix`, CPU `cpu` in a recording's temporary
/// directory (also what a salvage looks for).
pub fn pages_file_name(prefix: &str, cpu: u32) -> String {
    format!("{prefix}-cpu{cpu}.pages")
}

/// Longest wait between two drain passes of an idle CPU.
pub const POLL_MS: i32 = 200;

/// Live counters of one CPU's drainer, readable while it runs.
#[derive(Debug, Default)]
pub struct CpuCounters {
    /// Event records read.
    pub events: AtomicU64,
    /// Pages read.
    pub pages: AtomicU64,
    /// Pages carrying the kernel's missed-events flag.
    pub missed_pages: AtomicU64,
}

/// What one CPU's drainer produced.
#[derive(Debug)]
pub struct DrainedCpu {
    /// CPU number.
    pub cpu: u32,
    /// Temporary file holding the raw pages, back to back.
    pub path: PathBuf,
    /// Final counters.
    pub counters: Arc<CpuCounters>,
}

/// One CPU's running drainer thread.
#[derive(Debug)]
struct CpuThread {
    cpu: u32,
    path: PathBuf,
    counters: Arc<CpuCounters>,
    handle: JoinHandle<io::Result<()>>,
}

/// The running drainer threads of one instance.
#[derive(Debug)]
pub struct Drainer {
    stop: Arc<AtomicBool>,
    threads: Vec<CpuThread>,
}

impl Drainer {
    /// Starts one thread per CPU reading `instance_dir/per_cpu/cpuN/trace_pipe_raw` into
    /// `out_dir/<prefix>-cpuN.pages`, and handing each pass's pages to `tap` too when given.
    pub fn start(
        instance_dir: &Path,
        cpus: &[u32],
        layout: HeaderPage,
        page_size: usize,
        out_dir: &Path,
        prefix: &str,
        tap: Option<PageTap>,
    ) -> Result<Drainer> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut drainer = Drainer {
            stop: stop.clone(),
            threads: Vec::new(),
        };
        for &cpu in cpus {
            let src = instance_dir.join(format!("per_cpu/cpu{cpu}/trace_pipe_raw"));
            let input = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&src)
                .map_err(|e| crate::tracefs::tracefs_error("opening", &src, e))?;
            let path = out_dir.join(pages_file_name(prefix, cpu));
            let output = File::create(&path).map_err(|source| CaptureError::Drain {
                path: path.clone(),
                cause: source,
            })?;
            let counters = Arc::new(CpuCounters::default());
            let worker = Worker {
                input,
                output: BufWriter::with_capacity(1 << 20, output),
                layout,
                page_size,
                counters: counters.clone(),
                stop: stop.clone(),
                cpu,
                tap: tap.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("kspan-drain-{prefix}-{cpu}"))
                .spawn(move || worker.run())
                .map_err(|source| CaptureError::Drain {
                    path: src.clone(),
                    cause: source,
                })?;
            drainer.threads.push(CpuThread {
                cpu,
                path,
                counters,
                handle,
            });
        }
        Ok(drainer)
    }

    /// The live counters, one per CPU in start order.
    pub fn counters(&self) -> Vec<Arc<CpuCounters>> {
        self.threads.iter().map(|t| t.counters.clone()).collect()
    }

    /// Whether a thread stopped before being told to, which only a failure does (a full
    /// disk): the recording should then stop and [`Drainer::finish`] says why.
    pub fn failed(&self) -> bool {
        self.threads.iter().any(|t| t.handle.is_finished())
    }

    /// Tells the threads to do a last pass and waits for them. Call it after tracing was
    /// turned off so that the last pass empties the buffers, partial pages included.
    pub fn finish(mut self) -> Result<Vec<DrainedCpu>> {
        self.stop.store(true, Ordering::SeqCst);
        let mut drained = Vec::new();
        for CpuThread {
            cpu,
            path,
            counters,
            handle,
        } in std::mem::take(&mut self.threads)
        {
            let outcome = handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("drainer thread panicked")));
            outcome.map_err(|source| match source.raw_os_error() {
                Some(libc::ENOSPC) => CaptureError::DiskFull {
                    dir: path.parent().unwrap_or(&path).to_path_buf(),
                },
                _ => CaptureError::Drain {
                    path: path.clone(),
                    cause: source,
                },
            })?;
            drained.push(DrainedCpu {
                cpu,
                path,
                counters,
            });
        }
        Ok(drained)
    }
}

impl Drop for Drainer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.handle.join();
        }
    }
}

/// Nice value of the drainer threads: a drainer that waits behind busy traced tasks
/// lets its buffer overflow, and it needs little CPU (see BENCHMARKS.md).
const DRAINER_NICE: i32 = -10;

/// Gives the calling thread [`DRAINER_NICE`]; best effort (needs CAP_SYS_NICE).
fn raise_priority() {
    // SAFETY: gettid/setpriority have no memory-safety preconditions; only this thread
    // (PRIO_PROCESS with a tid) is affected.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, DRAINER_NICE);
    }
}

/// One CPU's drain loop.
struct Worker {
    input: File,
    output: BufWriter<File>,
    layout: HeaderPage,
    page_size: usize,
    counters: Arc<CpuCounters>,
    stop: Arc<AtomicBool>,
    cpu: u32,
    tap: Option<PageTap>,
}

impl Worker {
    fn run(mut self) -> io::Result<()> {
        raise_priority();
        let mut page = vec![0u8; self.page_size];
        loop {
            // Read the flag before the pass: once it is set (tracing already off), this
            // pass is the last one and leaves the buffer empty.
            let last = self.stop.load(Ordering::SeqCst);
            let started = crate::clock::now_ns(libc::CLOCK_BOOTTIME) as u64;
            let copy = self.drain_pass(&mut page)?;
            if let Some(tap) = &self.tap {
                let complete_to = match last {
                    true => u64::MAX,
                    false => started.saturating_sub(COMMIT_MARGIN_NS),
                };
                let admitted = tap.admit(copy.len() as u64, self.page_size);
                let pages = if admitted { copy } else { Vec::new() };
                tap.send(self.cpu, pages, complete_to);
            }
            if last {
                return Ok(());
            }
            self.wait_readable();
        }
    }

    /// Reads pages until the buffer reports empty, then hands them to the file system: a
    /// recorder killed after a pass leaves every page of it, whole and in order, in its
    /// file (see `salvage`). Returns a copy of the pages when there is a tap to give them.
    fn drain_pass(&mut self, page: &mut [u8]) -> io::Result<Vec<u8>> {
        let (input, output) = (&mut self.input, &mut self.output);
        let (layout, counters) = (&self.layout, &self.counters);
        let mut copy = Vec::new();
        let tapped = self.tap.is_some();
        let pages = read_pages(input, page, |page| {
            account(page, layout, counters);
            if tapped {
                copy.extend_from_slice(page);
            }
            output.write_all(page)
        })?;
        if pages > 0 {
            self.output.flush()?;
        }
        Ok(copy)
    }

    /// Sleeps until the kernel reports the buffer fill threshold reached, or [`POLL_MS`].
    fn wait_readable(&self) {
        let mut fds = libc::pollfd {
            fd: self.input.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `fds` is one valid pollfd for the duration of the call; the fd is open.
        unsafe { libc::poll(&mut fds, 1, POLL_MS) };
    }
}

/// Counts a page read from the kernel in `c`.
fn account(page: &[u8], layout: &HeaderPage, c: &CpuCounters) {
    // Pages come from this machine's kernel: native byte order. A page the parser
    // rejects is still written out (the reader reports it); it counts no events here.
    let (events, missed) = match Page::parse(page, layout, Endian::NATIVE) {
        Ok(p) => (
            p.events().take_while(|e| e.is_ok()).count() as u64,
            p.missed != Missed::None,
        ),
        Err(_) => (0, false),
    };
    c.pages.fetch_add(1, Ordering::Relaxed);
    c.events.fetch_add(events, Ordering::Relaxed);
    if missed {
        c.missed_pages.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads page-sized chunks from `input` (a non-blocking `trace_pipe_raw`) until it is
/// empty, hands each to `each` zero-filled to the page size, and returns how many there were.
pub fn read_pages(
    input: &mut File,
    page: &mut [u8],
    mut each: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let mut pages = 0;
    loop {
        match input.read(page) {
            Ok(0) => return Ok(pages),
            Ok(n) => {
                page[n..].fill(0);
                each(page)?;
                pages += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(pages),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
