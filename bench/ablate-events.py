#!/usr/bin/env python3
"""Event-set ablation (issue 11): exact-tree accuracy of each recording analysed with every
event, then without each group of event kinds (`kspan analyze --drop-event`), as if those
events had not been recorded; with the events (and ring-buffer bytes) each group costs.

    bench/ablate-events.py KSPAN CHECK OUT DIR... [--groups a,b]

KSPAN analyses (its --drop-event), CHECK scores (`CHECK check --otlp ... --truth DIR/truth
--alias ...`, aliases from DIR/run.meta). A group none of whose events a recording has is
not run there: its input is the same, so are its traces ("=" in the table). Writes
OUT/rows.tsv (recording, group, events dropped, requests, exact) and prints the table.
"""

import fnmatch
import json
import os
import subprocess
import sys

# Groups of the default set, each a list of --drop-event patterns.
GROUPS = {
    "close": ["sys_*_close"],
    "pread-pwrite": ["sys_*_pread64", "sys_*_pwrite64"],
    "sendfile": ["sys_*_sendfile64"],
    "select": ["sys_*_select", "sys_*_pselect6"],
    "poll": ["sys_*_poll", "sys_*_ppoll"],
    "epoll": ["sys_*_epoll_wait", "sys_*_epoll_pwait"],
    "mmsg": ["sys_*_sendmmsg", "sys_*_recvmmsg"],
    "readv-writev": ["sys_*_readv", "sys_*_writev"],
    "accept": ["sys_*_accept", "sys_*_accept4"],
    "connect": ["sys_*_connect"],
    "recv-enter": ["sys_enter_read", "sys_enter_readv", "sys_enter_recvfrom", "sys_enter_recvmsg",
                   "sys_enter_pread64", "sys_enter_recvmmsg"],
    "recv-exit": ["sys_exit_read", "sys_exit_readv", "sys_exit_recvfrom", "sys_exit_recvmsg",
                  "sys_exit_pread64", "sys_exit_recvmmsg"],
    "send-enter": ["sys_enter_write", "sys_enter_writev", "sys_enter_sendto", "sys_enter_sendmsg",
                   "sys_enter_pwrite64", "sys_enter_sendmmsg", "sys_enter_sendfile64"],
    "send-exit": ["sys_exit_write", "sys_exit_writev", "sys_exit_sendto", "sys_exit_sendmsg",
                  "sys_exit_pwrite64", "sys_exit_sendmmsg", "sys_exit_sendfile64"],
    "futex-enter": ["sys_enter_futex"],
    "futex-exit": ["sys_exit_futex"],
    "epoll-exit": ["sys_exit_epoll_wait", "sys_exit_epoll_pwait"],
    "poll-exit": ["sys_exit_poll", "sys_exit_ppoll", "sys_exit_select", "sys_exit_pselect6"],
    "accept-exit": ["sys_exit_accept", "sys_exit_accept4"],
    "connect-exit": ["sys_exit_connect"],
    "wait-exits": ["sys_exit_futex", "sys_exit_epoll_wait", "sys_exit_epoll_pwait", "sys_exit_poll",
                   "sys_exit_ppoll", "sys_exit_select", "sys_exit_pselect6", "sys_exit_accept",
                   "sys_exit_accept4", "sys_exit_connect"],
    "sched_wakeup_new": ["sched_wakeup_new"],
    "task_newtask": ["task_newtask"],
    "sched_process_fork": ["sched_process_fork"],
    "sched_process_exec": ["sched_process_exec"],
    "sched_process_exit": ["sched_process_exit"],
    "sched_switch": ["sched_switch"],
    "sched_waking": ["sched_waking"],
    "tcp_rcv_space_adjust": ["tcp_rcv_space_adjust"],
    "tcp_destroy_sock": ["tcp_destroy_sock"],
    "inet_sock_set_state": ["inet_sock_set_state"],
    "sock_length": ["sock_send_length", "sock_recv_length"],
    "payload_head": ["payload_head"],
    # What `kspan record`'s default set leaves out of the full set (crates/capture/src/event_set.rs).
    "default-set": ["sched_process_fork", "sched_process_exec", "tcp_rcv_space_adjust",
                    "sys_*_close", "sys_*_pread64", "sys_*_pwrite64", "sys_exit_futex",
                    "sys_exit_epoll_wait", "sys_exit_epoll_pwait", "sys_exit_poll", "sys_exit_ppoll",
                    "sys_exit_select", "sys_exit_pselect6", "sys_exit_accept", "sys_exit_accept4",
                    "sys_exit_connect"],
}


