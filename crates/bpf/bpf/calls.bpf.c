// SPDX-License-Identifier: MIT OR Apache-2.0
/* kspan's BPF backend for the socket syscalls (`kspan record --backend bpf`): one record
 * per read/write/send/recv-family syscall of a traced thread instead of the three or four
 * ftrace events it costs otherwise (its entry, its sock:sock_send_length or
 * sock_recv_length, its exit).
 *
 * At a syscall's entry its first three arguments, the CPU and the time are kept per thread
 * in `inflight`; the socket event inside it (if any, and if it passes the filter the
 * default ftrace set puts on it) adds the socket, its family, protocol, length and flags;
 * at the exit one record with all of it and the return value goes into the ring buffer
 * `calls`, with the first bytes the syscall moved (the payload head) when heads are on and
 * the socket event said TCP. An exit without a kept entry (a syscall that began before the
 * programs were attached) and a socket event outside any of these syscalls (or a second
 * one inside a sendmmsg/recvmmsg) are records of their own; entries still waiting at the
 * end are read from `inflight` by the user space (crates/bpf/src/calls.rs), which also
 * sets `config`, fills `traced` and drains `calls`. Every record the ring buffer has no
 * room for is counted in `lost`. */
#include "common.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define EAGAIN 11

/* The syscalls, as stored (crates/heads/src/calls.rs, CallKind). */
enum call {
	C_READ = 1, C_WRITE, C_READV, C_WRITEV, C_SENDTO, C_RECVFROM, C_SENDMSG, C_RECVMSG,
	C_SENDMMSG, C_RECVMMSG, C_SENDFILE64,
};

/* Where a syscall's bytes are, for its head: a buffer and its length (args 1 and 2), an
 * iovec array and its count, a msghdr, or nowhere a head is read from. */
enum buffer { B_PLAIN, B_IOV, B_MSG, B_NONE };

/* Which parts a record holds. */
#define P_ENTER 1
#define P_EXIT 2
#define P_SOCK 4
#define P_SEND 8

/* One record of the ring buffer (crates/bpf/src/calls.rs parses it); its first HEAD_OFFSET
 * bytes and head_len bytes of head are sent. */
struct call_event {
	u64 enter_ns;
	u64 exit_ns;
	u64 sock_ns;
	u64 sk;
	s64 arg;
	s64 ret;
	u32 tgid;
	u32 tid;
	s32 sock_ret;
	s32 sock_flags;
	u16 family;
	u16 protocol;
	u16 enter_cpu;
	u16 exit_cpu;
	u16 sock_cpu;
	u8 call;
	u8 parts;
	u16 head_len;
	u16 pad;
	u8 head[MAX_HEAD];
};
#define HEAD_OFFSET 80

/* A syscall in progress: its entry and its socket event so far (crates/bpf/src/calls.rs
 * reads the ones left at the end). */
struct pending {
	u64 enter_ns;
	u64 sock_ns;
	u64 sk;
	u64 args[3];
	s32 sock_ret;
	s32 sock_flags;
	u16 family;
	u16 protocol;
	u16 enter_cpu;
	u16 sock_cpu;
	u8 call;
	u8 parts;
	u16 pad;
	u32 tgid;
};

INFLIGHT_MAP(struct pending);

/* The loader sets its size (a power of two) before loading. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} calls SEC(".maps");

SCRATCH_MAP(struct call_event);

/* The sock:sock_send_length / sock_recv_length record layout (tracefs `format`). */
struct sock_length_ctx {
	u64 common;
	u64 sk;
	u16 family;
	u16 protocol;
	s32 ret;
	s32 flags;
};

/* Sends the first `len` bytes of `e`; a record the ring has no room for is counted. Wakes
 * the drainer only once a quarter of the ring is unread (it polls every 100 ms anyway):
 * waking it per record costs the traced thread a cross-CPU wakeup per syscall. */
static __always_inline void output(struct call_event *e, u64 len)
{
	u64 size = bpf_ringbuf_query(&calls, BPF_RB_RING_SIZE);
	u64 wake = bpf_ringbuf_query(&calls, BPF_RB_AVAIL_DATA) >= size / 4 ? BPF_RB_FORCE_WAKEUP
									  : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&calls, e, len, wake))
		count_lost();
}

static __always_inline int enter(struct sys_enter_ctx *ctx, u8 call)
{
	u64 id = bpf_get_current_pid_tgid();
	if (!is_traced(id >> 32))
		return 0;
	u32 tid = (u32)id;
	struct pending p = {
		.enter_ns = bpf_ktime_get_boot_ns(),
		.args = { ctx->args[0], ctx->args[1], ctx->args[2] },
		.enter_cpu = bpf_get_smp_processor_id(),
		.call = call,
		.parts = P_ENTER,
		.tgid = id >> 32,
	};
	bpf_map_update_elem(&inflight, &tid, &p, BPF_ANY);
	return 0;
}

/* True when the default ftrace set's filter keeps this socket event (crates/capture/src/
 * event_set.rs: TCP sends that moved bytes, TCP reads that moved bytes or found nothing). */
static __always_inline bool kept(struct sock_length_ctx *ctx, bool is_send)
{
	if (!config.sock_filter)
		return true;
	if (ctx->protocol != IPPROTO_TCP)
		return false;
	return ctx->ret > 0 || (!is_send && ctx->ret == -EAGAIN);
}

