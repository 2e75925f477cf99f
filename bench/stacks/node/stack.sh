# bench/stacks plug-in (sourced by run.sh): Node.js http server, keep-alive http.Agent.
STACK_STORES=()
STACK_MIX=/one=1,/two=1,/par=1
stack_build() { :; }
stack_start() { svc_pair node "$SDIR/svc.js"; }
