// SPDX-License-Identifier: MIT OR Apache-2.0
/* kspan's payload-head capture: the first bytes of every message a traced process sends or
 * reads on a TCP socket, stamped on the boot clock (the clock of kspan's ftrace events).
 *
 * At a send or read syscall's entry the buffer (or first iovec) and the fd are kept per
 * thread, only when the process is traced and the fd is an IPv4/IPv6 stream socket; at the
 * exit, when bytes moved, min(ret, first buffer, head_cap) of them are copied into the
 * ring buffer `heads` with both timestamps. The user space (crates/bpf/src/programs.rs)
 * sets `config` before loading, fills `traced` with the target processes' tgids and
 * drains `heads`; processes forked by a traced process are added here, at
 * sched_process_fork, like ftrace's event-fork does for the pid filter. */
#include "common.h"

#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define SOCK_STREAM 1
#define AF_INET 2
#define AF_INET6 10

/* Syscall kinds, as stored (crates/heads/src/head.rs, SyscallKind). */
enum kind { K_WRITE = 1, K_WRITEV, K_SENDTO, K_SENDMSG, K_READ, K_READV, K_RECVFROM, K_RECVMSG };

/* One record of the ring buffer; its first HEAD_OFFSET bytes and head_len bytes of head
 * are sent (crates/bpf/src/record.rs parses it). */
struct head_event {
	u64 enter_ns;
	u64 exit_ns;
	s64 ret;
	u32 tgid;
	u32 tid;
	s32 fd;
	u8 kind;
	u8 pad;
	u16 head_len;
	u8 head[MAX_HEAD];
};
#define HEAD_OFFSET 40

/* A send or read in progress: what the exit needs from the entry. */
struct pending {
	u64 enter_ns;
	u64 buf;
	u64 buf_len;
	s32 fd;
	u32 kind;
};

INFLIGHT_MAP(struct pending);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} heads SEC(".maps");

/* Unread bytes of `heads` past which a record wakes the drainer. Below it, records do not
 * (the drainer polls every 100 ms anyway): waking it on every record cost the traced
 * thread a cross-CPU wakeup per message, about 4 µs on a 1-byte TCP ping-pong
 * (scripts/bench-event-cost.sh, BENCHMARKS.md). A quarter of the ring leaves three
 * quarters to fill while the drainer gets to run. */
#define WAKE_AT (2 << 20)

SCRATCH_MAP(struct head_event);

/* True when `fd` of the current process is an IPv4/IPv6 stream socket. */
static __always_inline bool is_tcp_socket(s32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (fd < 0 || (u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return false;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = 0;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return false;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return false;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	if (BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return false;
	u16 family = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
	return family == AF_INET || family == AF_INET6;
}

/* Keeps `buf`/`len` of a traced thread's syscall on a TCP socket for its exit. */
static __always_inline int remember(s32 fd, u64 buf, u64 len, u32 kind)
{
	u64 id = bpf_get_current_pid_tgid();
	if (!is_traced(id >> 32) || !is_tcp_socket(fd))
		return 0;
	u32 tid = (u32)id;
	struct pending p = {
		.enter_ns = bpf_ktime_get_boot_ns(),
		.buf = buf,
		.buf_len = len,
		.fd = fd,
		.kind = kind,
	};
	bpf_map_update_elem(&inflight, &tid, &p, BPF_ANY);
	return 0;
}

/* The same with the first non-empty buffer of the iovec array `iov` of `count` (user memory). */
static __always_inline int remember_iov(s32 fd, u64 iov, u64 count, u32 kind)
{
	struct iovec first = {};
	if (!first_iov(iov, count, &first))
		return 0;
	return remember(fd, (u64)first.iov_base, first.iov_len, kind);
}

/* The same with the first iovec of the msghdr `msg` (user memory). */
static __always_inline int remember_msg(s32 fd, u64 msg, u32 kind)
{
	struct iovec first = {};
	if (!first_msg_iov(msg, &first))
		return 0;
	return remember(fd, (u64)first.iov_base, first.iov_len, kind);
}

/* At a syscall's exit: sends the head of what moved, if the entry was remembered. */
static __always_inline int emit(struct sys_exit_ctx *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct pending *p = bpf_map_lookup_elem(&inflight, &tid);
	if (!p)
		return 0;
	s64 ret = ctx->ret;
	u32 zero = 0;
	struct head_event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (ret <= 0 || !e) {
		bpf_map_delete_elem(&inflight, &tid);
		return 0;
	}
	u64 n = (u64)ret;
	if (n > p->buf_len)
		n = p->buf_len;
	if (n > config.head_cap)
		n = config.head_cap;
	if (n > MAX_HEAD)
		n = MAX_HEAD;
	e->enter_ns = p->enter_ns;
	e->exit_ns = bpf_ktime_get_boot_ns();
	e->ret = ret;
	e->tgid = id >> 32;
	e->tid = tid;
	e->fd = p->fd;
	e->kind = p->kind;
	e->pad = 0;
	e->head_len = n;
	if (bpf_probe_read_user(e->head, n, (void *)p->buf))
		e->head_len = 0;
	bpf_map_delete_elem(&inflight, &tid);
	u64 wake = bpf_ringbuf_query(&heads, BPF_RB_AVAIL_DATA) >= WAKE_AT ? BPF_RB_FORCE_WAKEUP
									  : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&heads, e, HEAD_OFFSET + (n & (2 * MAX_HEAD - 1)), wake)) {
		count_lost();
	}
	return 0;
}

/* One program per tracepoint: entries keep the buffer (a plain buffer, the first iovec of
 * an iovec array, or of a msghdr), every exit emits. */
#define ENTER_BUF(name, k)                                                        \
	SEC("tracepoint/syscalls/sys_enter_" #name)                               \
	int enter_##name(struct sys_enter_ctx *ctx)                               \
	{                                                                         \
		return remember(ctx->args[0], ctx->args[1], ctx->args[2], k);     \
	}
#define ENTER_IOV(name, k)                                                        \
	SEC("tracepoint/syscalls/sys_enter_" #name)                               \
	int enter_##name(struct sys_enter_ctx *ctx)                               \
	{                                                                         \
		return remember_iov(ctx->args[0], ctx->args[1], ctx->args[2], k); \
	}
#define ENTER_MSG(name, k)                                                        \
	SEC("tracepoint/syscalls/sys_enter_" #name)                               \
	int enter_##name(struct sys_enter_ctx *ctx)                               \
	{                                                                         \
		return remember_msg(ctx->args[0], ctx->args[1], k);               \
	}
#define EXIT(name)                                                                \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                \
	int exit_##name(struct sys_exit_ctx *ctx)                                 \
	{                                                                         \
		return emit(ctx);                                                 \
	}

ENTER_BUF(write, K_WRITE)
ENTER_IOV(writev, K_WRITEV)
ENTER_BUF(sendto, K_SENDTO)
ENTER_MSG(sendmsg, K_SENDMSG)
ENTER_BUF(read, K_READ)
ENTER_IOV(readv, K_READV)
ENTER_BUF(recvfrom, K_RECVFROM)
ENTER_MSG(recvmsg, K_RECVMSG)
EXIT(write)
EXIT(writev)
EXIT(sendto)
EXIT(sendmsg)
EXIT(read)
EXIT(readv)
EXIT(recvfrom)
EXIT(recvmsg)

char LICENSE[] SEC("license") = "Dual MIT/GPL";
