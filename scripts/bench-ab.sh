#!/usr/bin/env bash
# Interleaved A/B runs of crm-libbench (engine crm, or ENGINE) for two builds, with raw sled and
# SQLite once per size as peers, then the medians side by side (scripts/ab-report.py).
#
#   OLD=/path/to/old/crm-libbench NEW=target/release/crm-libbench OUT=bench/kernel-ab.jsonl \
#     SIZES="10000 100000" RUNS=3 bash scripts/bench-ab.sh
#   ENGINE=crm-fjall LIBBENCH_ARGS="--durable 1500" ...   # another engine, extra arguments
#
# Build OLD from the commit before the change (git worktree add ../old REV; cargo build
# --release -p crm-bench --features compare --bin crm-libbench there).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OLD:?the old build's crm-libbench}" "${NEW:?the new build's crm-libbench}"
OUT=${OUT:-bench/ab.jsonl}
SIZES=${SIZES:-"10000 100000"}
RUNS=${RUNS:-3}
ENGINE=${ENGINE:-crm}
: > "$OUT"
tagged() { sed "s/^{/{\"build\":\"$1\",\"run\":$2,/"; }
for size in $SIZES; do
  for run in $(seq 1 "$RUNS"); do
    for build in old new; do
      bin=$OLD; [ "$build" = new ] && bin=$NEW
      dir=$(mktemp -d)
      "$bin" --engine "$ENGINE" --size "$size" --dir "$dir" ${LIBBENCH_ARGS:-} | tagged "$build" "$run" >>"$OUT"
      rm -rf "$dir"
      echo "== $build, $size customers, run $run" >&2
    done
  done
  for engine in sled sqlite; do
    dir=$(mktemp -d)
    "$NEW" --engine "$engine" --size "$size" --dir "$dir" ${LIBBENCH_ARGS:-} | tagged "peer-$engine" 1 >>"$OUT"
    rm -rf "$dir"
  done
done
python3 scripts/ab-report.py "$OUT"
