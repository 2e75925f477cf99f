#!/usr/bin/env python3
"""The event-set ablation's table (BENCHMARKS.md): per group of bench/ablate-events.py, the
events and ring-buffer bytes it costs per request and the change of exact trees without it,
per recording.

    bench/ablation-table.py KSPAN BASES ROWS.tsv... > table.md

BASES: comma-separated directories the recordings' names (`m1/go-c4`: parent/dir) are under.

Bytes are what ftrace writes per event on this kernel: the record's fields (its format's
last field end, from /sys/kernel/tracing/events) rounded up to 4, plus the 4-byte record
header; payload heads are not ftrace events (no bytes given).
"""

import fnmatch
import glob
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("ablate", os.path.join(HERE, "ablate-events.py"))
ablate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ablate)


def record_bytes(name):
    """Ring-buffer bytes of one `name` event (0 when it is no ftrace event here)."""
    paths = glob.glob(f"/sys/kernel/tracing/events/*/{name}/format")
    if not paths:
        return 0
    end = 0
    for line in open(paths[0]):
        if "offset:" in line and "size:" in line:
            fields = dict(p.strip().split(":", 1) for p in line.split(";") if ":" in p)
            end = max(end, int(fields["offset"]) + int(fields["size"]))
    return 4 + (end + 3) // 4 * 4


def main():
    kspan, bases, files = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
    rows = {}  # (recording, group) -> (requests, exact or '=')
    order, groups = [], []
    for path in files:
        for line in open(path):
            rec, group, _, total, exact = line.rstrip("\n").split("\t")
            if rec not in order:
                order.append(rec)
            if group != "all" and group not in groups:
                groups.append(group)
            rows[(rec, group)] = (int(total), exact)
    counts = {}
    for rec in order:
        d = next(os.path.join(b, rec) for b in bases if os.path.exists(os.path.join(b, rec)))
        c = ablate.event_counts(kspan, os.path.join(d, "trace.dat"))
        c["payload_head"] = ablate.heads(kspan, os.path.join(d, "trace.dat"))
        counts[rec] = c
    sizes = {}
    print("| group | " + " | ".join(order) + " |")
    print("|---|" + "---:|" * len(order))
    print("| requests (exact with every event) | " + " | ".join(
        f"{rows[(r, 'all')][0]} ({rows[(r, 'all')][1]})" for r in order) + " |")
    for g in groups:
        cells = []
        for r in order:
            if (r, g) not in rows:
                cells.append("")
                continue
            total, exact = rows[(r, g)]
            base = int(rows[(r, "all")][1])
            names = [n for n in counts[r] if any(fnmatch.fnmatchcase(n, p) for p in ablate.GROUPS[g])]
            events = sum(counts[r][n] for n in names)
            nbytes = sum(counts[r][n] * sizes.setdefault(n, record_bytes(n)) for n in names)
            delta = "=" if exact == "=" else f"{int(exact) - base:+d}"
            size = f", {nbytes / total:.0f} B" if nbytes else ""
            cells.append(f"{delta} ({events / total:.1f} ev{size})")
        print(f"| {g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