static __always_inline int sock_event(struct sock_length_ctx *ctx, bool is_send)
{
	if (!kept(ctx, is_send))
		return 0;
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	u64 now = bpf_ktime_get_boot_ns();
	u16 cpu = bpf_get_smp_processor_id();
	u8 parts = P_SOCK | (is_send ? P_SEND : 0);
	struct pending *p = bpf_map_lookup_elem(&inflight, &tid);
	if (p && !(p->parts & P_SOCK)) {
		p->sock_ns = now;
		p->sk = ctx->sk;
		p->family = ctx->family;
		p->protocol = ctx->protocol;
		p->sock_ret = ctx->ret;
		p->sock_flags = ctx->flags;
		p->sock_cpu = cpu;
		p->parts |= parts;
		return 0;
	}
	if (!p && !is_traced(id >> 32))
		return 0;
	u32 zero = 0;
	struct call_event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	__builtin_memset(e, 0, HEAD_OFFSET);
	e->sock_ns = now;
	e->sk = ctx->sk;
	e->tgid = id >> 32;
	e->tid = tid;
	e->sock_ret = ctx->ret;
	e->sock_flags = ctx->flags;
	e->family = ctx->family;
	e->protocol = ctx->protocol;
	e->sock_cpu = cpu;
	e->parts = parts;
	output(e, HEAD_OFFSET);
	return 0;
}

/* Copies the head of what the syscall of `p` moved (`ret` bytes) into `e`; its length. */
static __always_inline u64 read_head(struct call_event *e, struct pending *p, s64 ret, u8 buffer)
{
	if (!config.head_cap || buffer == B_NONE || ret <= 0 || !(p->parts & P_SOCK) ||
	    p->protocol != IPPROTO_TCP || (p->family != AF_INET && p->family != AF_INET6))
		return 0;
	struct iovec first = { .iov_base = (void *)p->args[1], .iov_len = p->args[2] };
	if (buffer == B_IOV && (p->args[2] == 0 || !first_iov(p->args[1], &first)))
		return 0;
	if (buffer == B_MSG && !first_msg_iov(p->args[1], &first))
		return 0;
	u64 n = (u64)ret;
	if (n > first.iov_len)
		n = first.iov_len;
	if (n > config.head_cap)
		n = config.head_cap;
	if (n > MAX_HEAD)
		n = MAX_HEAD;
	if (bpf_probe_read_user(e->head, n, first.iov_base))
		return 0;
	return n;
}

static __always_inline int exit_call(struct sys_exit_ctx *ctx, u8 call, u8 buffer)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct pending *p = bpf_map_lookup_elem(&inflight, &tid);
	if (p && p->call != call) {
		/* Never expected: an entry whose exit was not seen. */
		bpf_map_delete_elem(&inflight, &tid);
		p = 0;
	}
	if (!p && !is_traced(id >> 32))
		return 0;
	u32 zero = 0;
	struct call_event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e) {
		if (p)
			bpf_map_delete_elem(&inflight, &tid);
		return 0;
	}
	__builtin_memset(e, 0, HEAD_OFFSET);
	e->exit_ns = bpf_ktime_get_boot_ns();
	e->ret = ctx->ret;
	e->tgid = id >> 32;
	e->tid = tid;
	e->exit_cpu = bpf_get_smp_processor_id();
	e->call = call;
	e->parts = P_EXIT;
	u64 n = 0;
	if (p) {
		e->enter_ns = p->enter_ns;
		e->arg = p->args[0];
		e->enter_cpu = p->enter_cpu;
		e->parts |= p->parts;
		if (p->parts & P_SOCK) {
			e->sock_ns = p->sock_ns;
			e->sk = p->sk;
			e->sock_ret = p->sock_ret;
			e->sock_flags = p->sock_flags;
			e->family = p->family;
			e->protocol = p->protocol;
			e->sock_cpu = p->sock_cpu;
		}
		n = read_head(e, p, ctx->ret, buffer);
		bpf_map_delete_elem(&inflight, &tid);
	}
	e->head_len = n;
	output(e, HEAD_OFFSET + (n & (2 * MAX_HEAD - 1)));
	return 0;
}

#define CALL(name, c, buffer)                                                     \
	SEC("tracepoint/syscalls/sys_enter_" #name)                               \
	int enter_##name(struct sys_enter_ctx *ctx)                               \
	{                                                                         \
		return enter(ctx, c);                                             \
	}                                                                         \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                \
	int exit_##name(struct sys_exit_ctx *ctx)                                 \
	{                                                                         \
		return exit_call(ctx, c, buffer);                                 \
	}

CALL(read, C_READ, B_PLAIN)
CALL(write, C_WRITE, B_PLAIN)
CALL(readv, C_READV, B_IOV)
CALL(writev, C_WRITEV, B_IOV)
CALL(sendto, C_SENDTO, B_PLAIN)
CALL(recvfrom, C_RECVFROM, B_PLAIN)
CALL(sendmsg, C_SENDMSG, B_MSG)
CALL(recvmsg, C_RECVMSG, B_MSG)
CALL(sendmmsg, C_SENDMMSG, B_NONE)
CALL(recvmmsg, C_RECVMMSG, B_NONE)
CALL(sendfile64, C_SENDFILE64, B_NONE)

SEC("tracepoint/sock/sock_send_length")
int sock_send(struct sock_length_ctx *ctx)
{
	return sock_event(ctx, true);
}

SEC("tracepoint/sock/sock_recv_length")
int sock_recv(struct sock_length_ctx *ctx)
{
	return sock_event(ctx, false);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
