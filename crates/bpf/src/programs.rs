//! Loads bpf/payload.bpf.c, configures it (bytes per head, which processes), attaches its
//! programs to the syscall tracepoints, and detaches them again. Nothing is pinned: the
//! programs live only as long as this process holds their links, so a recorder killed with
//! SIGKILL leaves nothing attached. The loading steps here serve bpf/calls.bpf.c too
//! ([`crate::calls`]).

use crate::drain::{ChunkFile, Chunks, Drainer, Sink};
use crate::error::BpfError;
use crate::record::parse_sample;
use kspan_heads::encode_record;
use libbpf_rs::{Link, MapCore, MapFlags, MapHandle, Object, ObjectBuilder, OpenObject, Program};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;

/// The compiled programs (built by build.rs).
const OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/payload.bpf.o"));

/// Most bytes a head can hold (`MAX_HEAD` in the C programs).
pub const MAX_HEAD_BYTES: u32 = 256;

/// Size of `struct config` (bpf/common.h), the programs' only read-only data.
const CONFIG_LEN: usize = 16;

/// The recorder's side of `struct config` (bpf/common.h).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Config {
    /// Bytes kept per message (0: none).
    pub head_cap: u32,
    /// Every process but the recorder's own.
    pub trace_all: bool,
    /// Keep only the socket events the default ftrace set keeps (calls.bpf.c only).
    pub sock_filter: bool,
}

impl Config {
    fn bytes(self) -> [u8; CONFIG_LEN] {
        let mut config = [0u8; CONFIG_LEN];
        config[0..4].copy_from_slice(&self.head_cap.min(MAX_HEAD_BYTES).to_ne_bytes());
        config[4..8].copy_from_slice(&u32::from(self.trace_all).to_ne_bytes());
        config[8..12].copy_from_slice(&std::process::id().to_ne_bytes());
        config[12..16].copy_from_slice(&u32::from(self.sock_filter).to_ne_bytes());
        config
    }
}

/// How to capture heads.
#[derive(Debug, Clone)]
pub struct HeadOptions {
    /// Bytes kept per message (1..=[`MAX_HEAD_BYTES`]; larger values are clamped).
    pub head_bytes: u32,
    /// Capture every process but this one (a recording without pid filter).
    pub trace_all: bool,
    /// The traced processes (tgids) known at the start; their forks join by themselves.
    pub processes: Vec<i32>,
    /// File for the compressed chunks (in the recording's temporary directory).
    pub chunk_path: PathBuf,
}

/// What a capture produced.
#[derive(Debug)]
pub struct HeadsRecorded {
    /// Bytes kept per message at most.
    pub head_bytes: u32,
    /// Heads dropped because the ring buffer was full.
    pub lost: u64,
    /// Heads stored.
    pub heads: u64,
    /// The file of stored chunks (`kspan_heads::stored` layout, without the header).
    pub chunks_path: PathBuf,
}

/// A handle on the traced-process map that other threads (the recorder's controller,
/// which finds processes joining a cgroup or namespace) can use.
#[derive(Debug, Clone)]
pub struct TracedProcesses(Arc<MapHandle>);

impl TracedProcesses {
    /// Adds process `pid` (a tgid) to the filter.
    pub fn add(&self, pid: i32) -> Result<(), BpfError> {
        self.0
            .update(&pid.to_ne_bytes(), &[1u8], MapFlags::ANY)
            .map_err(|e| BpfError::Filter {
                pid,
                cause: e.to_string(),
            })
    }
}

/// A loaded object with its programs attached: their links, the traced-process map, the
/// count of records its ring buffer had no room for, and the kernel's ids of its programs.
#[derive(Debug)]
pub struct Programs {
    links: Vec<Link>,
    traced: TracedProcesses,
    lost: MapHandle,
    program_ids: Vec<u32>,
    // Holds the maps and programs until the links are gone.
    object: Object,
}

impl Programs {
    /// Fills the traced-process map of `object` with `processes` and attaches every
    /// program (dropping everything again on an error).
    pub(crate) fn attach(object: Object, processes: &[i32]) -> Result<Programs, BpfError> {
        let traced = TracedProcesses(Arc::new(map_handle(&object, "traced")?));
        for &pid in processes {
            traced.add(pid)?;
        }
        let lost = map_handle(&object, "lost")?;
        let mut links = Vec::new();
        let mut program_ids = Vec::new();
        for program in object.progs_mut() {
            links.push(program.attach().map_err(load_error)?);
            program_ids.push(Program::id_from_fd(program.as_fd()).map_err(load_error)?);
        }
        Ok(Programs {
            links,
            traced,
            lost,
            program_ids,
            object,
        })
    }

