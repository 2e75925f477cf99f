//! The trace.dat writer: version 7 (zstd or uncompressed) or version 6, with any number of
//! named buffers, each with its own per-CPU raw pages (as read from `trace_pipe_raw`) and stats.
//! The file is written under a temporary name and renamed at the end, so a failure never
//! leaves a half-written file under the final name.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::bytes::Endian;
use crate::compress::Compression;
use crate::error::{Error, Result};
use crate::options;
use crate::read::MAGIC;

/// Pages per compressed chunk of per-CPU data.
const PAGES_PER_CHUNK: usize = 32;

/// Everything a file holds besides the event pages.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// 7 (sections, optional compression) or 6.
    pub version: u32,
    /// Compression of a v7 file; must be `None` for v6.
    pub compression: Compression,
    /// Byte order of the traced machine (that of the pages).
    pub endian: Endian,
    /// User-space long size of the traced machine.
    pub long_size: u8,
    /// Host page size.
    pub page_size: u32,
    /// Text of `events/header_page`.
    pub header_page: String,
    /// Text of `events/header_event`.
    pub header_event: String,
    /// Format texts of ftrace's own events (`events/ftrace/*/format`).
    pub ftrace_formats: Vec<String>,
    /// Per event system: (system name, format texts of its events).
    pub event_formats: Vec<(String, Vec<String>)>,
    /// `/proc/kallsyms` text (may be empty).
    pub kallsyms: String,
    /// `printk_formats` text (may be empty).
    pub printk_formats: String,
    /// `saved_cmdlines` text.
    pub cmdlines: String,
    /// `saved_tgids` text, stored in option [`options::KSPAN_TGIDS`] when not empty.
    pub tgids: String,
    /// Content of the `trace_clock` file (e.g. `[local] global`), or just a clock name.
    pub trace_clock: String,
    /// CPUs of the traced machine.
    pub cpu_count: u32,
    /// kspan's JSON metadata, stored in option [`options::KSPAN_METADATA`].
    pub kspan_metadata: Option<Vec<u8>>,
    /// Any further options (id, data), written as is.
    pub extra_options: Vec<(u16, Vec<u8>)>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            version: 7,
            compression: Compression::Zstd,
            endian: Endian::Little,
            long_size: 8,
            page_size: 4096,
            header_page: String::new(),
            header_event: String::new(),
            ftrace_formats: Vec::new(),
            event_formats: Vec::new(),
            kallsyms: String::new(),
            printk_formats: String::new(),
            cmdlines: String::new(),
            tgids: String::new(),
            trace_clock: "[local]".into(),
            cpu_count: 0,
            kspan_metadata: None,
            extra_options: Vec::new(),
        }
    }
}

/// One buffer to write: its name (`""` for the top buffer), clock, page size, per-CPU page
/// readers and per-CPU stats texts.
pub struct BufferSpec<R> {
    /// Instance name, `""` for the top buffer.
    pub name: String,
    /// Trace clock name of the buffer.
    pub clock: String,
    /// Sub-buffer size of the buffer's pages.
    pub page_size: u32,
    /// (CPU number, reader of whole raw pages).
    pub cpus: Vec<(u32, R)>,
    /// `per_cpu/cpuN/stats` texts, in CPU order (may be empty).
    pub stats: Vec<String>,
}

/// Writes trace.dat files.
#[derive(Debug, Clone)]
pub struct TraceWriter {
    opts: WriteOptions,
}

impl TraceWriter {
    /// A writer with these metadata.
    pub fn new(opts: WriteOptions) -> Self {
        TraceWriter { opts }
    }

