// SPDX-License-Identifier: MIT OR Apache-2.0
/* kspan's BPF backend for the socket syscalls (`kspan record --backend bpf`): one record
 * per read/write/send/recv-family syscall of a traced thread instead of the three or four
 * ftrace events it costs otherwise (its entry, its sock:sock_send_length or
 * sock_recv_length, its exit).
 *
 * The programs run on the per-syscall tracepoints (`syscalls:sys_enter_read`, …), which
 * the kernel runs only for these syscalls, and on `sock_send_length`/`sock_recv_length`
 * (BTF raw tracepoints: they read the socket's fields themselves). Programs on the raw
 * `sys_enter`/`sys_exit` tracepoints cost a traced syscall less but run at every syscall of
 * every task on the machine: an untraced getppid() loop ran 0.44x slower than with ftrace's
 * events (BENCHMARKS.md, "BPF backend").
 *
 * At a syscall's entry its first three arguments, the CPU and the time are kept in the
 * thread's storage `inflight`; the socket event inside it (if any, and if it passes the filter the
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

/* A thread's syscall in progress: its entry and its socket event so far; `parts` is 0
 * between syscalls. Kept in task-local storage (no hashing, no lock on the way), which
 * crates/bpf/src/calls.rs reads at the end for the entries still waiting, by pidfd. */
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

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pending);
} inflight SEC(".maps");

/* The loader sets its size (a power of two) before loading. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} calls SEC(".maps");


/* What sock:sock_send_length / sock_recv_length record (the tracefs `format`'s fields). */
struct sock_length {
	u64 sk;
	u16 family;
	u16 protocol;
	s32 ret;
	s32 flags;
};

/* Room for one record in the ring buffer, with `head` bytes of head (0 or the configured
 * head size: a constant the verifier knows, read-only data being frozen at load); a
 * record the ring has no room for is counted. */
static __always_inline struct call_event *reserve(bool head)
{
	struct call_event *e =
		bpf_ringbuf_reserve(&calls, HEAD_OFFSET + (head ? config.head_cap : 0), 0);
	if (!e)
		count_lost();
	return e;
}

/* Records sent per CPU since the drainer was last woken (index 0). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} unwoken SEC(".maps");

/* Records a CPU sends between two wakeups of the drainer. */
#define WAKE_EVERY 4096

/* Hands the record over. Wakes the drainer once per WAKE_EVERY records of a CPU (it polls
 * every 100 ms anyway): waking it per record costs the traced thread a cross-CPU wakeup
 * per syscall, and asking the ring how full it is reads the drainer's cache line. */
static __always_inline void submit(struct call_event *e)
{
	u32 zero = 0;
	u64 *sent = bpf_map_lookup_elem(&unwoken, &zero);
	u64 wake = BPF_RB_NO_WAKEUP;
	if (sent && ++*sent >= WAKE_EVERY) {
		*sent = 0;
		wake = BPF_RB_FORCE_WAKEUP;
	}
	bpf_ringbuf_submit(e, wake);
}

