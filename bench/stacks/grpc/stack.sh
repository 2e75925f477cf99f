# bench/stacks plug-in (sourced by run.sh): front = asyncio HTTP/1.1 in, grpc.aio out (one
# HTTP/2 connection); back = grpc.aio server. grpcio from PyPI in a venv (setup.sh).
STACK_STORES=()
STACK_MIX=/one=1,/two=1,/par=1
GRPC_VENV=${GRPC_VENV:-/tmp/kst-grpc-venv}
stack_build() { bash "$SDIR/setup.sh" "$GRPC_VENV" >/dev/null; }
stack_start() { svc_pair "$GRPC_VENV/bin/python" -u "$SDIR/svc.py"; }
