# bench/stacks stack "pypool" (sourced by run.sh; see the stack interface in bench/stacks/README.md).
# front: CPython http.server.ThreadingHTTPServer; /par = 2 jobs, /one = 1 job on one
#        ThreadPoolExecutor(4), each GETs back /work on a LIFO pool of http.client connections;
#        then redis INCR on the request's thread over a pool of persistent connections.
# back:  single-threaded asyncio; /work = memcached set + get under one asyncio.Lock over ONE
#        shared persistent connection.
# stdlib only (python3).
STACK_STORES=(redis memcached)
STACK_MIX="/par=2,/one=1"

stack_build() { :; }

stack_start() {
  ip netns exec $P-back python3 -u "$SDIR/svc.py" back ${IP[back]}:8080 ${IP[back]}:8080 "$TRUTH" ${IP[store]} \
    2>"$OUT/back.log" &
  PIDS+=($!)
  ip netns exec $P-front python3 -u "$SDIR/svc.py" front ${IP[front]}:8080 ${IP[back]}:8080 "$TRUTH" ${IP[store]} \
    2>"$OUT/front.log" &
  PIDS+=($!)
}
