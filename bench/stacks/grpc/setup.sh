#!/usr/bin/env bash
# Installs grpcio (PyPI) into a venv for bench/stacks/grpc: /tmp/kst-grpc-venv (or $1).
# Checks run with -I: from bench/stacks, the directory grpc/ would pass for the package.
set -euo pipefail
VENV=${1:-/tmp/kst-grpc-venv}
[[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
"$VENV/bin/python" -I -c 'import grpc' 2>/dev/null || "$VENV/bin/pip" install -q 'grpcio>=1.60'
"$VENV/bin/python" -I -c 'import grpc; print("grpcio", grpc.__version__)'
