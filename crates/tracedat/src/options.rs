//! Option ids of trace.dat files (trace-cmd's `enum tracecmd_file_options`) and kspan's own ids.

/// End of an options list; in v7 its 8 bytes hold the offset of the next options section.
pub const DONE: u16 = 0;
/// Time offset to wall-clock time, as text.
pub const DATE: u16 = 1;
/// One CPU's `stats` text; a text `Buffer: NAME` switches to the next buffer's stats.
pub const CPUSTAT: u16 = 2;
/// Description of one buffer (instance) and where its per-CPU data is.
pub const BUFFER: u16 = 3;
/// Content of the `trace_clock` file.
pub const TRACECLOCK: u16 = 4;
/// `uname` of the traced machine.
pub const UNAME: u16 = 5;
/// Version of the program that wrote the file.
pub const VERSION: u16 = 9;
/// Number of CPUs of the traced machine (4 bytes).
pub const CPUCOUNT: u16 = 8;
/// Offset of the header-info section (v7).
pub const HEADER_INFO: u16 = 16;
/// Offset of the ftrace event formats section (v7).
pub const FTRACE_EVENTS: u16 = 17;
/// Offset of the other event formats section (v7).
pub const EVENT_FORMATS: u16 = 18;
/// Offset of the kallsyms section (v7).
pub const KALLSYMS: u16 = 19;
/// Offset of the printk formats section (v7).
pub const PRINTK: u16 = 20;
/// Offset of the saved cmdlines section (v7).
pub const CMDLINES: u16 = 21;
/// Section id of the strings section (v7).
pub const STRINGS: u16 = 15;

/// kspan's metadata option: a JSON blob written by `kspan record`.
///
/// trace-cmd 3.1 ignores option ids it does not know: `trace-cmd report` prints nothing
/// about them (checked by the `trace_cmd_reads_kspan_files` test). The id is far above
/// trace-cmd's last id (22) so a future trace-cmd is unlikely to give it a meaning.
pub const KSPAN_METADATA: u16 = 0x4b53;
/// kspan's saved-tgids option: the text of `saved_tgids` (`PID TGID` per line), which trace-cmd
/// does not store.
pub const KSPAN_TGIDS: u16 = 0x4b54;
/// kspan's bpftrace option: JSON of the bpftrace scripts run beside the recording and their
/// output (written by `kspan record --bpftrace`, read by `kspan-bpftrace`).
pub const KSPAN_BPFTRACE: u16 = 0x4b55;
/// kspan's payload-heads option: the first bytes of each message traced processes sent or
/// read on TCP sockets (written by `kspan record --payload-bytes N`, read by `kspan-heads`).
pub const KSPAN_HEADS: u16 = 0x4b56;
/// kspan's socket-call option: the BPF backend's one record per socket syscall of the
/// traced processes (written by `kspan record --backend bpf`, read by `kspan-heads`).
pub const KSPAN_CALLS: u16 = 0x4b57;
