#!/usr/bin/env bash
# Tracing overhead of the demo application (issue 4), measured side by side in one run:
# throughput and p50/p99 latency at a fixed open-loop rate, and the maximum (closed-loop)
# throughput, with no tracing, with `kspan record` on the services' cgroups, and with
# bench/misertrace-equivalent.bt (bpftrace printing one text line per event on the same
# tracepoints, as the original MiSeRTrace recorder did). The three modes run in rotation
# ROUNDS times (each round starts with the next mode); the summary gives medians and the
# ratios against "none". Also per run: the tracer's CPU time (user+sys of its process, from
# /usr/bin/time; kspan's own split is in its log), events, lost events, file size, start-up
# time. Brings the app up once and down at the end, also on failure or Ctrl-C.
#
# A benchmark, never a test: figures go to BENCHMARKS.md by hand. Needs root, a release
# build (cargo build --release --workspace --bins) and bpftrace. ~5 minutes with defaults.
#
# Settings (environment): KSPAN_BIN (directory of kspan, kspan-demo-app, kspan-loadgen;
# default target/release), RATE (300), DURATION (10s per load phase), FIXED_CONNECTIONS (32,
# the open-loop pool), CONNECTIONS (16, closed loop), ROUNDS (3), MIX, PREFIX (ksov),
# RB_PAGES (bpftrace perf ring buffer pages per CPU, 4096 = 16 MiB), OUT (results directory,
# default a new /tmp/kspan-bench-overhead.*), KEEP_TRACES=1 keeps the trace files, MODES
# (default "none kspan kspan-noheads bpftrace": kspan records payload heads by default,
# kspan-noheads is `--payload-bytes 0`; also kspan-bpf and kspan-bpf-noheads: the same with
# `--backend bpf`, one BPF record per socket syscall, whose events are counted as the ftrace
# events they stand for).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

BIN=$(realpath "${KSPAN_BIN:-target/release}")
RATE=${RATE:-300}
DURATION=${DURATION:-10s}
FIXED_CONNECTIONS=${FIXED_CONNECTIONS:-32}
CONNECTIONS=${CONNECTIONS:-16}
ROUNDS=${ROUNDS:-3}
MIX=${MIX:-/compose=1,/home-timeline=2,/user-timeline=2,/follow=1}
PREFIX=${PREFIX:-ksov}
RB_PAGES=${RB_PAGES:-4096}
OUT=${OUT:-$(mktemp -d /tmp/kspan-bench-overhead.XXXXXX)}
KEEP_TRACES=${KEEP_TRACES:-0}
read -r -a MODES <<<"${MODES:-none kspan kspan-noheads bpftrace}"

APP_PID=""
TRACER_PID=""
TRACER_WRAPPER=""

die() {
    echo "bench-overhead: $*" >&2
    exit 1
}

# Stops whatever tracer is still running and brings the app down (also after a failure).
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $TRACER_PID ]] && kill -0 "$TRACER_PID" 2>/dev/null; then
        kill -INT "$TRACER_PID" 2>/dev/null || true
        wait "$TRACER_WRAPPER" 2>/dev/null || true
    fi
    if [[ -n $APP_PID ]] && kill -0 "$APP_PID" 2>/dev/null; then
        echo "bench-overhead: bringing the app down" >&2
        kill -TERM "$APP_PID"
        wait "$APP_PID" || true
    fi
    "$BIN/kspan-demo-app" down --prefix "$PREFIX" >/dev/null 2>&1 || true
    rm -f /tmp/kbo-$$-*.ok
    exit "$status"
}

# Waits up to $3 seconds until file $1 contains the fixed string $2, failing when process
# $4 ends first.
wait_for_line() {
    local file=$1 text=$2 limit=$3 pid=$4 waited=0
    until grep -qF "$text" "$file" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || die "no \"$text\" in $file: its process ended (see the logs in $OUT)"
        ((waited++ < limit * 10)) || die "no \"$text\" in $file after $limit s (see the logs in $OUT)"
        sleep 0.1
    done
}

