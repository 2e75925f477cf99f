#!/usr/bin/env bash
# One-time machine setup for kspan: the Debian packages the demo and the tests use (Chromium
# for the HTML report's test among them), the OTLP tests' Python receiver, and tracefs.
# Idempotent and quick when everything is already there. Needs root.
set -euo pipefail

packages=(python3-venv trace-cmd bpftrace nginx-light redis-server memcached postgresql mariadb-server wrk hyperfine iproute2 curl procps
  golang-go nodejs openjdk-17-jdk-headless  # these three: bench/stacks and its test
  php-fpm php-cli php-curl ruby erlang-base  # bench/stacks phpfpm (FPM, curl, FFI), rubythreads, erlang
  chromium  # the HTML report's test renders it in headless Chromium
  clang libbpf-dev libelf-dev zlib1g-dev pkg-config)  # these: building crates/bpf (clang, libbpf headers, libbpf-sys)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# The OTLP push tests' receiver: the official opentelemetry-proto package in a venv (from PyPI, once).
bash "$(dirname "$0")/otlp-venv.sh" >/dev/null

# kspan mounts tracefs itself; the tests compare against trace-cmd, which expects it mounted too.
if [ ! -e /sys/kernel/tracing/trace_clock ]; then
  mount -t tracefs nodev /sys/kernel/tracing
fi
