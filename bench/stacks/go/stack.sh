# bench/stacks plug-in (sourced by run.sh): Go net/http, shared http.Client.
STACK_STORES=()
STACK_MIX=/one=1,/two=1,/par=1
stack_build() { (cd "$SDIR" && GOFLAGS=-mod=mod go build -o "$BUILD/go-svc" .); }
stack_start() { svc_pair env GOMAXPROCS=2 "$BUILD/go-svc"; }
