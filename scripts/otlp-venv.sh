#!/usr/bin/env bash
# Makes (once) the Python virtual environment with the official opentelemetry-proto package
# that the OTLP push tests' receiver runs in, and prints its python. Idempotent and quick when
# it is already there. The directory is $KSPAN_OTLP_VENV, by default /var/cache/kspan/otlp-venv.
set -euo pipefail
venv="${KSPAN_OTLP_VENV:-/var/cache/kspan/otlp-venv}"
probe='from opentelemetry.proto.collector.trace.v1 import trace_service_pb2'
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9  # tests running in parallel make it once
if ! "$venv/bin/python" -c "$probe" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q opentelemetry-proto >&2
  "$venv/bin/python" -c "$probe"
fi
echo "$venv/bin/python"
