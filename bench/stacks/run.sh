#!/usr/bin/env bash
# kspan accuracy on application stacks it was not tuned on.
#
#   bench/stacks/run.sh STACK LOAD SECONDS
#     STACK: a directory bench/stacks/STACK/ with a stack.sh (node, go, java, pyasync, grpc, …)
#     LOAD:  N  = open loop, N req/s over CONNS (8) loadgen connections
#            cN = closed loop over N connections (kspan-loadgen without --rate)
#
# Topology (one network namespace per host on bridge br0 in kst-net, 10.78.0.0/24):
#   kst-client 10.78.0.2   kspan-loadgen (untraced), X-Request-Id per request
#   kst-gateway 10.78.0.10 nginx, 1 worker, keep-alive upstream (the checker's root span)
#   kst-front  10.78.0.11  the stack's front :8080 (e.g. /one = 1 call, /two = 2 sequential, /par = 2 parallel)
#   kst-back   10.78.0.12  the stack's back :8080
#   kst-store  10.78.0.20  only when the stack lists STACK_STORES: redis :6379, memcached :11211,
#                          PostgreSQL :5432 (throwaway cluster in /tmp, trust auth, user/db postgres),
#                          each in its own cgroup (…/unified/kst/<store>) so kspan names it
#                          redis / memcached / postgres, as the truth's call targets do.
# Every service logs <truth>/<service>.jsonl (crates/truth/src/records.rs); nginx logs gateway.jsonl.
# Warm-up load (not recorded), then `kspan record --netns` of gateway, front, back (and store)
# while the load runs, then reanalyze.sh (kspan analyze to OTLP, kspan check against the truth).
#
# Plug-in interface (/work/notes/stack-interface.md, README.md): STACK/stack.sh is sourced with
# HERE SDIR BUILD OUT TRUTH IP P set and defines STACK_STORES=(…), STACK_MIX, stack_build,
# stack_start (starts back then front, appending their pids to PIDS); optional STACK_ALIASES=(…)
# (extra KSPAN_NAME=TRUTH_NAME for kspan check), STACK_RATES ("50 200", used by matrix.sh),
# STACK_GATEWAY_UPSTREAM / STACK_GATEWAY_LOCATION (the gateway nginx's upstream block and
# location body; default: keep-alive HTTP proxy to front:8080).
# Helpers for stack_start: svc_pair CMD… (back and front as `CMD ROLE LISTEN BACK TRUTH`),
# svc ROLE CMD… (one command in kst-ROLE, stderr to OUT/ROLE.log).
#
# Env: MIX (default STACK_MIX), CONNS (open-loop connections, 8), WARMUP (s, 2),
#      QUIET (s, 0: a recorded phase of one connection before the main load, whose requests
#      do not overlap: where kspan learns each endpoint's calls, as in traffic whose load varies),
#      LOCK_WAIT (s to wait for another run's lock, 0 = fail at once),
#      OUT (output dir, kept), KSPAN_BIN_DIR (default /work/targets/stacks/release).
# Everything (namespaces, processes, stores, cgroups, the PostgreSQL cluster) is removed on
# exit, also on failure.
set -euo pipefail

USAGE="usage: run.sh STACK LOAD(N req/s | cN connections) SECONDS"
STACK=${1:?$USAGE}
LOAD=${2:?$USAGE}
SECS=${3:?$USAGE}
HERE=$(cd "$(dirname "$0")" && pwd)
SDIR=$HERE/$STACK
BIN=${KSPAN_BIN_DIR:-/work/targets/stacks/release}
KSPAN=$BIN/kspan
LOADGEN=$BIN/kspan-loadgen
CONNS=${CONNS:-8}
WARMUP=${WARMUP:-2}
QUIET=${QUIET:-0}
OUT=${OUT:-$HERE/out/$STACK-$LOAD-$SECS-$(date +%Y%m%d-%H%M%S)}
P=kst
NET=10.78.0
BUILD=/tmp/kst-build
CG_ROOT=/sys/fs/cgroup/unified/$P
[[ -d /sys/fs/cgroup/unified ]] || CG_ROOT=/sys/fs/cgroup/$P
PGDATA=
declare -A IP=([client]=$NET.2 [gateway]=$NET.10 [front]=$NET.11 [back]=$NET.12 [store]=$NET.20)

if [[ ! -f $SDIR/stack.sh ]]; then
  echo "unknown stack $STACK; stacks: $(cd "$HERE" && ls -d */stack.sh 2>/dev/null | sed 's,/stack.sh,,' | tr '\n' ' ')" >&2
  exit 2
fi
if [[ $LOAD =~ ^c([0-9]+)$ ]]; then
  LOADARGS=(--connections "${BASH_REMATCH[1]}")
  LOADDESC="closed loop, ${BASH_REMATCH[1]} connections"
