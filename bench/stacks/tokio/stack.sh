# bench/stacks plug-in (sourced by run.sh): Rust tokio (multi-thread runtime, 2 workers) + hyper 1
# server; front calls back over one shared hyper-util legacy Client (pooled keep-alive connector).
# /one = 1 call, /par = 2 calls joined with tokio::join! in the request's task. Own Cargo project
# (own [workspace], not a member of kspan's), built into /work/targets/kst-tokio (KST_TOKIO_TARGET).
STACK_STORES=()
STACK_MIX=/one=1,/par=1
STACK_RATES="50 200"
KST_TOKIO_TARGET=${KST_TOKIO_TARGET:-/work/targets/kst-tokio}
stack_build() {
  CARGO_TARGET_DIR=$KST_TOKIO_TARGET cargo build --release --quiet --manifest-path "$SDIR/Cargo.toml"
}
stack_start() { svc_pair "$KST_TOKIO_TARGET/release/kst-tokio"; }
