#!/usr/bin/env bash
# crm-server and crm-bench built on the system allocator and on mimalloc (the default), run
# alternately: the echo ceiling, GetCustomer and the mixed load, ROUNDS times, on ENGINE
# (default sled). Settings as scripts/bench-grpc.sh. Prints crm-bench's summary lines.
#
#   bash scripts/bench-grpc-alloc.sh > bench/grpc-allocator-2026-12-03.txt
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINE=${ENGINE:-sled}
ROUNDS=${ROUNDS:-3}
. scripts/lib/cargo-bin.sh
bins=$(mktemp -d)
trap 'rm -rf "$bins"' EXIT
mkdir "$bins/system" "$bins/mimalloc"
dir=$(cargo_bin_dir --release --quiet -p crm-grpc --no-default-features --bin crm-server)
cp "$dir/crm-server" "$bins/system/"
dir=$(cargo_bin_dir --release --quiet -p crm-bench --no-default-features --bin crm-bench)
cp "$dir/crm-bench" "$bins/system/"
dir=$(cargo_bin_dir --release --quiet -p crm-grpc --bin crm-server -p crm-bench --bin crm-bench)
cp "$dir/crm-server" "$dir/crm-bench" "$bins/mimalloc/"
common=(--concurrency 64 --connections 4 --duration 10s --warmup 2s)
summary() { local out; out=$("$@"); echo "${out%%$'\n'*}"; }
for round in $(seq 1 "$ROUNDS"); do
  for alloc in system mimalloc; do
    data=$(mktemp -d)
    "$bins/$alloc/crm-server" --listen 127.0.0.1:50072 --data-dir "$data" --engine "$ENGINE" 2>/dev/null &
    pid=$!
    sleep 1
    echo "#### round $round alloc $alloc engine $ENGINE"
    summary "$bins/$alloc/crm-bench" --echo --mix get=100 "${common[@]}" --seed-customers 10
    summary "$bins/$alloc/crm-bench" --addr 127.0.0.1:50072 --mix get=100 "${common[@]}" --seed-customers 1000
    summary "$bins/$alloc/crm-bench" --addr 127.0.0.1:50072 --mix get=80,create=10,list=5,purchase=5 \
      "${common[@]}" --seed-customers 1000 --allow-other-data
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$data"
  done
done
