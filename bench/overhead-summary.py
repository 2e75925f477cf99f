#!/usr/bin/python3
"""Summarises scripts/bench-overhead.sh's raw results: per tracing mode, the median of every
column over the rounds, as a Markdown table, then the ratios of the load figures against the
untraced runs ("none"). Input: the raw TSV (one header line, one line per round and mode).
Usage: overhead-summary.py RESULTS.tsv
"""
import csv
import statistics
import sys

MODES = ["none", "kspan", "kspan-noheads", "kspan-bpf", "kspan-bpf-noheads", "bpftrace"]

# (column, heading, formatter) of the table, in order.
COLUMNS = [
    ("fix_rps", "fixed-rate req/s", "{:.1f}"),
    ("fix_p50_ms", "fixed p50 ms", "{:.3f}"),
    ("fix_p99_ms", "fixed p99 ms", "{:.3f}"),
    ("fix_bad", "fixed errors", "{:.0f}"),
    ("fix_late", "fixed late", "{:.0f}"),
    ("max_rps", "max req/s", "{:.1f}"),
    ("max_p50_ms", "max p50 ms", "{:.3f}"),
    ("max_p99_ms", "max p99 ms", "{:.3f}"),
    ("max_bad", "max errors", "{:.0f}"),
    ("tracer_cpu_s", "tracer CPU s", "{:.2f}"),
    ("events", "events", "{:.0f}"),
    ("events_per_request", "events/request", "{:.0f}"),
    ("lost", "lost events", "{:.0f}"),
    ("file_mib", "file MiB", "{:.1f}"),
    ("attach_s", "start s", "{:.1f}"),
]

# Columns compared with the untraced runs: (column, what the ratio is called).
RATIOS = [
    ("fix_rps", "fixed-rate throughput"),
    ("fix_p50_ms", "fixed-rate p50 latency"),
    ("fix_p99_ms", "fixed-rate p99 latency"),
    ("max_rps", "max throughput"),
]


def medians(rows):
    """The median of every numeric column per mode, and the number of rounds per mode."""
    by_mode = {mode: [r for r in rows if r["mode"] == mode] for mode in MODES}
    result = {}
    for mode, runs in by_mode.items():
        if runs:
            result[mode] = {col: statistics.median(float(r[col]) for r in runs)
                            for col, _, _ in COLUMNS}
            result[mode]["rounds"] = len(runs)
    return result


def print_table(med):
    """The medians as a Markdown table, one line per mode."""
    print("| mode | rounds | " + " | ".join(h for _, h, _ in COLUMNS) + " |")
    print("|---|---:|" + "---:|" * len(COLUMNS))
    for mode, values in med.items():
        cells = [fmt.format(values[col]) for col, _, fmt in COLUMNS]
        print(f"| {mode} | {values['rounds']} | " + " | ".join(cells) + " |")


def print_ratios(med):
    """Each traced mode's load figures divided by the untraced ones."""
    base = med.get("none")
    if base is None:
        print("no untraced run: no ratios")
        return
    traced = [m for m in med if m != "none"]
    print("| ratio vs none | " + " | ".join(traced) + " |")
    print("|---|" + "---:|" * len(traced))
    for col, name in RATIOS:
        cells = [f"{med[m][col] / base[col]:.3f}" if base[col] else "n/a" for m in traced]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: overhead-summary.py RESULTS.tsv")
    with open(sys.argv[1], newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        # Both load phases' requests were traced by the same tracer run.
        row["events_per_request"] = float(row["events"]) / max(float(row["requests"]), 1.0)
    med = medians(rows)
    print("Medians over the rounds:\n")
    print_table(med)
    print()
    print_ratios(med)


if __name__ == "__main__":
    main()
