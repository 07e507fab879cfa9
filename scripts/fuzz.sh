#!/usr/bin/env bash
# Runs every fuzz target for a fixed number of iterations (default 200000) and reports the count.
# FUZZ_BUILD=dev (CI's smoke run): the dev profile, with overflow checks and debug assertions,
# without AddressSanitizer: the targets' code is safe Rust, and the sanitizer build of the whole
# dependency tree took a third of CI. FUZZ_BUILD=release (the default): optimized, with ASan,
# for long runs.
# cargo-fuzz needs nightly compiler features; on a stable toolchain RUSTC_BOOTSTRAP=1 enables
# them for this build only.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
RUNS=${1:-200000}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
case "${FUZZ_BUILD:-release}" in
  dev) build=(--dev -s none) ;;
  release) build=() ;;
  *) echo "fuzz.sh: FUZZ_BUILD is dev or release" >&2; exit 2 ;;
esac
for target in record_decode proto_customer proto_timeline filter_parse page_token; do
  mkdir -p "corpus/$target"
  log=$(mktemp)
  if ! cargo fuzz run "${build[@]}" "$target" "corpus/$target" -- -runs="$RUNS" -max_len=4096 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz $target: FAILED (input saved under fuzz/artifacts/$target)"
    exit 1
  fi
  done_line=$(grep -aE "^#[0-9]+.*DONE" "$log" | tail -n 1 || true)
  rm -f "$log"
  echo "fuzz $target: $RUNS iterations, no crash (${done_line:-no summary line})"
done
