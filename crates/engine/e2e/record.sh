#!/bin/bash
# Records one real workload in a private network namespace with `kspan record`.
# usage: record.sh SCENARIO N WORKERS OUT.dat
#   SCENARIO: thread (client → front.py → back.py, thread per connection),
#             pool (front_pool.py hands each call to a ThreadPoolExecutor),
#             nginx (client → nginx event loop, keep-alive upstream → back.py),
#             attach (load running before and after a 2 s recording; N, WORKERS ignored)
# KSPAN: path of the kspan binary (default: kspan on PATH).
set -u
DIR=$(cd "$(dirname "$0")" && pwd)
KSPAN=${KSPAN:-kspan}
SCENARIO=$1; N=$2; W=$3; OUT=$4
NS=kspan-eng-e2e-$$
ip netns add $NS
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null; wait "${PIDS[@]}" 2>/dev/null; ip netns del $NS; }
trap cleanup EXIT
ip netns exec $NS ip link set lo up
ip netns exec $NS python3 "$DIR/py/back.py" & PIDS+=($!)
case $SCENARIO in
  thread|attach) ip netns exec $NS python3 "$DIR/py/front.py" & PIDS+=($!) ;;
  pool) rm -f "$OUT.pool.log"; POOL_LOG="$OUT.pool.log" ip netns exec $NS python3 "$DIR/py/front_pool.py" & PIDS+=($!) ;;
  nginx) ip netns exec $NS nginx -c "$DIR/nginx.conf" -p "$DIR" & PIDS+=($!) ;;
esac
sleep 1
if [ "$SCENARIO" = attach ]; then
  ip netns exec $NS python3 "$DIR/py/client.py" 1000000 4 & PIDS+=($!)
  sleep 2
  "$KSPAN" record --netns $NS -o "$OUT" --duration 2
  exit
fi
"$KSPAN" record --netns $NS -o "$OUT" --duration 600 & REC=$!
sleep 1.5
# The client joins the namespace after the snapshot: traced once the recorder's netns polling
# (every 200 ms) finds it, so its first requests may have an untraced client.
ip netns exec $NS python3 "$DIR/py/client.py" "$N" "$W"
sleep 0.5
kill -INT $REC; wait $REC
