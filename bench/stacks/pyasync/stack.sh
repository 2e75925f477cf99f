# bench/stacks plug-in (sourced by run.sh): Python asyncio, pool of persistent connections.
STACK_STORES=()
STACK_MIX=/one=1,/two=1,/par=1
stack_build() { :; }
stack_start() { svc_pair python3 -u "$SDIR/svc.py"; }
