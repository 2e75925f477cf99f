#!/usr/bin/env bash
# kspan accuracy on application stacks it was not tuned on.
#
#   bench/stacks/run.sh STACK RATE SECONDS        STACK: node | go | java | pyasync | grpc
#
# Topology (one network namespace per host on bridge br0 in kst-net, 10.78.0.0/24):
#   kst-client 10.78.0.2   kspan-loadgen (untraced), X-Request-Id per request
#   kst-gateway 10.78.0.10 nginx, 1 worker, keep-alive upstream (the checker's root span)
#   kst-front  10.78.0.11  STACK front: /one = 1 call, /two = 2 sequential calls, /par = 2 parallel calls
#   kst-back   10.78.0.12  STACK back: /work, ~1 ms
# Every service logs <truth>/<service>.jsonl (crates/truth/src/records.rs); nginx logs gateway.jsonl.
# Warm-up load (not recorded), then `kspan record --netns` of gateway, front and back while the
# load runs, then `kspan analyze` to OTLP and `kspan check` against the truth.
# Env: MIX (default /one=1,/two=1,/par=1), CONNS (loadgen connections, 8), WARMUP (s, 2),
#      OUT (output dir), KSPAN_BIN_DIR (default /work/targets/stacks/release).
# Everything (namespaces, processes) is removed on exit, also on failure.
set -euo pipefail

STACK=${1:?usage: run.sh STACK RATE SECONDS}
RATE=${2:?usage: run.sh STACK RATE SECONDS}
SECS=${3:?usage: run.sh STACK RATE SECONDS}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${KSPAN_BIN_DIR:-/work/targets/stacks/release}
KSPAN=$BIN/kspan
LOADGEN=$BIN/kspan-loadgen
MIX=${MIX:-/one=1,/two=1,/par=1}
CONNS=${CONNS:-8}
WARMUP=${WARMUP:-2}
OUT=${OUT:-$HERE/out/$STACK-$RATE-$SECS-$(date +%Y%m%d-%H%M%S)}
P=kst
NET=10.78.0
BUILD=/tmp/kst-build
for b in "$KSPAN" "$LOADGEN"; do
  [[ -x $b ]] || { echo "missing $b: CARGO_TARGET_DIR=/work/targets/stacks cargo build --release -p kspan -p kspan-loadgen" >&2; exit 2; }
done

# One run at a time (the namespaces have fixed names).
exec 9>/tmp/kst-stacks.lock
flock -n 9 || { echo "another bench/stacks run holds /tmp/kst-stacks.lock" >&2; exit 2; }

PIDS=()
REC_PID=
cleanup() {
  set +e
  [[ -n $REC_PID ]] && kill -INT "$REC_PID" 2>/dev/null && wait "$REC_PID" 2>/dev/null
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  sleep 0.3
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  for h in client gateway front back net; do ip netns del "$P-$h" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of a killed run.
for h in client gateway front back net; do ip netns del "$P-$h" 2>/dev/null || true; done

mkdir -p "$OUT/truth" "$BUILD"
TRUTH=$OUT/truth
echo "== $STACK at $RATE req/s for ${SECS}s, mix $MIX -> $OUT"

# --- build the stack ----------------------------------------------------------------------
case $STACK in
  node) SVC=(node "$HERE/node/svc.js") ;;
  go) (cd "$HERE/go" && GOFLAGS=-mod=mod go build -o "$BUILD/go-svc" .) ; SVC=(env GOMAXPROCS=2 "$BUILD/go-svc") ;;
  java) mkdir -p "$BUILD/java" && javac -d "$BUILD/java" "$HERE/java/Svc.java"
        # nodelay: HttpServer writes head and body in two writes; with Nagle + delayed ACK every
        # call took ~40 ms more and the 4-thread front saturated below 50 req/s.
        SVC=(java -XX:+UseSerialGC -Xmx256m -Dsun.net.httpserver.nodelay=true -cp "$BUILD/java" Svc) ;;
  pyasync) SVC=(python3 -u "$HERE/pyasync/svc.py") ;;
  # front: asyncio HTTP/1.1 in, grpc.aio out (one HTTP/2 connection); back: grpc.aio server.
  grpc) GRPC_VENV=${GRPC_VENV:-/tmp/kst-grpc-venv}
        bash "$HERE/grpc/setup.sh" "$GRPC_VENV" >/dev/null
        SVC=("$GRPC_VENV/bin/python" -u "$HERE/grpc/svc.py") ;;
  *) echo "unknown stack $STACK (node, go, java, pyasync, grpc)" >&2; exit 2 ;;
esac

# --- network ------------------------------------------------------------------------------
ip netns add $P-net
ip -n $P-net link add br0 type bridge
ip -n $P-net link set br0 up
ip -n $P-net link set lo up
declare -A IP=([client]=$NET.2 [gateway]=$NET.10 [front]=$NET.11 [back]=$NET.12)
for h in client gateway front back; do
  ip netns add $P-$h
  ip -n $P-net link add v-$h type veth peer name eth0 netns $P-$h
  ip -n $P-net link set v-$h master br0 up
  ip -n $P-$h addr add ${IP[$h]}/24 dev eth0
  ip -n $P-$h link set eth0 up
  ip -n $P-$h link set lo up