    /// A handle of the object's map called `name`.
    pub(crate) fn map(&self, name: &str) -> Result<MapHandle, BpfError> {
        map_handle(&self.object, name)
    }

    /// The process filter, for threads that add processes later.
    pub fn traced(&self) -> TracedProcesses {
        self.traced.clone()
    }

    /// The kernel's ids of the loaded programs (what `bpftool prog show` lists).
    pub fn program_ids(&self) -> &[u32] {
        &self.program_ids
    }

    /// Detaches the programs; returns how many records the ring buffer had no room for.
    pub(crate) fn detach(&mut self) -> u64 {
        self.links.clear();
        self.lost
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .ok()
            .flatten()
            .and_then(|v| v.try_into().ok())
            .map_or(0, u64::from_ne_bytes)
    }
}

/// Attached programs and their drainer.
#[derive(Debug)]
pub struct HeadCapture {
    programs: Programs,
    drainer: Option<Drainer<HeadSink>>,
    head_bytes: u32,
}

pub(crate) fn load_error(e: libbpf_rs::Error) -> BpfError {
    BpfError::Load(e.to_string())
}

/// A handle of the map called `name` of `object`.
pub(crate) fn map_handle(object: &Object, name: &str) -> Result<MapHandle, BpfError> {
    let map = object
        .maps()
        .find(|m| m.name() == name)
        .ok_or_else(|| BpfError::Load(format!("the object has no map `{name}`")))?;
    MapHandle::try_from(&map).map_err(load_error)
}

/// Opens the compiled object `bytes`, writes `config` into it, lets `adjust` change it
/// (map sizes), and loads it into the kernel.
pub(crate) fn load(
    bytes: &'static [u8],
    config: Config,
    adjust: impl FnOnce(&mut OpenObject) -> Result<(), BpfError>,
) -> Result<Object, BpfError> {
    let mut open = ObjectBuilder::default()
        .open_memory(bytes)
        .map_err(load_error)?;
    {
        let mut rodata = open
            .maps_mut()
            .find(|m| m.name().to_string_lossy().ends_with(".rodata"))
            .ok_or_else(|| BpfError::Load("the object has no read-only data".into()))?;
        match rodata.initial_value_mut() {
            Some(value) if value.len() == CONFIG_LEN => value.copy_from_slice(&config.bytes()),
            _ => return Err(BpfError::Load("the object's config is not 16 bytes".into())),
        }
    }
    adjust(&mut open)?;
    open.load().map_err(load_error)
}

/// Payload-head records → the heads chunk file.
#[derive(Debug)]
pub(crate) struct HeadSink(pub(crate) ChunkFile);

impl Sink for HeadSink {
    type Output = Chunks;

    fn push(&mut self, sample: &[u8]) {
        // Samples that do not decode are skipped (never expected).
        if let Some(head) = parse_sample(sample) {
            let mut record = Vec::with_capacity(64 + head.bytes.len());
            encode_record(&head, &mut record);
            self.0.push(&record);
        }
    }

    fn finish(self) -> Result<Chunks, BpfError> {
        self.0.finish()
    }
}

impl HeadCapture {
    /// Loads and attaches the programs, fills the process filter and starts draining.
    /// On an error nothing stays attached.
    pub fn start(options: &HeadOptions) -> Result<HeadCapture, BpfError> {
        let config = Config {
            head_cap: options.head_bytes.clamp(1, MAX_HEAD_BYTES),
            trace_all: options.trace_all,
            sock_filter: false,
        };
        let programs = Programs::attach(load(OBJECT, config, |_| Ok(()))?, &options.processes)?;
        let sink = HeadSink(ChunkFile::create(&options.chunk_path)?);
        let drainer = Drainer::start(programs.map("heads")?, sink, "kspan-heads")?;
        Ok(HeadCapture {
            programs,
            drainer: Some(drainer),
            head_bytes: config.head_cap,
        })
    }

    /// The attached programs.
    pub fn programs(&self) -> &Programs {
        &self.programs
    }

    /// Detaches the programs, drains the rest of the ring buffer and returns the heads.
    pub fn finish(mut self) -> Result<HeadsRecorded, BpfError> {
        let lost = self.programs.detach();
        let drainer = self.drainer.take().expect("drainer present until finish");
        let Chunks { path, records } = drainer.finish()?;
        Ok(HeadsRecorded {
            head_bytes: self.head_bytes,
            lost,
            heads: records,
            chunks_path: path,
        })
    }
}
