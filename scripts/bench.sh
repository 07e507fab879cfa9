#!/usr/bin/env bash
# Runs the library comparison (crm-store, raw sled, SQLite) at each dataset size, each engine in
# its own process, REPEAT times, and appends the JSON lines to bench/results.jsonl; then prints
# the report (scripts/bench-report.py) and draws bench/throughput.svg.
#
#   bash scripts/bench.sh                 # sizes 10000 100000 1000000, 3 runs (1 at 1M)
#   SIZES="10000" REPEAT=1 bash scripts/bench.sh
#   ENGINES="crm crm-fjall sled sqlite" REPORT=scripts/bench-engines.py bash scripts/bench.sh
#   LIBBENCH_ARGS="--warm 500000" SIZES=1000000 ...   # extra crm-libbench arguments (a warm pass)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10000 100000 1000000"}
REPEAT=${REPEAT:-3}
OUT=${OUT:-bench/results.jsonl}
mkdir -p "$(dirname "$OUT")" bench
. scripts/lib/cargo-bin.sh
BIN_DIR=$(cargo_bin_dir --release --quiet -p crm-bench --features compare --bin crm-libbench)
: > "$OUT"
for size in $SIZES; do
  runs=$REPEAT
  [ "$size" -ge 1000000 ] && runs=${REPEAT_1M:-1}
  for run in $(seq 1 "$runs"); do
    for engine in ${ENGINES:-crm sled sqlite}; do
      dir=$(mktemp -d)
      echo "== $engine, $size customers, run $run" >&2
      "$BIN_DIR"/crm-libbench --engine "$engine" --size "$size" --dir "$dir" ${LIBBENCH_ARGS:-} >>"$OUT"
      rm -rf "$dir"
    done
  done
done
if [ -n "${REPORT:-}" ]; then python3 "$REPORT" "$OUT"; else python3 scripts/bench-report.py "$OUT" bench/throughput.svg; fi
