//! The thread that drains a BPF ring buffer: every record goes to a [`Sink`], which stores
//! it in [`ChunkFile`]s: compressed chunks appended to a file in the recording's temporary
//! directory, so memory stays bounded however long the recording runs.

use crate::error::BpfError;
use kspan_heads::{chunk_bytes, CHUNK};
use libbpf_rs::{MapHandle, RingBufferBuilder};
use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Longest wait of the drainer between two passes.
const POLL: Duration = Duration::from_millis(100);

/// What a drainer does with the records of its ring buffer.
pub trait Sink: Send + 'static {
    /// What the sink produced once the ring is empty.
    type Output: Send + 'static;
    /// Takes one ring-buffer record.
    fn push(&mut self, sample: &[u8]);
    /// Stores what is pending and says what was stored.
    fn finish(self) -> Result<Self::Output, BpfError>;
}

/// A file of stored chunks (see `kspan_heads::stored`).
#[derive(Debug)]
pub struct Chunks {
    /// The file.
    pub path: PathBuf,
    /// Records stored.
    pub records: u64,
}

/// Encoded records → chunks → file.
#[derive(Debug)]
pub struct ChunkFile {
    path: PathBuf,
    file: BufWriter<File>,
    raw: Vec<u8>,
    records: u64,
    failure: Option<BpfError>,
}

impl ChunkFile {
    /// Creates the file `path`.
    pub fn create(path: &Path) -> Result<ChunkFile, BpfError> {
        let file = File::create(path).map_err(|cause| BpfError::Store {
            path: path.to_path_buf(),
            cause,
        })?;
        Ok(ChunkFile {
            path: path.to_path_buf(),
            file: BufWriter::new(file),
            raw: Vec::new(),
            records: 0,
            failure: None,
        })
    }

    /// Appends one encoded record, compressing the pending chunk first when it is full.
    pub fn push(&mut self, record: &[u8]) {
        if self.raw.len() + record.len() > CHUNK {
            self.flush_chunk();
        }
        self.raw.extend_from_slice(record);
        self.records += 1;
    }

    /// Compresses and writes the pending chunk; the first failure is kept for the end.
    fn flush_chunk(&mut self) {
        if self.raw.is_empty() || self.failure.is_some() {
            return;
        }
        let written = chunk_bytes(&self.raw)
            .map_err(BpfError::from)
            .and_then(|bytes| {
                self.file
                    .write_all(&bytes)
                    .map_err(|cause| BpfError::Store {
                        path: self.path.clone(),
                        cause,
                    })
            });
        self.failure = written.err();
        self.raw.clear();
    }

    /// Writes what is pending and closes the file.
    pub fn finish(mut self) -> Result<Chunks, BpfError> {
        self.flush_chunk();
        if let Some(failure) = self.failure {
            return Err(failure);
        }
        self.file.flush().map_err(|cause| BpfError::Store {
            path: self.path.clone(),
            cause,
        })?;
        Ok(Chunks {
            path: self.path,
            records: self.records,
        })
    }
}

/// The running drainer thread of a sink `S`.
#[derive(Debug)]
pub struct Drainer<S: Sink> {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<S::Output, BpfError>>>,
}

impl<S: Sink> Drainer<S> {
    /// Starts draining ring buffer `ring` into `sink`, in a thread called `name`.
    pub fn start(ring: MapHandle, sink: S, name: &str) -> Result<Drainer<S>, BpfError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(ring, sink, &flag))
            .map_err(|e| BpfError::Load(format!("cannot start the drainer thread: {e}")))?;
        Ok(Drainer {
            stop,
            handle: Some(handle),
        })
    }

    /// Drains what is left and returns the sink's output. Call it after the programs are
    /// detached.
    pub fn finish(mut self) -> Result<S::Output, BpfError> {
        self.stop.store(true, Ordering::SeqCst);
        let handle = self.handle.take().expect("handle present until finish");
        handle
            .join()
            .unwrap_or_else(|_| Err(BpfError::Load("the BPF drainer panicked".into())))
    }
}

impl<S: Sink> Drop for Drainer<S> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// The drain loop: poll, and once stopped, one last pass that empties the buffer.
fn run<S: Sink>(ring: MapHandle, sink: S, stop: &AtomicBool) -> Result<S::Output, BpfError> {
    let sink = Rc::new(RefCell::new(sink));
    let inner = sink.clone();
    let mut builder = RingBufferBuilder::new();
    builder
        .add(&ring, move |sample: &[u8]| {
            inner.borrow_mut().push(sample);
            0
        })
        .map_err(|e| BpfError::Load(e.to_string()))?;
    let buffer = builder.build().map_err(|e| BpfError::Load(e.to_string()))?;
    loop {
        let last = stop.load(Ordering::SeqCst);
        // An interrupted poll (EINTR from the recorder's signal handlers) is retried.
        let _ = buffer.poll(if last { Duration::ZERO } else { POLL });
        if last {
            let _ = buffer.consume();
            break;
        }
    }
    drop(buffer);
    let sink = Rc::try_unwrap(sink)
        .map_err(|_| BpfError::Load("the BPF ring buffer outlived its drainer".into()))?;
    sink.into_inner().finish()
}
