//! The thread that drains the BPF ring buffer `heads`: every record becomes a stored record
//! in a chunk, and every full chunk is compressed and appended to a file in the recording's
//! temporary directory, so memory stays bounded however long the recording runs.

use crate::error::BpfError;
use crate::record::parse_sample;
use kspan_heads::{chunk_bytes, encode_record, CHUNK};
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

/// What a drainer produced.
#[derive(Debug)]
pub struct Drained {
    /// The file of stored chunks (see `kspan_heads::stored`).
    pub path: PathBuf,
    /// Heads stored.
    pub heads: u64,
}

/// Records → chunks → file.
struct ChunkWriter {
    path: PathBuf,
    file: BufWriter<File>,
    raw: Vec<u8>,
    heads: u64,
    failure: Option<BpfError>,
}

impl ChunkWriter {
    fn create(path: &Path) -> Result<ChunkWriter, BpfError> {
        let file = File::create(path).map_err(|cause| BpfError::Store {
            path: path.to_path_buf(),
            cause,
        })?;
        Ok(ChunkWriter {
            path: path.to_path_buf(),
            file: BufWriter::new(file),
            raw: Vec::new(),
            heads: 0,
            failure: None,
        })
    }

    /// Stores one ring-buffer sample (samples that do not decode are skipped).
    fn push(&mut self, sample: &[u8]) {
        let Some(head) = parse_sample(sample) else {
            return;
        };
        let mut record = Vec::with_capacity(64 + head.bytes.len());
        encode_record(&head, &mut record);
        if self.raw.len() + record.len() > CHUNK {
            self.flush_chunk();
        }
        self.raw.extend_from_slice(&record);
        self.heads += 1;
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

    fn finish(mut self) -> Result<Drained, BpfError> {
        self.flush_chunk();
        if let Some(failure) = self.failure {
            return Err(failure);
        }
        self.file.flush().map_err(|cause| BpfError::Store {
            path: self.path.clone(),
            cause,
        })?;
        Ok(Drained {
            path: self.path,
            heads: self.heads,
        })
    }
}

/// The running drainer thread.
#[derive(Debug)]
pub struct Drainer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<Drained, BpfError>>>,
}

impl Drainer {
    /// Starts draining ring buffer `ring` into the chunk file `path`.
    pub fn start(ring: MapHandle, path: &Path) -> Result<Drainer, BpfError> {
        let writer = ChunkWriter::create(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("kspan-heads".into())
            .spawn(move || run(ring, writer, &flag))
            .map_err(|cause| BpfError::Store {
                path: path.to_path_buf(),
                cause,
            })?;
        Ok(Drainer {
            stop,
            handle: Some(handle),
        })
    }

    /// Drains what is left and returns the file. Call it after the programs are detached.
    pub fn finish(mut self) -> Result<Drained, BpfError> {
        self.stop.store(true, Ordering::SeqCst);
        let handle = self.handle.take().expect("handle present until finish");
        handle
            .join()
            .unwrap_or_else(|_| Err(BpfError::Load("the heads drainer panicked".into())))
    }
}

impl Drop for Drainer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// The drain loop: poll, and once stopped, one last pass that empties the buffer.
fn run(ring: MapHandle, writer: ChunkWriter, stop: &AtomicBool) -> Result<Drained, BpfError> {
    let writer = Rc::new(RefCell::new(writer));
    let sink = writer.clone();
    let mut builder = RingBufferBuilder::new();
    builder
        .add(&ring, move |sample: &[u8]| {
            sink.borrow_mut().push(sample);
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
    let writer = Rc::try_unwrap(writer)
        .map_err(|_| BpfError::Load("the heads ring buffer outlived its drainer".into()))?;
    writer.into_inner().finish()
}