# Brings the app up in the background and sets GATEWAY and CGROUPS.
app_up() {
    [[ $("$BIN/kspan-demo-app" status --prefix "$PREFIX") == down ]] ||
        die "a demo app with prefix $PREFIX is already up: run $BIN/kspan-demo-app down --prefix $PREFIX"
    "$BIN/kspan-demo-app" up --prefix "$PREFIX" >"$OUT/app.log" 2>&1 &
    APP_PID=$!
    wait_for_line "$OUT/app.log" "up; Ctrl-C" 120 "$APP_PID"
    GATEWAY=$(sed -nE 's|^gateway http://([0-9.:]+) .*|\1|p' "$OUT/app.log")
    [[ -n $GATEWAY ]] || die "no gateway address in $OUT/app.log"
    CGROUPS=(/sys/fs/cgroup/unified/kspan-demo-"$PREFIX"/*/)
    [[ -f ${CGROUPS[0]}cgroup.threads ]] || die "no service cgroups under /sys/fs/cgroup/unified/kspan-demo-$PREFIX"
}

# One load phase from the client namespace: load NAME LOADGEN-ARGS...; the summary (JSON)
# goes to $OUT/NAME.json.
load() {
    local name=$1
    shift
    ip netns exec "$PREFIX-client" "$BIN/kspan-loadgen" --target "$GATEWAY" --mix "$MIX" \
        --duration "$DURATION" --rid-prefix "$name-" --out "$OUT/$name.jsonl" --json "$@" \
        >"$OUT/$name.json"
    rm -f "$OUT/$name.jsonl"
}

# Throughput, p50 ms, p99 ms, errors (failed + other status), late: of a load summary.
load_figures() {
    jq -r '[.throughput_rps, (.latency.p50_ns // 0) / 1e6, (.latency.p99_ns // 0) / 1e6,
            .failed + .http_errors, .late] | @tsv' "$1"
}

# Starts command "$@" under /usr/bin/time (CPU time into $TIME_FILE), output into $LOG_FILE;
# sets TRACER_WRAPPER (the time process) and TRACER_PID (the tracer).
start_timed() {
    /usr/bin/time -f '%U %S' -o "$TIME_FILE" "$@" &>"$LOG_FILE" &
    TRACER_WRAPPER=$!
    TRACER_PID=""
    until [[ -n $TRACER_PID ]]; do
        kill -0 "$TRACER_WRAPPER" 2>/dev/null || die "$1 did not start: see $LOG_FILE"
        TRACER_PID=$(cat "/proc/$TRACER_WRAPPER/task/$TRACER_WRAPPER/children" 2>/dev/null || true)
        TRACER_PID=${TRACER_PID%% *}
        [[ -n $TRACER_PID ]] || sleep 0.01
    done
}

# Stops the tracer like Ctrl-C and waits for it to finish writing.
stop_timed() {
    kill -INT "$TRACER_PID"
    wait "$TRACER_WRAPPER" || die "the tracer failed: see $LOG_FILE"
    TRACER_PID=""
}

# Starts `kspan record` on every service cgroup and waits until it records.
start_kspan() {
    local args=("$@")
    for cgroup in "${CGROUPS[@]}"; do
        args+=(--cgroup "${cgroup%/}")
    done
    start_timed "$BIN/kspan" record -o "$TRACE_FILE" "${args[@]}"
    wait_for_line "$LOG_FILE" "recording into" 60 "$TRACER_WRAPPER"
}

# Starts the bpftrace recorder seeded with every thread of the service cgroups (as the
# original seeded its map with the containers' pids) and waits until every probe is attached:
# its BEGIN block (run once they are) writes a marker file through system(), which needs
# --unsafe. The event output itself is fully buffered (-o), so it cannot tell. bpftrace's
# system() takes at most 64 bytes of command: the marker has a short path of its own, not
# one under $OUT.
start_bpftrace() {
    local script=$OUT/$RUN.bt ready=/tmp/kbo-$$-$RUN.ok
    rm -f "$ready"
    {
        printf 'BEGIN {\n'
        cat "${CGROUPS[@]/%/cgroup.threads}" | sort -un | sed 's/.*/\t@tids[&] = 1;/'
        printf '\tsystem("echo attached > %s");\n}\n\n' "$ready"
        cat "$REPO/bench/misertrace-equivalent.bt"
    } >"$script"
    start_timed bpftrace --unsafe -o "$TRACE_FILE" "$script"
    wait_for_line "$ready" attached 180 "$TRACER_WRAPPER"
}

# Events and lost events of the finished tracer run, tab-separated.
tracer_counts() {
    case $1 in
    kspan*)
        # "  main  buffer (… KiB/CPU at the end): N events; lost events: cpu0 L, cpu1 L" and,
        # with --backend bpf, "  bpf   backend: R socket-call records (N events); lost records: L"
        printf '%s\t%s\n' \
            "$( (sed -nE 's/.*buffer \(.*\): ([0-9]+) events;.*/\1/p' "$LOG_FILE"
                sed -nE 's/.*socket-call records \(([0-9]+) events\).*/\1/p' "$LOG_FILE") | awk '{s += $1} END {print s + 0}')" \
            "$( (sed -nE 's/.*lost events: //p' "$LOG_FILE" | grep -oE 'cpu[0-9]+ [0-9]+' | awk '{print $2}'
                sed -nE 's/.*lost records: ([0-9]+).*/\1/p' "$LOG_FILE") | awk '{s += $1} END {print s + 0}')"
        ;;
    bpftrace)
        # One event per line with six |-separated fields; losses as "Lost N events".
        printf '%s\t%s\n' \
            "$(awk -F'|' 'NF >= 6 {n++} END {print n + 0}' "$TRACE_FILE")" \
            "$(cat "$TRACE_FILE" "$LOG_FILE" | sed -nE 's/^Lost ([0-9]+) events.*/\1/p' | awk '{s += $1} END {print s + 0}')"
        ;;
    esac
}

