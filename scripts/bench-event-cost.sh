#!/usr/bin/env bash
# What each kind of kernel event costs the traced application (issue 11): a one-byte TCP
# ping-pong between two processes (bench/event-cost/pingpong.c: per round trip 2 send + 2
# recv syscalls, 2 sleeps, 2 wakeups) run alone, then under `kspan record` with one event
# set at a time. Per set: round trips per second (median of ROUNDS runs), the ratio to the
# untraced run, the time added to a round trip, events recorded per round trip, and the
# time each event added beyond an idle recorder ((1/rate_set - 1/rate_idle) / events per
# round trip). The ping-pong runs on CPU 1, the recorder on CPU 0: the figures are what
# writing the events costs the traced code path itself.
# "bpf" and "bpf+heads" are the default set recorded with `--backend bpf` (one BPF record
# per socket syscall; its events are counted as the ftrace events the records stand for).
# Then the price of enabling any syscall tracepoint at all: an UNtraced process calling
# getppid() in a loop while kspan records another command with syscall events (ftrace's
# default set, or with --backend bpf), vs with scheduler events only, vs no recording (the kernel sends every task's syscalls down its
# slow path once any syscall tracepoint is on).
#   scripts/bench-event-cost.sh          ROUNDS=5 SECS=2 OUT=/tmp/kec KSPAN=target/release/kspan
# Needs root. Uses its own network namespace (kspan-ec), removed on exit.
set -euo pipefail
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-2}
OUT=${OUT:-/tmp/kec}
HERE=$(cd "$(dirname "$0")/.." && pwd)
KSPAN=${KSPAN:-$HERE/target/release/kspan}
NS=kspan-ec
[[ -x $KSPAN ]] || { echo "no kspan binary at $KSPAN: cargo build --release, or set KSPAN" >&2; exit 1; }
mkdir -p "$OUT"
cc -O2 -o "$OUT/pingpong" "$HERE/bench/event-cost/pingpong.c"
PP=$OUT/pingpong
cleanup() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up

sys() { for c in "$@"; do printf -- '-e syscalls:sys_enter_%s -e syscalls:sys_exit_%s ' "$c" "$c"; done; }
# name | kspan record arguments (every set but "default" on its own, no payload heads;
# "full": the default set before issue 11 cut it to what the engine needs)
declare -A SETS=(
  [idle-recorder]="--no-default-events -e sched:sched_process_exec"
  [sched]="--no-default-events -e sched:sched_switch -e sched:sched_waking"
  [sock-length]="--no-default-events -e sock:sock_send_length -e sock:sock_recv_length"
  [tcp-rcv-space]="--no-default-events -e tcp:tcp_rcv_space_adjust"
  [sys-send-recv]="--no-default-events $(sys sendto recvfrom)"
  [full]="--event-set full"
  [default]=""
  [bpf]="--backend bpf"
)
ORDER=(none idle-recorder sched sock-length tcp-rcv-space sys-send-recv full default default+heads bpf bpf+heads)

median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

# Both ping-pong processes run on CPU 1 (a round trip is then CPU work, not cross-CPU
# wakeup latency, which a busy or idle neighbour changes), the recorder on CPU 0.
PING=(taskset -c 1 ip netns exec "$NS" "$PP" "$SECS")
RECORD=(taskset -c 0 "$KSPAN" record)
run_set() { # name -> prints one rate
  local name=$1
  case $name in
    none) "${PING[@]}" ;;
    default+heads) "${RECORD[@]}" -o "$OUT/$name.dat" -- "${PING[@]}" 2>"$OUT/$name.log" ;;
    bpf+heads) "${RECORD[@]}" --backend bpf -o "$OUT/$name.dat" -- "${PING[@]}" 2>"$OUT/$name.log" ;;
    *) # shellcheck disable=SC2086
      "${RECORD[@]}" --payload-bytes 0 ${SETS[$name]} -o "$OUT/$name.dat" -- "${PING[@]}" 2>"$OUT/$name.log" ;;
  esac | tail -1
}

rm -f "$OUT"/*.rates
for r in $(seq "$ROUNDS"); do
  for name in "${ORDER[@]}"; do
    echo "$(run_set "$name")" >> "$OUT/$name.rates"
  done
  echo "round $r of $ROUNDS done" >&2
done
none=$(median < "$OUT/none.rates")
idle=$(median < "$OUT/idle-recorder.rates")
printf '%-14s %13s %6s %14s %13s %14s\n' set "round trips/s" ratio "µs added/rt" "events per rt" "ns/event (a)"
for name in "${ORDER[@]}"; do
  rate=$(median < "$OUT/$name.rates")
  if [[ $name == none ]]; then
    printf '%-14s %13s %6s %14s %13s %14s\n' none "$rate" 1.00 - - -
    continue
  fi
  # ftrace's events, and those the BPF backend's records stand for ("bpf" sets).
  events=$("$KSPAN" info "$OUT/$name.dat" | awk '/^events:/ {print $2}')
  bpf_events=$(sed -nE 's/.*socket-call records \(([0-9]+) events\).*/\1/p' "$OUT/$name.log")
  events=$((events + ${bpf_events:-0}))
  awk -v n="$name" -v r="$rate" -v z="$none" -v i="$idle" -v e="$events" -v s="$SECS" 'BEGIN{
    per = e / (r * s); added = 1e6 / r - 1e6 / z; cost = (1e9 / r - 1e9 / i) / per;
    printf "%-14s %13d %6.2f %14.2f %13.1f %14s\n", n, r, r / z, added, per, (n == "idle-recorder" ? "-" : sprintf("%.0f", cost)) }'
done
echo "(a) beyond an idle recorder (same pid filter, one event that never fires here)"
echo
echo "getppid() calls/s of an untraced process (median of $ROUNDS):"
for mode in none sched syscalls bpf; do
  : > "$OUT/getppid-$mode.rates"
  for r in $(seq "$ROUNDS"); do
    case $mode in
      none) "$PP" --getppid "$SECS" ;;
      sched) "$KSPAN" record --payload-bytes 0 --no-default-events -e sched:sched_switch \
               -o "$OUT/g.dat" -- sleep "$((SECS + 1))" >/dev/null 2>&1 & sleep 0.5; "$PP" --getppid "$SECS"; wait ;;
      syscalls) "$KSPAN" record --payload-bytes 0 -o "$OUT/g.dat" -- sleep "$((SECS + 1))" >/dev/null 2>&1 & sleep 0.5; "$PP" --getppid "$SECS"; wait ;;
      bpf) "$KSPAN" record --backend bpf --payload-bytes 0 -o "$OUT/g.dat" -- sleep "$((SECS + 1))" >/dev/null 2>&1 & sleep 0.5; "$PP" --getppid "$SECS"; wait ;;
    esac | tail -1 >> "$OUT/getppid-$mode.rates"
  done
  printf '  %-9s %12s\n' "$mode" "$(median < "$OUT/getppid-$mode.rates")"
done