    /// Writes the file to `path` (via a temporary file renamed at the end).
    pub fn write<R: Read>(
        &self,
        path: impl AsRef<Path>,
        buffers: Vec<BufferSpec<R>>,
    ) -> Result<()> {
        let path = path.as_ref();
        self.check(&buffers)?;
        let tmp = temp_name(path);
        let io = |source| Error::Io {
            path: tmp.clone(),
            source,
        };
        let file = File::create(&tmp).map_err(io)?;
        let mut out = Out {
            w: BufWriter::with_capacity(1 << 20, file),
            pos: 0,
            endian: self.opts.endian,
        };
        let result = match self.opts.version {
            6 => self.write_v6(&mut out, buffers),
            _ => self.write_v7(&mut out, buffers),
        }
        .and_then(|()| out.w.flush().map_err(out_err))
        .and_then(|()| out.w.get_ref().sync_all().map_err(out_err));
        drop(out);
        match result {
            Ok(()) => std::fs::rename(&tmp, path).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    fn check<R>(&self, buffers: &[BufferSpec<R>]) -> Result<()> {
        let o = &self.opts;
        if o.version != 6 && o.version != 7 {
            return Err(Error::Write(format!(
                "version {} is not writable; use 6 or 7",
                o.version
            )));
        }
        if o.version == 6 && o.compression != Compression::None {
            return Err(Error::Write(
                "version 6 files cannot be compressed; use Compression::None".into(),
            ));
        }
        for b in buffers {
            if !b.page_size.is_power_of_two() || b.page_size < 64 {
                return Err(Error::Write(format!(
                    "buffer {:?} has page size {}, not a power of two ≥ 64",
                    b.name, b.page_size
                )));
            }
            if o.version == 6 && b.page_size != o.page_size {
                return Err(Error::Write(format!(
                    "version 6 needs every buffer's page size to be {}; write version 7",
                    o.page_size
                )));
            }
            if o.version == 6 && b.cpus.iter().any(|(c, _)| *c >= o.cpu_count) {
                return Err(Error::Write(format!(
                    "buffer {:?} has a CPU ≥ cpu_count {}",
                    b.name, o.cpu_count
                )));
            }
        }
        Ok(())
    }

    fn initial_header(&self, out: &mut Out) -> Result<()> {
        out.bytes(MAGIC)?;
        out.cstr(&self.opts.version.to_string())?;
        out.bytes(&[
            u8::from(self.opts.endian == Endian::Big),
            self.opts.long_size,
        ])?;
        out.u32(self.opts.page_size)
    }

    /// The bodies of the metadata blocks, identical in v6 (inline) and v7 (sections).
    fn header_info_body(&self) -> Vec<u8> {
        let mut b = Body::new(self.opts.endian);
        b.cstr("header_page");
        b.u64(self.opts.header_page.len() as u64);
        b.bytes(self.opts.header_page.as_bytes());
        b.cstr("header_event");
        b.u64(self.opts.header_event.len() as u64);
        b.bytes(self.opts.header_event.as_bytes());
        b.0
    }

    fn ftrace_body(&self) -> Vec<u8> {
        let mut b = Body::new(self.opts.endian);
        b.u32(self.opts.ftrace_formats.len() as u32);
        for f in &self.opts.ftrace_formats {
            b.u64(f.len() as u64);
            b.bytes(f.as_bytes());
        }
        b.0
    }

    fn events_body(&self) -> Vec<u8> {
        let mut b = Body::new(self.opts.endian);
        b.u32(self.opts.event_formats.len() as u32);
        for (system, formats) in &self.opts.event_formats {
            b.cstr(system);
            b.u32(formats.len() as u32);
            for f in formats {
                b.u64(f.len() as u64);
                b.bytes(f.as_bytes());
            }
        }
        b.0
    }

    fn text_body(&self, text: &str, wide: bool) -> Vec<u8> {
        let mut b = Body::new(self.opts.endian);
        if wide {
            b.u64(text.len() as u64);
        } else {
            b.u32(text.len() as u32);
        }
        b.bytes(text.as_bytes());
        b.0
    }

    /// Options common to both versions, in trace-cmd's order.
    fn plain_options<R>(&self, buffers: &[BufferSpec<R>]) -> Vec<(u16, Vec<u8>)> {
        let e = self.opts.endian;
        let mut opts = vec![(options::TRACECLOCK, nul(&self.opts.trace_clock))];
        let mut sorted: Vec<&BufferSpec<R>> = buffers.iter().collect();
        sorted.sort_by_key(|b| !b.name.is_empty());
        for b in sorted {
            if !b.name.is_empty() {
                opts.push((options::CPUSTAT, nul(&format!("\nBuffer: {}\n\n", b.name))));
            }
            opts.extend(b.stats.iter().map(|s| (options::CPUSTAT, nul(s))));
        }
        opts.push((options::CPUCOUNT, e.put_u32(self.opts.cpu_count).to_vec()));
        if !self.opts.tgids.is_empty() {
            opts.push((options::KSPAN_TGIDS, self.opts.tgids.as_bytes().to_vec()));
        }
        if let Some(m) = &self.opts.kspan_metadata {
            opts.push((options::KSPAN_METADATA, m.clone()));
        }
        opts.extend(self.opts.extra_options.iter().cloned());
        opts
    }

    /// Version 7, laid out so that a file cut anywhere is readable up to its last whole
    /// page (or compressed chunk): the metadata sections, then the options section with
    /// every option (each BUFFER option holding zeroed offsets and sizes) and the strings
    /// section, and only then the per-CPU data, whose offsets and sizes are patched into
    /// the (uncompressed) options section as each CPU is written.
    fn write_v7<R: Read>(&self, out: &mut Out, buffers: Vec<BufferSpec<R>>) -> Result<()> {
        let comp = self.opts.compression;
        self.initial_header(out)?;
        out.cstr(comp.name())?;
        out.cstr(comp.version())?;
        let first_options_at = out.pos;
        out.u64(0)?;
        let mut opts: Vec<(u16, Vec<u8>)> = Vec::new();
        let mut strings = Strings::default();
        let e = self.opts.endian;
        let metadata = [
            (options::HEADER_INFO, "headers", self.header_info_body()),
            (options::FTRACE_EVENTS, "ftrace events", self.ftrace_body()),
            (options::EVENT_FORMATS, "events format", self.events_body()),
            (
                options::KALLSYMS,
                "kallsyms",
                self.text_body(&self.opts.kallsyms, false),
            ),
            (
                options::PRINTK,
                "printk",
                self.text_body(&self.opts.printk_formats, false),
            ),
            (
                options::CMDLINES,
                "command lines",
                self.text_body(&self.opts.cmdlines, true),
            ),
        ];
        for (id, description, body) in metadata {
            let at = out.pos;
            out.section(id, strings.add(description), &body, comp)?;
            opts.push((id, e.put_u64(at).to_vec()));
        }
        opts.extend(self.plain_options(&buffers));
        let descriptions: Vec<u32> = buffers
            .iter()
            .map(|b| strings.add(&format!("buffer flyrecord {}", b.name)))
            .collect();
        let mut tables = Vec::new();
        for b in &buffers {
            let (data, table) = buffer_option(e, b);
            tables.push((opts.len(), table));
            opts.push((options::BUFFER, data));
        }
        let (options_id, strings_id) = (strings.add("options"), strings.add("strings"));
        let options_at = out.pos;
        let mut body = Body::new(e);
        let mut option_data_at = Vec::new();
        for (id, data) in &opts {
            body.u16(*id);
            body.u32(data.len() as u32);
            option_data_at.push(options_at + SECTION_HEADER + body.0.len() as u64);
            body.bytes(data);
        }
        body.u16(options::DONE);
        body.u32(8);
        body.u64(0);
        out.section(options::DONE, options_id, &body.0, Compression::None)?;
        out.section(options::STRINGS, strings_id, &strings.0, comp)?;
        out.patch_u64(first_options_at, options_at)?;
        for ((b, description), (index, table)) in buffers.into_iter().zip(descriptions).zip(tables)
        {
            let option_at = option_data_at[index];
            let at = out.pos;
            out.patch_u64(option_at, at)?;
            out.u16(options::BUFFER)?;
            out.u16(u16::from(comp != Compression::None))?;
            out.u32(description)?;
            let size_at = out.pos;
            out.u64(0)?;
            for ((_, reader), cpu_at) in b.cpus.into_iter().zip(table) {
                out.pad_to(u64::from(b.page_size))?;
                let start = out.pos;
                // Like trace-cmd, the size of compressed data leaves out the chunk count.
                let size = match comp {
                    Compression::None => {
                        out.copy_pages(reader, b.page_size)?;
                        out.pos - start
                    }
                    c => {
                        out.copy_chunks(reader, b.page_size, c)?;
                        out.pos - start - 4
                    }
                };
                out.patch_u64(option_at + cpu_at, start)?;
                out.patch_u64(option_at + cpu_at + 8, size)?;
            }
            out.patch_u64(size_at, out.pos - size_at - 8)?;
        }
        Ok(())
    }

    fn write_v6<R: Read>(&self, out: &mut Out, mut buffers: Vec<BufferSpec<R>>) -> Result<()> {
        self.initial_header(out)?;
        out.bytes(&self.header_info_body())?;
        out.bytes(&self.ftrace_body())?;
        out.bytes(&self.events_body())?;
        out.bytes(&self.text_body(&self.opts.kallsyms, false))?;
        out.bytes(&self.text_body(&self.opts.printk_formats, false))?;
        out.bytes(&self.text_body(&self.opts.cmdlines, true))?;
        let cpus = self.opts.cpu_count;
        out.u32(cpus)?;
        out.bytes(b"options  \0")?;
        for (id, data) in self.plain_options(&buffers) {
            out.u16(id)?;
            out.u32(data.len() as u32)?;
            out.bytes(&data)?;
        }
        let top = buffers
            .iter()
            .position(|b| b.name.is_empty())
            .map(|i| buffers.remove(i));
        let mut patches = Vec::new();
        for b in &buffers {
            out.u16(options::BUFFER)?;
            out.u32(8 + b.name.len() as u32 + 1)?;
            patches.push(out.pos);
            out.u64(0)?;
            out.cstr(&b.name)?;
        }
        out.u16(options::DONE)?;
        let clock = top
            .as_ref()
            .map_or_else(|| "local".to_string(), |b| b.clock.clone());
        let top_table = self.v6_table(out, cpus, &clock)?;
        let mut tables = Vec::new();
        for (b, patch) in buffers.iter().zip(&patches) {
            let at = out.pos;
            out.patch_u64(*patch, at)?;
            tables.push(self.v6_table(out, cpus, &b.clock)?);
        }
        if let Some(b) = top {
            self.v6_data(out, b, top_table)?;
        }
        for (b, table) in buffers.into_iter().zip(tables) {
            self.v6_data(out, b, table)?;
        }
        Ok(())
    }

    /// Writes `flyrecord`, a zeroed (offset, size) table of `cpus` entries and the clock; returns
    /// the table's position.
    fn v6_table(&self, out: &mut Out, cpus: u32, clock: &str) -> Result<u64> {
        out.bytes(b"flyrecord\0")?;
        let table = out.pos;
        for _ in 0..cpus {
            out.u64(0)?;
            out.u64(0)?;
        }
        let text = format!("[{clock}]\n");
        out.u64(text.len() as u64)?;
        out.bytes(text.as_bytes())?;
        Ok(table)
    }

    fn v6_data<R: Read>(&self, out: &mut Out, b: BufferSpec<R>, table: u64) -> Result<()> {
        for (cpu, reader) in b.cpus {
            out.pad_to(u64::from(self.opts.page_size))?;
            let start = out.pos;
            out.copy_pages(reader, b.page_size)?;
            let entry = table + u64::from(cpu) * 16;
            out.patch_u64(entry, start)?;
            out.patch_u64(entry + 8, out.pos - start)?;
        }
        Ok(())
    }
}

/// Size of a v7 section header: u16 id, u16 flags, u32 description, u64 size.
const SECTION_HEADER: u64 = 16;

/// The data of a v7 BUFFER option with zeroed section offset and per-CPU (offset, size),
/// and where each CPU's (offset, size) pair is in it.
fn buffer_option<R>(e: Endian, b: &BufferSpec<R>) -> (Vec<u8>, Vec<u64>) {
    let mut data = Body::new(e);
    data.u64(0);
    data.cstr(&b.name);
    data.cstr(&b.clock);
    data.u32(b.page_size);
    data.u32(b.cpus.len() as u32);
    let mut table = Vec::new();
    for (cpu, _) in &b.cpus {
        data.u32(*cpu);
        table.push(data.0.len() as u64);
        data.u64(0);
        data.u64(0);
    }
    (data.0, table)
}

fn temp_name(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".kspan-tmp-{}", std::process::id()));
    path.with_file_name(name)
}