def event_counts(kspan, trace):
    """Events per kind from `kspan info` (the indented `COUNT NAME` lines after `events:`)."""
    out = subprocess.run([kspan, "info", trace], capture_output=True, text=True, check=True).stdout
    counts, inside = {}, False
    for line in out.splitlines():
        if line.startswith("events:"):
            inside = True
            continue
        parts = line.split()
        if inside and line.startswith(" ") and len(parts) == 2 and parts[0].isdigit():
            counts[parts[1]] = int(parts[0])
        elif inside:
            inside = False
    return counts


def heads(kspan, trace):
    """Payload heads of the recording (`kspan dump --event payload_head` lines)."""
    out = subprocess.run([kspan, "dump", trace, "--event", "payload_head"],
                         capture_output=True, text=True).stdout
    return out.count("\n")


def dropped(counts, patterns):
    return sum(n for name, n in counts.items() if any(fnmatch.fnmatchcase(name, p) for p in patterns))


def score(kspan, check, rec, drops, out):
    """(requests in truth, exact requests) of rec analysed without the `drops` patterns."""
    otlp = os.path.join(out, "x.json")
    args = [kspan, "analyze", os.path.join(rec, "trace.dat"), "--format", "otlp-json", "-o", otlp]
    for p in drops:
        args += ["--drop-event", p]
    subprocess.run(args, capture_output=True, check=True)
    aliases = []
    for line in open(os.path.join(rec, "run.meta")):
        if line.startswith("aliases="):
            for a in line[len("aliases="):].split():
                aliases += ["--alias", a]
            break
    r = subprocess.run([check, "check", "--otlp", otlp, "--truth", os.path.join(rec, "truth"),
                        *aliases, "--json"], capture_output=True, text=True)
    report = json.loads(r.stdout)
    return report["requests_in_truth"], report["requests_exact"]


def main():
    argv = sys.argv[1:]
    groups = list(GROUPS)
    if "--groups" in argv:
        i = argv.index("--groups")
        groups = argv[i + 1].split(",")
        del argv[i:i + 2]
    kspan, check, out, recs = argv[0], argv[1], argv[2], argv[3:]
    os.makedirs(out, exist_ok=True)
    rows = open(os.path.join(out, "rows.tsv"), "a")
    for rec in recs:
        rec = rec.rstrip("/")
        name = os.path.basename(os.path.dirname(rec)) + "/" + os.path.basename(rec)
        trace = os.path.join(rec, "trace.dat")
        counts = event_counts(kspan, trace)
        counts["payload_head"] = heads(kspan, trace)
        total, base = score(kspan, check, rec, [], out)
        print(f"{name}: {base}/{total} exact, {sum(counts.values())} events", flush=True)
        rows.write(f"{name}\tall\t0\t{total}\t{base}\n")
        for g in groups:
            n = dropped(counts, GROUPS[g])
            exact = score(kspan, check, rec, GROUPS[g], out)[1] if n else base
            mark = "=" if not n else f"{exact - base:+d}"
            print(f"  {g:22} {n / total:8.2f} events/request  exact {exact} ({mark})", flush=True)
            rows.write(f"{name}\t{g}\t{n}\t{total}\t{exact if n else '='}\n")
            rows.flush()


if __name__ == "__main__":
    main()
