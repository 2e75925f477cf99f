# bench/stacks plug-in (sourced by run.sh): Erlang/OTP (Debian erlang-base, BEAM with 2
# schedulers) services (svc.erl, run by escript): a process per connection; front /one, /two,
# /par (2 spawned processes) to back /work over a LIFO pool process of keep-alive connections
# (the caller takes the socket over), then redis INCR through one connection owned by a redis
# client process (as eredis).
STACK_STORES=(redis)
STACK_MIX=/one=1,/two=1,/par=1
STACK_RATES="50 200"
stack_build() {
  command -v escript >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends erlang-base >&2
  command -v escript >/dev/null || { echo "erlang: no escript" >&2; return 1; }
}
stack_start() {
  # escript execs beam.smp (the pid run.sh kills is the VM's)
  svc back escript "${ERLANG_DIR:-$SDIR}/svc.erl" back "${IP[back]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
  svc front escript "${ERLANG_DIR:-$SDIR}/svc.erl" front "${IP[front]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
}