fn nul(text: &str) -> Vec<u8> {
    let mut v = text.as_bytes().to_vec();
    v.push(0);
    v
}

fn out_err(source: std::io::Error) -> Error {
    Error::IoContext {
        context: "writing the trace file",
        source,
    }
}

/// The v7 strings section being built: NUL-terminated section descriptions, each referenced
/// by its offset.
#[derive(Default)]
struct Strings(Vec<u8>);

impl Strings {
    /// Appends `s` and returns its id (offset).
    fn add(&mut self, s: &str) -> u32 {
        let id = self.0.len() as u32;
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
        id
    }
}

/// An in-memory block body being built.
struct Body(Vec<u8>, Endian);

impl Body {
    fn new(e: Endian) -> Self {
        Body(Vec::new(), e)
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn cstr(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
    }
    fn u16(&mut self, v: u16) {
        let e = self.1;
        self.bytes(&e.put_u16(v));
    }
    fn u32(&mut self, v: u32) {
        let e = self.1;
        self.bytes(&e.put_u32(v));
    }
    fn u64(&mut self, v: u64) {
        let e = self.1;
        self.bytes(&e.put_u64(v));
    }
}

/// The output file with its current position.
struct Out {
    w: BufWriter<File>,
    pos: u64,
    endian: Endian,
}

impl Out {
    fn bytes(&mut self, b: &[u8]) -> Result<()> {
        self.w.write_all(b).map_err(out_err)?;
        self.pos += b.len() as u64;
        Ok(())
    }
    fn cstr(&mut self, s: &str) -> Result<()> {
        self.bytes(&nul(s))
    }
    fn u16(&mut self, v: u16) -> Result<()> {
        self.bytes(&self.endian.put_u16(v))
    }
    fn u32(&mut self, v: u32) -> Result<()> {
        self.bytes(&self.endian.put_u32(v))
    }
    fn u64(&mut self, v: u64) -> Result<()> {
        self.bytes(&self.endian.put_u64(v))
    }