# One mode of one round: tracer up, fixed-rate phase, closed-loop phase, tracer down; appends
# a line to results.tsv and prints it.
run_mode() {
    local round=$1 mode=$2
    RUN=r$round-$mode
    TIME_FILE=$OUT/$RUN.time
    LOG_FILE=$OUT/$RUN.log
    TRACE_FILE=$OUT/$RUN.$([[ $mode == kspan* ]] && echo dat || echo txt)
    local started=$SECONDS
    case $mode in
    kspan) start_kspan ;;
    kspan-noheads) start_kspan --payload-bytes 0 ;;
    kspan-bpf) start_kspan --backend bpf ;;
    kspan-bpf-noheads) start_kspan --backend bpf --payload-bytes 0 ;;
    bpftrace) start_bpftrace ;;
    esac
    local attach_s=$((SECONDS - started))
    load "$RUN-fixed" --rate "$RATE" --connections "$FIXED_CONNECTIONS"
    load "$RUN-max" --connections "$CONNECTIONS"
    local cpu_s=0 counts=$'0\t0' file_mib=0
    if [[ $mode != none ]]; then
        stop_timed
        cpu_s=$(tail -n1 "$TIME_FILE" | awk '{print $1 + $2}')
        counts=$(tracer_counts "$mode")
        file_mib=$(stat -c %s "$TRACE_FILE" | awk '{printf "%.1f", $1 / 1048576}')
        [[ $KEEP_TRACES == 1 ]] || rm -f "$TRACE_FILE"
    fi
    local fixed max requests
    fixed=$(load_figures "$OUT/$RUN-fixed.json")
    max=$(load_figures "$OUT/$RUN-max.json" | cut -f1-4)
    requests=$(jq -s 'map(.sent) | add' "$OUT/$RUN-fixed.json" "$OUT/$RUN-max.json")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$mode" "$fixed" "$max" "$cpu_s" \
        "$counts" "$file_mib" "$attach_s" "$requests" >>"$OUT/results.tsv"
    tail -n1 "$OUT/results.tsv" | awk -F'\t' '{
        printf "round %s %-8s fixed %.1f req/s p50 %.3f ms p99 %.3f ms (%d errors, %d late); max %.1f req/s; tracer CPU %s s, %s events, %s lost, %s MiB, start %s s\n",
            $1, $2, $3, $4, $5, $6, $7, $8, $12, $13, $14, $15, $16 }'
    if [[ $mode == kspan* ]]; then
        sed -nE 's/^ *recorder CPU time/    kspan (self-reported): recorder CPU time/p' "$LOG_FILE"
    fi
}

main() {
    [[ $EUID -eq 0 ]] || die "needs root (namespaces, cgroups, tracefs)"
    for tool in "$BIN/kspan" "$BIN/kspan-demo-app" "$BIN/kspan-loadgen" /usr/bin/time; do
        [[ -x $tool ]] || die "$tool is missing: build with cargo build --release --workspace --bins (or set KSPAN_BIN)"
    done
    command -v bpftrace >/dev/null || die "bpftrace is missing (apt-get install bpftrace)"
    command -v jq >/dev/null || die "jq is missing (apt-get install jq)"
    ulimit -l unlimited 2>/dev/null || true  # bpftrace asks for it; BPF memory is memcg-accounted anyway
    export BPFTRACE_PERF_RB_PAGES=$RB_PAGES
    mkdir -p "$OUT"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    echo "bench-overhead: results in $OUT; bringing the app up (prefix $PREFIX)" >&2
    app_up
    echo "bench-overhead: warming up" >&2
    load warmup-fixed --rate "$RATE" --connections "$FIXED_CONNECTIONS"
    load warmup-max --connections "$CONNECTIONS"
    printf 'round\tmode\tfix_rps\tfix_p50_ms\tfix_p99_ms\tfix_bad\tfix_late\tmax_rps\tmax_p50_ms\tmax_p99_ms\tmax_bad\ttracer_cpu_s\tevents\tlost\tfile_mib\tattach_s\trequests\n' \
        >"$OUT/results.tsv"
    for ((round = 1; round <= ROUNDS; round++)); do
        for ((i = 0; i < ${#MODES[@]}; i++)); do
            run_mode "$round" "${MODES[(round - 1 + i) % ${#MODES[@]}]}"
        done
    done
    echo
    echo "Load: $MIX; fixed rate $RATE req/s over $FIXED_CONNECTIONS connections for $DURATION;" \
        "max: closed loop over $CONNECTIONS connections for $DURATION; $ROUNDS rounds; bpftrace" \
        "perf buffer $RB_PAGES pages/CPU."
    python3 "$REPO/bench/overhead-summary.py" "$OUT/results.tsv"
}

main "$@"
