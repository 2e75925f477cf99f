# bench/stacks plug-in (sourced by run.sh): Go fan-out (3 goroutines over the shared keep-alive
# http.Client) then a 3-command redis pipeline on a pooled persistent connection. GOMAXPROCS=2.
# The truth logs the pipeline as 3 redis calls on one local end, as kspan divides it (one span
# per command, from the payload heads). GOFAN_PIPELINE_TRUTH=1 (env) logs it as one call
# instead, as kspan saw it before (or with --payload-bytes 0).
STACK_STORES=(redis)
STACK_MIX=/fan=1
STACK_RATES="50 200"
stack_build() { (cd "$SDIR" && GOFLAGS=-mod=mod go build -o "$BUILD/gofan-svc" .); }
stack_start() {
  local e=(env GOMAXPROCS=2 GOFAN_PIPELINE_TRUTH="${GOFAN_PIPELINE_TRUTH:-3}")
  svc back "${e[@]}" "$BUILD/gofan-svc" back "${IP[back]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
  svc front "${e[@]}" "$BUILD/gofan-svc" front "${IP[front]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
}
