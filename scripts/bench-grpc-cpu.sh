#!/usr/bin/env bash
# What one GetCustomer costs the server, in CPU: the echo service (the ceiling of BENCHMARKS.md)
# and crm-server (release, durable default, on ENGINE: sled or fjall), each under the same
# closed-loop load. Prints, per server and run, the calls per second and the server process's
# CPU time (user + system, from /proc) divided by the calls it answered. On a 2-core machine the
# client and the server share the cores, so req/s moves with the machine's noise; CPU per call
# moves less, and says where the echo ceiling's lead comes from.
#
#   RUNS=3 DUR=6 ENGINE=sled bash scripts/bench-grpc-cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DUR=${DUR:-6}
ENGINE=${ENGINE:-sled}
PORT=${PORT:-50077}
. scripts/lib/cargo-bin.sh
if [ "${CRM_BENCH_DEBUG:-}" = 1 ]; then
  BIN_DIR=$(cargo_bin_dir --quiet -p crm-grpc --bin crm-server -p crm-bench --bin crm-bench)
else
  BIN_DIR=$(cargo_bin_dir --release --quiet -p crm-grpc --bin crm-server -p crm-bench --bin crm-bench)
fi
B="$BIN_DIR/crm-bench"
ticks=$(getconf CLK_TCK)
DATA=""
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  [ -n "$DATA" ] && rm -rf "$DATA"
  return 0
}
trap cleanup EXIT

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# One run against the server `$1` (echo or crm-server): seed, load, measure.
run() {
  local which=$1
  DATA=$(mktemp -d)
  if [ "$which" = echo ]; then
    "$B" --serve-echo "127.0.0.1:$PORT" >/dev/null &
  else
    "$BIN_DIR/crm-server" --listen "127.0.0.1:$PORT" --data-dir "$DATA" --engine "$ENGINE" 2>/dev/null &
  fi
  SERVER=$!
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
  done
  "$B" --addr "127.0.0.1:$PORT" --allow-other-data --mix get=100 --concurrency 4 --connections 1 \
    --duration 500ms --warmup 0s --seed-customers 1000 >/dev/null
  local before after out
  before=$(cpu_ticks "$SERVER")
  out=$("$B" --addr "127.0.0.1:$PORT" --allow-other-data --mix get=100 --concurrency 64 \
    --connections 4 --duration "${DUR}s" --warmup 0s --seed-customers 1)
  after=$(cpu_ticks "$SERVER")
  kill "$SERVER"
  wait "$SERVER" 2>/dev/null || true
  SERVER=""
  rm -rf "$DATA"
  DATA=""
  python3 - "$which" "$before" "$after" "$ticks" "${out##*$'\n'}" <<'EOF'
import json, sys
which, before, after, ticks, line = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
summary = json.loads(line)
calls = summary["calls"]
if calls == 0 or summary["errors"]:
    sys.exit(f"{which}: {calls} calls, errors {summary['errors']}")
cpu_us = (after - before) / ticks * 1e6 / calls
print(f"{which:<11} {summary['req_per_sec']:>9.0f} req/s  {cpu_us:6.1f} µs of server CPU per call")
EOF
}

echo "== GetCustomer, server CPU per call: echo and crm-server on $ENGINE, $RUNS alternating runs"
for _ in $(seq "$RUNS"); do
  run echo
  run crm-server
done
