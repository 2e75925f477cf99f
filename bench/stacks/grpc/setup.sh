#!/usr/bin/env bash
# Installs grpcio (PyPI) into a venv for bench/stacks/grpc: /tmp/kst-grpc-venv (or $1).
set -euo pipefail
VENV=${1:-/tmp/kst-grpc-venv}
[[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import grpc' 2>/dev/null || "$VENV/bin/pip" install -q 'grpcio>=1.60'
"$VENV/bin/python" -c 'import grpc; print("grpcio", grpc.__version__)'