elif [[ $LOAD =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
  LOADARGS=(--rate "$LOAD" --connections "$CONNS")
  LOADDESC="$LOAD req/s over $CONNS connections"
else
  echo "$USAGE (LOAD '$LOAD'?)" >&2; exit 2
fi
for b in "$KSPAN" "$LOADGEN"; do
  [[ -x $b ]] || { echo "missing $b: CARGO_TARGET_DIR=/work/targets/stacks cargo build --release -p kspan -p kspan-loadgen" >&2; exit 2; }
done

# One run at a time (the namespaces have fixed names); LOCK_WAIT=S waits up to S s for it.
exec 9>/tmp/kst-stacks.lock
if [[ ${LOCK_WAIT:-0} -gt 0 ]]; then
  flock -w "$LOCK_WAIT" 9 || { echo "bench/stacks lock still held after ${LOCK_WAIT}s" >&2; exit 2; }
else
  flock -n 9 || { echo "another bench/stacks run holds /tmp/kst-stacks.lock (LOCK_WAIT=S to wait)" >&2; exit 2; }
fi

PIDS=()
REC_PID=
cg_kill() { # [SIGNAL]: every process of the store cgroups (default: TERM, QUIT for postgres)
  local f pid sig
  for f in "$CG_ROOT"/*/cgroup.procs; do
    [[ -f $f ]] || continue
    sig=${1:-TERM}
    # postgres: QUIT = immediate shutdown (TERM would wait for its clients)
    [[ -z ${1:-} && $f == */postgres/* ]] && sig=QUIT
    while read -r pid; do kill "-$sig" "$pid" 2>/dev/null; done <"$f"
  done
}
cleanup() {
  set +e
  [[ -n $REC_PID ]] && kill -INT "$REC_PID" 2>/dev/null && wait "$REC_PID" 2>/dev/null
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  cg_kill
  sleep 0.3
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  cg_kill KILL
  for _ in $(seq 1 20); do
    rmdir "$CG_ROOT"/*/ 2>/dev/null; rmdir "$CG_ROOT" 2>/dev/null
    [[ -d $CG_ROOT ]] || break
    sleep 0.1
  done
  [[ -n $PGDATA && -d $PGDATA ]] && rm -rf "$PGDATA"
  for h in client gateway front back store net; do ip netns del "$P-$h" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of a killed run.
cg_kill KILL
rmdir "$CG_ROOT"/*/ "$CG_ROOT" 2>/dev/null || true
rm -rf /tmp/kst-pg.* 2>/dev/null || true
for h in client gateway front back store net; do ip netns del "$P-$h" 2>/dev/null || true; done

mkdir -p "$OUT/truth" "$BUILD"
TRUTH=$OUT/truth

# --- helpers for stack.sh -----------------------------------------------------------------
svc() { # ROLE CMD…: CMD in kst-ROLE, stderr to OUT/ROLE.log
  local role=$1; shift
  ip netns exec "$P-$role" "$@" 2>"$OUT/$role.log" &
  PIDS+=($!)
}
svc_pair() { # CMD…: `CMD back LISTEN BACK TRUTH`, then `CMD front LISTEN BACK TRUTH`
  svc back "$@" back "${IP[back]}:8080" "${IP[back]}:8080" "$TRUTH"
  svc front "$@" front "${IP[front]}:8080" "${IP[back]}:8080" "$TRUTH"
}

# --- the stack ----------------------------------------------------------------------------
STACK_STORES=()
STACK_MIX=/one=1,/two=1,/par=1
STACK_ALIASES=()
STACK_RATES="50 200"
# The gateway's upstream and location (nginx conf text); a stack whose front speaks something
# else than HTTP (phpfpm: FastCGI) replaces them.
STACK_GATEWAY_UPSTREAM="upstream front { server ${IP[front]}:8080; keepalive 16; }"
STACK_GATEWAY_LOCATION="proxy_pass http://front; proxy_read_timeout 3s;"
# shellcheck source=/dev/null
source "$SDIR/stack.sh"
MIX=${MIX:-$STACK_MIX}
echo "== $STACK, $LOADDESC, ${SECS}s, mix $MIX, stores: ${STACK_STORES[*]:-none} -> $OUT"
stack_build

# --- network ------------------------------------------------------------------------------
HOSTS=(client gateway front back)
[[ ${#STACK_STORES[@]} -gt 0 ]] && HOSTS+=(store)
ip netns add $P-net
ip -n $P-net link add br0 type bridge
ip -n $P-net link set br0 up
ip -n $P-net link set lo up
for h in "${HOSTS[@]}"; do
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

# --- stores -------------------------------------------------------------------------------
store() { # NAME CMD…: CMD in kst-store, in cgroup CG_ROOT/NAME (kspan's service name)
  local name=$1; shift
  mkdir -p "$CG_ROOT/$name"
  sh -c 'echo $$ >"$0" && exec "$@"' "$CG_ROOT/$name/cgroup.procs" ip netns exec $P-store "$@" \
    >"$OUT/$name.log" 2>&1 &
  disown
}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
for s in "${STACK_STORES[@]}"; do
  case $s in
    redis) store redis redis-server --bind ${IP[store]} --port 6379 --save '' --appendonly no \
             --protected-mode no --daemonize no --dir /tmp ;;
    memcached) store memcached memcached -u root -l ${IP[store]} -p 11211 -U 0 -t 2 -c 1024 ;;
    postgres)
      [[ -x $PG_BIN/initdb ]] || { echo "no PostgreSQL in /usr/lib/postgresql (scripts/setup.sh)" >&2; exit 2; }
      PGDATA=$(mktemp -d /tmp/kst-pg.XXXXXX)
      chown postgres:postgres "$PGDATA"
      setpriv --reuid=postgres --regid=postgres --init-groups -- "$PG_BIN/initdb" -D "$PGDATA" \
        -U postgres -A trust --no-sync -E UTF8 --locale=C >"$OUT/initdb.log" 2>&1 \
        || { cat "$OUT/initdb.log" >&2; exit 1; }
      printf "listen_addresses = '%s'\nport = 5432\nunix_socket_directories = ''\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 16MB\nmax_connections = 200\n" \
        "${IP[store]}" >>"$PGDATA/postgresql.conf"
      echo "host all all $NET.0/24 trust" >>"$PGDATA/pg_hba.conf"
      (cd "$PGDATA" && store postgres setpriv --reuid=postgres --regid=postgres --init-groups -- \
        "$PG_BIN/postgres" -D "$PGDATA") ;;
    *) echo "unknown store $s (redis, memcached, postgres)" >&2; exit 2 ;;
  esac
done
for s in "${STACK_STORES[@]}"; do
  case $s in redis) wait_port ${IP[store]} 6379 ;; memcached) wait_port ${IP[store]} 11211 ;;
    postgres) wait_port ${IP[store]} 5432 ;; esac
done
store_psql() { # SQL: run SQL on the store's PostgreSQL (for stack_start, before recording)
  ip netns exec $P-client psql -q -h ${IP[store]} -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$1"
}

# --- services -----------------------------------------------------------------------------
stack_start
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
    $STACK_GATEWAY_UPSTREAM
    server {
        listen ${IP[gateway]}:80;
        location / { $STACK_GATEWAY_LOCATION }
    }
}
NGINX
ip netns exec $P-gateway nginx -p "$OUT/nginx" -e "$OUT/nginx/error.log" -c "$OUT/nginx/nginx.conf" &
PIDS+=($!)
wait_port ${IP[back]} 8080
wait_port ${IP[front]} 8080
wait_port ${IP[gateway]} 80

# --- warm-up (not recorded; JITs and connection pools warm) ---------------------------------
ip netns exec $P-client "$LOADGEN" --target ${IP[gateway]}:80 --mix "$MIX" "${LOADARGS[@]}" \
  --duration "${WARMUP}s" --rid-prefix warmup- --out "$OUT/warmup.jsonl" >/dev/null
sleep 0.3
for f in "$TRUTH"/*.jsonl; do : >"$f"; done

# --- record under load --------------------------------------------------------------------
NETNS=(--netns $P-gateway --netns $P-front --netns $P-back)
[[ ${#STACK_STORES[@]} -gt 0 ]] && NETNS+=(--netns $P-store)
"$KSPAN" record -o "$OUT/trace.dat" "${NETNS[@]}" 2>"$OUT/record.log" &
REC_PID=$!
for _ in $(seq 1 300); do grep -q "recording into" "$OUT/record.log" && break; sleep 0.1; done
grep -q "recording into" "$OUT/record.log" || { cat "$OUT/record.log" >&2; echo "kspan record did not start" >&2; exit 1; }
if [[ $QUIET != 0 ]]; then
  ip netns exec $P-client "$LOADGEN" --target ${IP[gateway]}:80 --mix "$MIX" --connections 1 \
    --duration "${QUIET}s" --rid-prefix q- --out "$OUT/quiet.jsonl" >"$OUT/quiet.txt"
fi
ip netns exec $P-client "$LOADGEN" --target ${IP[gateway]}:80 --mix "$MIX" "${LOADARGS[@]}" \
  --duration "${SECS}s" --out "$TRUTH/loadgen.jsonl" | tee "$OUT/loadgen.txt"
[[ -f $OUT/quiet.jsonl ]] && cat "$OUT/quiet.jsonl" >>"$TRUTH/loadgen.jsonl"
sleep 0.3
kill -INT $REC_PID
wait $REC_PID || { cat "$OUT/record.log" >&2; echo "kspan record failed" >&2; exit 1; }
REC_PID=

# --- analyse and check (reanalyze.sh, so that any engine can redo it on this OUT) ------------
{
  echo "stack=$STACK"
  echo "load=$LOAD"
  echo "secs=$SECS"
  echo "quiet=$QUIET"
  echo "mix=$MIX"
  echo "stores=${STACK_STORES[*]}"
  echo "aliases=$P-gateway=gateway $P-front=front $P-back=back ${STACK_ALIASES[*]}"
  echo "bin=$BIN"
  echo "git=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null)"
} >"$OUT/run.meta"
grep -i "lost" "$OUT/record.log" || true
bash "$HERE/reanalyze.sh" "$OUT" "$BIN" "$OUT"
echo "outputs: $OUT"
