#!/usr/bin/env bash
# Interleaved rounds of durable creates (one writer, 16 writers): an old and a new crm-libbench,
# each on crm (sled) and crm-fjall, with SQLite in every round; then the medians side by side.
#
#   OLD=/tmp/old-libbench NEW=target/release/crm-libbench SIZES="10000 100000" RUNS=5 \
#     bash scripts/bench-durable-ab.sh bench/lone-writer-ab-2026-12-03.jsonl
#   ENGINES=crm-fjall ...   # one of the two engines only
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?where the runs go}
old=${OLD:?the old build\'s crm-libbench}
new=${NEW:?the new build\'s crm-libbench}
: > "$OUT"
for size in ${SIZES:-10000}; do
  for run in $(seq 1 "${RUNS:-5}"); do
    for pair in $(for e in ${ENGINES:-crm-fjall crm}; do echo "old:$e new:$e"; done) new:sqlite; do
      build=${pair%%:*} engine=${pair#*:}
      dir=$(mktemp -d)
      "${!build}" --engine "$engine" --size "$size" --dir "$dir" \
        --only create_durable,create_durable_16 --durable 1500 --durable-each 150 |
        sed "s/^{/{\"build\":\"$build\",\"run\":$run,/" >>"$OUT"
      rm -rf "$dir"
    done
    echo "== $size customers, round $run" >&2
  done
done
python3 scripts/durable-ab-report.py "$OUT"
