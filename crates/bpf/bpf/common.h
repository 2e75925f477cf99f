/* What both of kspan's BPF objects share (payload.bpf.c: payload heads beside ftrace;
 * calls.bpf.c: the BPF backend's one record per socket syscall): the loader's config, the
 * traced-process map and its fork program, and the syscall tracepoints' record layouts. */
#ifndef KSPAN_COMMON_H
#define KSPAN_COMMON_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* Largest head a record carries (the user's --payload-bytes is clamped to it). */
#define MAX_HEAD 256

/* Set by the loader before the program is loaded; read-only afterwards (16 bytes:
 * crates/bpf/src/programs.rs, config_bytes). */
struct config {
	u32 head_cap;     /* bytes kept per message: 1..MAX_HEAD, 0 for none (calls only) */
	u32 trace_all;    /* 1: every process but the recorder's own */
	u32 own_tgid;     /* the recorder's tgid */
	u32 sock_filter;  /* calls only: 1 keeps the socket events the default set keeps */
};
const volatile struct config config = { .head_cap = 64 };

/* Traced processes (tgids); the loader fills it, forks of a traced process join. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, u32);
	__type(value, u8);
} traced SEC(".maps");

/* The per-thread map `inflight` of syscalls in progress (what an exit needs from the
 * entry), keyed by tid, with values of type `type_`. */
#define INFLIGHT_MAP(type_)                                                       \
	struct {                                                                  \
		__uint(type, BPF_MAP_TYPE_HASH);                                  \
		__uint(max_entries, 65536);                                       \
		__type(key, u32);                                                 \
		__type(value, type_);                                             \
	} inflight SEC(".maps")

/* The per-CPU map `scratch` where a record of type `type_` is assembled (too big for the
 * BPF stack). */
#define SCRATCH_MAP(type_)                                                        \
	struct {                                                                  \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                          \
		__uint(max_entries, 1);                                           \
		__type(key, u32);                                                 \
		__type(value, type_);                                             \
	} scratch SEC(".maps")

/* Records dropped because the ring buffer was full (index 0). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} lost SEC(".maps");

/* The syscalls:sys_enter_* / sys_exit_* record layout (tracefs `format` files: the common
 * header, __syscall_nr, then 8-byte arguments or the return value). */
struct sys_enter_ctx {
	u64 common;
	s32 nr;
	s32 pad;
	u64 args[6];
};
struct sys_exit_ctx {
	u64 common;
	s32 nr;
	s32 pad;
	s64 ret;
};

struct trace_event_raw_sched_process_fork {
	int child_pid;
} __attribute__((preserve_access_index));

static __always_inline bool is_traced(u32 tgid)
{
	if (config.trace_all)
		return tgid != config.own_tgid;
	return bpf_map_lookup_elem(&traced, &tgid) != 0;
}

/* Counts one record the ring buffer had no room for. */
static __always_inline void count_lost(void)
{
	u32 zero = 0;
	u64 *count = bpf_map_lookup_elem(&lost, &zero);
	if (count)
		__sync_fetch_and_add(count, 1);
}

/* Empty buffers skipped at most at the start of an iovec array. */
#define MAX_EMPTY_IOVECS 4

/* The first non-empty buffer of the iovec array `iov` of `count` buffers (user memory) into
 * `out`, past up to MAX_EMPTY_IOVECS empty ones (Erlang's inet driver sends with
 * `writev(fd, [0 B, data])`: the first buffer shows nothing of the message); false when
 * unreadable or when none of those is non-empty. */
static __always_inline bool first_iov(u64 iov, u64 count, struct iovec *out)
{
	for (int i = 0; i <= MAX_EMPTY_IOVECS; i++) {
		if ((u64)i >= count)
			return false;
		if (bpf_probe_read_user(out, sizeof(*out), (void *)(iov + i * sizeof(*out))))
			return false;
		if (out->iov_len > 0)
			return true;
	}
	return false;
}

/* The first non-empty buffer of the msghdr `msg` (user memory) into `out`, as first_iov;
 * false when unreadable or when it has none. */
static __always_inline bool first_msg_iov(u64 msg, struct iovec *out)
{
	struct user_msghdr hdr = {};
	if (bpf_probe_read_user(&hdr, sizeof(hdr), (void *)msg))
		return false;
	return first_iov((u64)hdr.msg_iov, hdr.msg_iovlen, out);
}

/* A process forked by a traced one is traced (threads share the tgid already). */
SEC("tracepoint/sched/sched_process_fork")
int fork(struct trace_event_raw_sched_process_fork *ctx)
{
	u32 parent = bpf_get_current_pid_tgid() >> 32;
	if (config.trace_all || !bpf_map_lookup_elem(&traced, &parent))
		return 0;
	u32 child = ctx->child_pid;
	u8 one = 1;
	bpf_map_update_elem(&traced, &child, &one, BPF_ANY);
	return 0;
}

#endif
