#!/usr/bin/env bash
# crm on PostgreSQL beside crm on sled and SQLite, on this machine, in one run:
#  1. the library workloads (crm-libbench) at SIZE customers: crm on sled, crm on PostgreSQL,
#     raw sled, SQLite;
#  2. the service under a mixed load (crm-bench): one crm-server on sled, then 1, 2 and 3
#     crm-server replicas on one PostgreSQL database, the load spread over the replicas.
# Appends JSON lines to bench/postgres.jsonl. PostgreSQL 15 is started (and its test database
# recreated) by scripts/postgres-test-db.sh.
#
#   SIZE=10000 DURATION=10s bash scripts/bench-postgres.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-10000}
DURATION=${DURATION:-10s}
MIX=${MIX:-get=80,create=10,list=5,purchase=5}
CONCURRENCY=${CONCURRENCY:-32}
OUT=${OUT:-bench/postgres.jsonl}
CRM_BENCH_POSTGRES_URL=$(bash scripts/postgres-test-db.sh)
export CRM_BENCH_POSTGRES_URL
. scripts/lib/cargo-bin.sh
BIN_DIR=$(cargo_bin_dir --release --quiet -p crm-bench --features compare --bin crm-libbench --bin crm-bench -p crm-grpc --bin crm-server)
: > "$OUT"
for engine in crm crm-postgres sled sqlite; do
  dir=$(mktemp -d)
  echo "== library: $engine, $SIZE customers" >&2
  "$BIN_DIR"/crm-libbench --engine "$engine" --size "$SIZE" --dir "$dir" >>"$OUT"
  rm -rf "$dir"
done

pids=()
addrs=()
start() { # data-dir, extra flags...: starts a server and adds its address to $addrs
  local dir=$1; shift
  local log; log=$(mktemp)
  "$BIN_DIR"/crm-server --listen 127.0.0.1:0 --data-dir "$dir" "$@" >/dev/null 2>"$log" &
  pids+=($!)
  for _ in $(seq 1 100); do
    addr=$(grep -o 'listening on [0-9.:]*' "$log" | head -n1 | cut -d' ' -f3 || true)
    [ -n "$addr" ] && { addrs+=("$addr"); return; }
    sleep 0.1
  done
  echo "a server did not start: $(cat "$log")" >&2; exit 1
}
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=(); }
trap stop_all EXIT
load() { # label, addresses...
  local label=$1; shift
  local args=()
  for a in "$@"; do args+=(--addr "$a"); done
  echo "== service: $label" >&2
  "$BIN_DIR"/crm-bench "${args[@]}" --mix "$MIX" --concurrency "$CONCURRENCY" \
    --connections 2 --duration "$DURATION" --warmup 1s --seed-customers 2000 \
    | tail -n 1 | sed "s/^{/{\"setup\":\"$label\",/" >>"$OUT"
}

addrs=()
start "$(mktemp -d)"
load "1 server on sled" "${addrs[@]}"
stop_all
for n in 1 2 3; do
  schema="bench_replicas_$n"
  psql "$CRM_BENCH_POSTGRES_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" 2>/dev/null
  addrs=()
  for _ in $(seq 1 "$n"); do
    start "$(mktemp -d)" --engine postgres --postgres-url "$CRM_BENCH_POSTGRES_URL" --postgres-schema "$schema"
  done
  load "$n replica(s) on PostgreSQL" "${addrs[@]}"
  stop_all
done
echo "== done: $OUT" >&2
