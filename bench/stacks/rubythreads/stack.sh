# bench/stacks plug-in (sourced by run.sh): CRuby (Debian ruby, GVL) thread-per-connection
# servers (svc.rb): front /one, /two, /par (2 Threads) to back /work over a shared LIFO pool of
# Net::HTTP keep-alive sessions, then redis INCR on one connection shared under a Mutex.
STACK_STORES=(redis)
STACK_MIX=/one=1,/two=1,/par=1
STACK_RATES="50 200"
stack_build() {
  command -v ruby >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ruby >&2
  command -v ruby >/dev/null || { echo "rubythreads: no ruby" >&2; return 1; }
}
stack_start() {
  svc back ruby "$SDIR/svc.rb" back "${IP[back]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
  svc front ruby "$SDIR/svc.rb" front "${IP[front]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
}