done

wait_port() { # host port
  for _ in $(seq 1 100); do
    ip netns exec $P-client bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1:$2" >&2; return 1
}

# --- services -----------------------------------------------------------------------------
ip netns exec $P-back "${SVC[@]}" back ${IP[back]}:8080 ${IP[back]}:8080 "$TRUTH" 2>"$OUT/back.log" &
PIDS+=($!)
ip netns exec $P-front "${SVC[@]}" front ${IP[front]}:8080 ${IP[back]}:8080 "$TRUTH" 2>"$OUT/front.log" &
PIDS+=($!)
mkdir -p "$OUT/nginx"
cat >"$OUT/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
user root;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
events { worker_connections 1024; }
http {
    log_format truth escape=json '{"rid":"\$http_x_request_id","service":"gateway","pid":\$pid,"peer":"\$remote_addr:\$remote_port","local":"\$server_addr:\$server_port","msec":\$msec,"request_time":\$request_time,"upstream":"\$upstream_addr","upstream_time":"\$upstream_response_time","status":\$status,"endpoint":"\$uri"}';
    access_log $TRUTH/gateway.jsonl truth;
    client_body_temp_path $OUT/nginx/body;
    proxy_temp_path $OUT/nginx/proxy;
    fastcgi_temp_path $OUT/nginx/fastcgi;
    uwsgi_temp_path $OUT/nginx/uwsgi;
    scgi_temp_path $OUT/nginx/scgi;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-Request-Id \$http_x_request_id;
    keepalive_requests 1000000;
    upstream front { server ${IP[front]}:8080; keepalive 16; }
    server {
        listen ${IP[gateway]}:80;
        location / { proxy_pass http://front; proxy_read_timeout 3s; }
    }
}
NGINX
ip netns exec $P-gateway nginx -p "$OUT/nginx" -e "$OUT/nginx/error.log" -c "$OUT/nginx/nginx.conf" &
PIDS+=($!)
wait_port ${IP[back]} 8080
wait_port ${IP[front]} 8080
wait_port ${IP[gateway]} 80

# --- warm-up (not recorded; JITs and connection pools warm) ---------------------------------
ip netns exec $P-client "$LOADGEN" --target ${IP[gateway]}:80 --mix "$MIX" --rate "$RATE" \
  --connections "$CONNS" --duration "${WARMUP}s" --rid-prefix warmup- --out "$OUT/warmup.jsonl" >/dev/null
sleep 0.3
for f in "$TRUTH"/*.jsonl; do : >"$f"; done

# --- record under load --------------------------------------------------------------------
"$KSPAN" record -o "$OUT/trace.dat" --netns $P-gateway --netns $P-front --netns $P-back 2>"$OUT/record.log" &
REC_PID=$!
for _ in $(seq 1 300); do grep -q "recording into" "$OUT/record.log" && break; sleep 0.1; done
grep -q "recording into" "$OUT/record.log" || { cat "$OUT/record.log" >&2; echo "kspan record did not start" >&2; exit 1; }
ip netns exec $P-client "$LOADGEN" --target ${IP[gateway]}:80 --mix "$MIX" --rate "$RATE" \
  --connections "$CONNS" --duration "${SECS}s" --out "$TRUTH/loadgen.jsonl" | tee "$OUT/loadgen.txt"
sleep 0.3
kill -INT $REC_PID
wait $REC_PID || { cat "$OUT/record.log" >&2; echo "kspan record failed" >&2; exit 1; }
REC_PID=

# --- analyse and check --------------------------------------------------------------------
"$KSPAN" info "$OUT/trace.dat" >"$OUT/info.txt" 2>&1 || true
"$KSPAN" analyze "$OUT/trace.dat" --format otlp-json -o "$OUT/traces.otlp.json" 2>"$OUT/analyze.log"
ALIASES=(--alias $P-gateway=gateway --alias $P-front=front --alias $P-back=back)
"$KSPAN" check --otlp "$OUT/traces.otlp.json" --truth "$TRUTH" "${ALIASES[@]}" --failures 20 >"$OUT/check.txt" || true
"$KSPAN" check --otlp "$OUT/traces.otlp.json" --truth "$TRUTH" "${ALIASES[@]}" --json >"$OUT/check.json" || true
grep -i "lost" "$OUT/record.log" "$OUT/analyze.log" || true
head -40 "$OUT/check.txt"
python3 - "$OUT/check.json" "$STACK" "$RATE" "$SECS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("RESULT stack=%s rate=%s secs=%s exact=%s/%s (%.1f%%)" % (sys.argv[2], sys.argv[3], sys.argv[4],
      r["requests_exact"], r["requests_in_truth"], r["exact_tree_accuracy_pct"]))
e = r.get("by_endpoint", {})
print("  per endpoint:", {k: v for k, v in e.items()})
print("  spans:", r["spans"])
PY
echo "outputs: $OUT"
