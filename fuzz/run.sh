#!/bin/sh
# Runs each cargo-fuzz target (kspan-tracedat's readers, kspan-protocol's parsers, kspan-capture's
# salvage from a manifest) for SECONDS (default 60), starting from the
# seed files in fuzz/seeds/TARGET (new inputs go to a temporary corpus, crashes to
# fuzz/artifacts/TARGET). Needs `cargo install cargo-fuzz`; on a stable toolchain,
# RUSTC_BOOTSTRAP=1 lets it use the nightly flags it needs. Exits non-zero on a crash.
set -eu
secs=${1:-60}
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/fuzz}"
for target in page tracedat http h2 hpack resp memcached postgres mysql sql salvage; do
    corpus=$(mktemp -d)
    trap 'rm -rf "$corpus"' EXIT
    cargo fuzz run --fuzz-dir fuzz --sanitizer none "$target" "$corpus" "fuzz/seeds/$target" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536
    rm -rf "$corpus"
done
