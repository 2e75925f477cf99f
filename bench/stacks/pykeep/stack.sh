# bench/stacks plug-in (sourced by run.sh): CPython ThreadingHTTPServer (a thread per connection)
# with persistent connections everywhere: the front's http.client connections to back come from
# a shared LifoQueue pool (2 sequential keep-alive calls per /seq), redis GET on the thread's own
# connection (threading.local); the back's memcached `set` on a pooled persistent connection.
STACK_STORES=(redis memcached)
STACK_MIX=/seq=1
STACK_RATES="50 200"
stack_build() { :; }
stack_start() {
  svc back python3 -u "$SDIR/svc.py" back "${IP[back]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
  svc front python3 -u "$SDIR/svc.py" front "${IP[front]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
}
