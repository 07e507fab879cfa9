#!/usr/bin/env bash
# The process allocator, A/B: crm-libbench built with mimalloc (the default) and on the system
# allocator (`--no-default-features`), every engine (crm on sled and on fjall, raw sled, SQLite),
# interleaved: each round runs every engine on mimalloc, then every engine on the system
# allocator, each in its own process and a fresh directory. Then the medians side by side
# (scripts/bench-alloc.py).
#
#   OUT=bench/allocator-2026-12-03.jsonl SIZES="10000 100000" ROUNDS=3 bash scripts/bench-alloc.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/allocator.jsonl}
SIZES=${SIZES:-"10000 100000"}
ROUNDS=${ROUNDS:-3}
. scripts/lib/cargo-bin.sh
bins=$(mktemp -d)
trap 'rm -rf "$bins"' EXIT
dir=$(cargo_bin_dir --release --quiet -p crm-bench --no-default-features --features compare --bin crm-libbench)
cp "$dir/crm-libbench" "$bins/system"
dir=$(cargo_bin_dir --release --quiet -p crm-bench --features compare --bin crm-libbench)
cp "$dir/crm-libbench" "$bins/mimalloc"
: > "$OUT"
for size in $SIZES; do
  for round in $(seq 1 "$ROUNDS"); do
    for alloc in mimalloc system; do
      for engine in crm crm-fjall sled sqlite; do
        data=$(mktemp -d)
        echo "== $alloc, $engine, $size customers, round $round" >&2
        "$bins/$alloc" --engine "$engine" --size "$size" --dir "$data" |
          sed "s/^{/{\"alloc\":\"$alloc\",\"round\":$round,/" >>"$OUT"
        rm -rf "$data"
      done
    done
  done
done
python3 scripts/bench-alloc.py "$OUT"
