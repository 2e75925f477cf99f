# bench/stacks plug-in (sourced by run.sh): CPython http.server.ThreadingHTTPServer (a thread per
# connection), a new connection for every call (http.client to back, hand-written RESP to redis,
# memcached text protocol); /par's two calls from two threading.Thread's.
STACK_STORES=(redis memcached)
STACK_MIX=/one=1,/par=1
STACK_RATES="50 200"
stack_build() { :; }
stack_start() {
  svc back python3 -u "$SDIR/svc.py" back "${IP[back]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
  svc front python3 -u "$SDIR/svc.py" front "${IP[front]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
}