    fn patch_u64(&mut self, at: u64, v: u64) -> Result<()> {
        self.w.seek(SeekFrom::Start(at)).map_err(out_err)?;
        self.w.write_all(&self.endian.put_u64(v)).map_err(out_err)?;
        self.w.seek(SeekFrom::Start(self.pos)).map_err(out_err)?;
        Ok(())
    }

    fn pad_to(&mut self, align: u64) -> Result<()> {
        let pad = (align - self.pos % align) % align;
        self.bytes(&vec![0; pad as usize])
    }

    /// A v7 section: header (id, flags, description's string id, size) and body, compressed
    /// unless `None`.
    fn section(&mut self, id: u16, description: u32, body: &[u8], comp: Compression) -> Result<()> {
        let (flags, data) = match comp {
            Compression::None => (0, body.to_vec()),
            c => {
                let packed = c.compress(body)?;
                let mut d = Vec::with_capacity(packed.len() + 8);
                d.extend_from_slice(&self.endian.put_u32(packed.len() as u32));
                d.extend_from_slice(&self.endian.put_u32(body.len() as u32));
                d.extend_from_slice(&packed);
                (1, d)
            }
        };
        self.u16(id)?;
        self.u16(flags)?;
        self.u32(description)?;
        self.u64(data.len() as u64)?;
        self.bytes(&data)
    }