/* The current thread's storage; created (for a traced thread) with `create`. */
static __always_inline struct pending *storage(bool create)
{
	return bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

static __always_inline int enter(struct sys_enter_ctx *ctx, u8 call)
{
	u64 id = bpf_get_current_pid_tgid();
	/* Only traced threads have storage: a thread without is checked once. */
	struct pending *p = storage(false);
	if (!p) {
		if (!is_traced(id >> 32))
			return 0;
		p = storage(true);
		if (!p)
			return 0;
	}
	p->enter_ns = bpf_ktime_get_boot_ns();
	p->args[0] = ctx->args[0];
	p->args[1] = ctx->args[1];
	p->args[2] = ctx->args[2];
	p->enter_cpu = bpf_get_smp_processor_id();
	p->call = call;
	p->parts = P_ENTER;
	p->tgid = id >> 32;
	return 0;
}

/* True when the default ftrace set's filter keeps this socket event (crates/capture/src/
 * event_set.rs: TCP sends that moved bytes, TCP reads that moved bytes or found nothing). */
static __always_inline bool kept(struct sock_length *ctx, bool is_send)
{
	if (!config.sock_filter)
		return true;
	if (ctx->protocol != IPPROTO_TCP)
		return false;
	return ctx->ret > 0 || (!is_send && ctx->ret == -EAGAIN);
}

static __always_inline int sock_event(struct sock_length *ctx, bool is_send)
{
	if (!kept(ctx, is_send))
		return 0;
	u64 now = bpf_ktime_get_boot_ns();
	u16 cpu = bpf_get_smp_processor_id();
	u8 parts = P_SOCK | (is_send ? P_SEND : 0);
	struct pending *p = storage(false);
	if (p && (p->parts & P_ENTER) && !(p->parts & P_SOCK)) {
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
	u64 id = bpf_get_current_pid_tgid();
	if (!p && !is_traced(id >> 32))
		return 0;
	struct call_event *e = reserve(false);
	if (!e)
		return 0;
	__builtin_memset(e, 0, HEAD_OFFSET);
	e->sock_ns = now;
	e->sk = ctx->sk;
	e->tgid = id >> 32;
	e->tid = (u32)id;
	e->sock_ret = ctx->ret;
	e->sock_flags = ctx->flags;
	e->family = ctx->family;
	e->protocol = ctx->protocol;
	e->sock_cpu = cpu;
	e->parts = parts;
	submit(e);
	return 0;
}

/* Whether the syscall of `p`, which returned `ret`, gets a head: heads are on, it has a
 * buffer, bytes moved, and its socket event said TCP over IPv4/IPv6. */
static __always_inline bool wants_head(struct pending *p, s64 ret, u8 buffer)
{
	return config.head_cap && buffer != B_NONE && ret > 0 && (p->parts & P_SOCK) &&
	       p->protocol == IPPROTO_TCP && (p->family == AF_INET || p->family == AF_INET6);
}

/* Copies the head of what the syscall of `p` moved (`ret` bytes) into `e`; its length. */
static __always_inline u64 read_head(struct call_event *e, struct pending *p, s64 ret, u8 buffer)
{
	struct iovec first = { .iov_base = (void *)p->args[1], .iov_len = p->args[2] };
	if (buffer == B_IOV && !first_iov(p->args[1], p->args[2], &first))
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
	s64 ret = ctx->ret;
	u64 id = bpf_get_current_pid_tgid();
	struct pending *p = storage(false);
	if (p && (!(p->parts & P_ENTER) || p->call != call)) {
		/* No entry kept (or, never expected, another syscall's). */
		p->parts = 0;
		p = 0;
	}
	if (!p && !is_traced(id >> 32))
		return 0;
	bool head = p && wants_head(p, ret, buffer);
	struct call_event *e = reserve(head);
	if (!e) {
		if (p)
			p->parts = 0;
		return 0;
	}
	__builtin_memset(e, 0, HEAD_OFFSET);
	e->exit_ns = bpf_ktime_get_boot_ns();
	e->ret = ret;
	e->tgid = id >> 32;
	e->tid = (u32)id;
	e->exit_cpu = bpf_get_smp_processor_id();
	e->call = call;
	e->parts = P_EXIT;
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
		if (head)
			e->head_len = read_head(e, p, ret, buffer);
		p->parts = 0;
	}
	submit(e);
	return 0;
}

/* The socket event's fields, read from the socket as the tracepoint reads them. */
static __always_inline int sock_length(u64 *ctx, bool is_send)
{
	struct sock *sk = (struct sock *)ctx[0];
	struct sock_length ev = {
		.sk = (u64)sk,
		.family = sk->__sk_common.skc_family,
		.protocol = sk->sk_protocol,
		.ret = (s32)ctx[1],
		.flags = (s32)ctx[2],
	};
	return sock_event(&ev, is_send);
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

/* sock_send_length(struct sock *sk, int ret, int flags) */
SEC("tp_btf/sock_send_length")
int sock_send(u64 *ctx)
{
	return sock_length(ctx, true);
}

/* sock_recv_length(struct sock *sk, int ret, int flags) */
SEC("tp_btf/sock_recv_length")
int sock_recv(u64 *ctx)
{
	return sock_length(ctx, false);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
