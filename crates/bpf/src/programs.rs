//! Loads bpf/payload.bpf.c, configures it (bytes per head, which processes), attaches its
//! programs to the syscall tracepoints, and detaches them again. Nothing is pinned: the
//! programs live only as long as this process holds their links, so a recorder killed with
//! SIGKILL leaves nothing attached.

use crate::drain::{Drained, Drainer};
use crate::error::BpfError;
use libbpf_rs::{Link, MapCore, MapFlags, MapHandle, Object, ObjectBuilder, Program};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;

/// The compiled programs (built by build.rs).
const OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/payload.bpf.o"));

/// Most bytes a head can hold (`MAX_HEAD` in the C program).
pub const MAX_HEAD_BYTES: u32 = 256;

/// Size of `struct config`, the program's only read-only data.
const CONFIG_LEN: usize = 16;

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

/// Attached programs and their drainer.
#[derive(Debug)]
pub struct HeadCapture {
    links: Vec<Link>,
    traced: TracedProcesses,
    lost: MapHandle,
    drainer: Option<Drainer>,
    head_bytes: u32,
    program_ids: Vec<u32>,
    // Holds the maps and programs until the links are gone.
    _object: Object,
}

fn load_error(e: libbpf_rs::Error) -> BpfError {
    BpfError::Load(e.to_string())
}

/// A handle of the map called `name` of `object`.
fn map_handle(object: &Object, name: &str) -> Result<MapHandle, BpfError> {
    let map = object
        .maps()
        .find(|m| m.name() == name)
        .ok_or_else(|| BpfError::Load(format!("the object has no map `{name}`")))?;
    MapHandle::try_from(&map).map_err(load_error)
}

/// The bytes of `struct config` for `options`.
fn config_bytes(options: &HeadOptions) -> [u8; CONFIG_LEN] {
    let mut config = [0u8; CONFIG_LEN];
    let head_bytes = options.head_bytes.clamp(1, MAX_HEAD_BYTES);
    config[0..4].copy_from_slice(&head_bytes.to_ne_bytes());
    config[4..8].copy_from_slice(&u32::from(options.trace_all).to_ne_bytes());
    config[8..12].copy_from_slice(&std::process::id().to_ne_bytes());
    config
}

impl HeadCapture {
    /// Loads and attaches the programs, fills the process filter and starts draining.
    /// On an error nothing stays attached.
    pub fn start(options: &HeadOptions) -> Result<HeadCapture, BpfError> {
        let mut open = ObjectBuilder::default()
            .open_memory(OBJECT)
            .map_err(load_error)?;
        let config = config_bytes(options);
        let mut rodata = open
            .maps_mut()
            .find(|m| m.name().to_string_lossy().ends_with(".rodata"))
            .ok_or_else(|| BpfError::Load("the object has no read-only data".into()))?;
        match rodata.initial_value_mut() {
            Some(value) if value.len() == CONFIG_LEN => value.copy_from_slice(&config),
            _ => return Err(BpfError::Load("the object's config is not 16 bytes".into())),
        }
        let object = open.load().map_err(load_error)?;
        let traced = TracedProcesses(Arc::new(map_handle(&object, "traced")?));
        for &pid in &options.processes {
            traced.add(pid)?;
        }
        let lost = map_handle(&object, "lost")?;
        let drainer = Drainer::start(map_handle(&object, "heads")?, &options.chunk_path)?;
        let mut links = Vec::new();
        let mut program_ids = Vec::new();
        for program in object.progs_mut() {
            links.push(program.attach().map_err(load_error)?);
            program_ids.push(Program::id_from_fd(program.as_fd()).map_err(load_error)?);
        }
        Ok(HeadCapture {
            links,
            traced,
            lost,
            drainer: Some(drainer),
            head_bytes: options.head_bytes.clamp(1, MAX_HEAD_BYTES),
            program_ids,
            _object: object,
        })
    }

    /// The process filter, for threads that add processes later.
    pub fn traced(&self) -> TracedProcesses {
        self.traced.clone()
    }

    /// The kernel's ids of the loaded programs (what `bpftool prog show` lists).
    pub fn program_ids(&self) -> &[u32] {
        &self.program_ids
    }

    /// Detaches the programs, drains the rest of the ring buffer and returns the heads.
    pub fn finish(mut self) -> Result<HeadsRecorded, BpfError> {
        self.links.clear();
        let lost = self
            .lost
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .ok()
            .flatten()
            .and_then(|v| v.try_into().ok())
            .map_or(0, u64::from_ne_bytes);
        let drainer = self.drainer.take().expect("drainer present until finish");
        let Drained { path, heads } = drainer.finish()?;
        Ok(HeadsRecorded {
            head_bytes: self.head_bytes,
            lost,
            heads,
            chunks_path: path,
        })
    }
}