    /// Copies whole pages from `r`; a trailing partial page is an error.
    fn copy_pages<R: Read>(&mut self, mut r: R, page_size: u32) -> Result<()> {
        let mut page = vec![0u8; page_size as usize];
        while read_page(&mut r, &mut page)? {
            self.bytes(&page)?;
        }
        Ok(())
    }

    /// Writes `u32 count` then chunks of up to [`PAGES_PER_CHUNK`] pages, compressed.
    fn copy_chunks<R: Read>(&mut self, mut r: R, page_size: u32, comp: Compression) -> Result<()> {
        let count_at = self.pos;
        self.u32(0)?;
        let mut count = 0u32;
        let mut page = vec![0u8; page_size as usize];
        let mut chunk = Vec::with_capacity(page_size as usize * PAGES_PER_CHUNK);
        loop {
            let more = read_page(&mut r, &mut page)?;
            if more {
                chunk.extend_from_slice(&page);
            }
            if chunk.len() >= page_size as usize * PAGES_PER_CHUNK || (!more && !chunk.is_empty()) {
                let packed = comp.compress(&chunk)?;
                self.u32(packed.len() as u32)?;
                self.u32(chunk.len() as u32)?;
                self.bytes(&packed)?;
                chunk.clear();
                count += 1;
            }
            if !more {
                break;
            }
        }
        self.w.seek(SeekFrom::Start(count_at)).map_err(out_err)?;
        self.w
            .write_all(&self.endian.put_u32(count))
            .map_err(out_err)?;
        self.w.seek(SeekFrom::Start(self.pos)).map_err(out_err)?;
        Ok(())
    }
}

/// Fills `page` from `r`; `false` at a clean end, an error on a partial page.
fn read_page<R: Read>(r: &mut R, page: &mut [u8]) -> Result<bool> {
    let mut got = 0;
    while got < page.len() {
        match r.read(&mut page[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(Error::IoContext {
                    context: "reading CPU pages",
                    source,
                })
            }
        }
    }
    match got {
        0 => Ok(false),
        n if n == page.len() => Ok(true),
        n => Err(Error::Write(format!(
            "CPU page source ended with a partial page of {n} bytes; give whole pages of {} bytes",
            page.len()
        ))),
    }
}
