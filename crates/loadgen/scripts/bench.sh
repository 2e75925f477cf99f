#!/bin/sh
# Benchmark: kspan-loadgen against wrk, both closed loop on the same nginx (1 worker, `return 200`)
# in a network namespace of its own, then an open-loop run at a fixed rate.
# Usage: crates/loadgen/scripts/bench.sh [path/to/kspan-loadgen]   (root; needs nginx and wrk)
set -eu
LOADGEN=${1:-/work/targets/loadgen/release/kspan-loadgen}
NS=kspan-bench-lg-$$
DIR=$(mktemp -d /tmp/kspan-bench-lg.XXXXXX)
cleanup() {
    [ -f "$DIR/nginx.pid" ] && kill -TERM "$(cat "$DIR/nginx.pid")" 2>/dev/null || true
    sleep 0.2
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
ip netns add "$NS"
ip -n "$NS" link set lo up
cat > "$DIR/nginx.conf" <<CONF
worker_processes 1; pid $DIR/nginx.pid; error_log $DIR/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $DIR/t1; proxy_temp_path $DIR/t2; fastcgi_temp_path $DIR/t3;
  uwsgi_temp_path $DIR/t4; scgi_temp_path $DIR/t5;
  server { listen 127.0.0.1:8080; location / { return 200 "ok\n"; } }
}
CONF
ip netns exec "$NS" nginx -p "$DIR/" -e "$DIR/error.log" -c "$DIR/nginx.conf"
sleep 0.3
echo "== wrk, 4 connections, 1 thread, 5 s"
ip netns exec "$NS" wrk -t1 -c4 -d5s --latency -H "X-Request-Id: r-wrk" http://127.0.0.1:8080/ \
    | grep -E "Requests/sec|  50%|  90%|  99%"
echo "== kspan-loadgen closed loop, 4 connections, 5 s"
ip netns exec "$NS" "$LOADGEN" --target 127.0.0.1:8080 --connections 4 --duration 5s --out "$DIR/closed.jsonl"
echo "== kspan-loadgen open loop, 2000 requests/s, 8 connections, 5 s"
ip netns exec "$NS" "$LOADGEN" --target 127.0.0.1:8080 --rate 2000 --connections 8 --duration 5s --out "$DIR/open.jsonl"
wc -l < "$DIR/open.jsonl" | sed 's/^/lines in loadgen.jsonl: /'
