# bench/stacks plug-in (sourced by run.sh): asyncio front whose blocking calls run on
# run_in_executor worker threads (pooled http.client to back, pooled blocking redis), /par's
# redis INCR on the loop's own asyncio connection; back: a thread per connection, each thread
# with its own persistent redis connection.
STACK_STORES=(redis)
STACK_MIX=/one=1,/two=1,/par=1
STACK_RATES="50 200"
stack_build() { :; }
stack_start() {
  svc back python3 -u "$SDIR/svc.py" back "${IP[back]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
  svc front python3 -u "$SDIR/svc.py" front "${IP[front]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
}
