#!/usr/bin/env bash
# Runs every fuzz target for a fixed number of iterations (default 200000) and reports the count.
# cargo-fuzz needs nightly compiler features; on a stable toolchain RUSTC_BOOTSTRAP=1 enables
# them for this build only.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
RUNS=${1:-200000}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in record_decode proto_customer filter_parse page_token; do
  mkdir -p "corpus/$target"
  cargo fuzz run "$target" "corpus/$target" -- -runs="$RUNS" -max_len=4096 2>&1 | tee "/tmp/fuzz-$target.log" | tail -n 2
  done_line=$(grep -E "^#[0-9]+.*(DONE|pulse)" "/tmp/fuzz-$target.log" | tail -n 1 || true)
  echo "fuzz $target: $RUNS iterations requested; last status: ${done_line:-none}"
done
