#!/usr/bin/env bash
# The service figures of BENCHMARKS.md: crm-server (release, durable default) under crm-bench,
# against the echo ceiling at the same concurrency, at half of its peak, and with the mixed
# workload. Each run prints crm-bench's summary line. ENGINE=fjall runs the server on fjall
# (default sled).
set -euo pipefail
cd "$(dirname "$0")/.."
CONC=${CONC:-64}
CONNS=${CONNS:-4}
DUR=${DUR:-10s}
ENGINE=${ENGINE:-sled}
. scripts/lib/cargo-bin.sh
BIN_DIR=$(cargo_bin_dir --release --quiet -p crm-grpc --bin crm-server -p crm-bench --bin crm-bench)
DATA=$(mktemp -d)
"$BIN_DIR/crm-server" --listen 127.0.0.1:50071 --data-dir "$DATA" --engine "$ENGINE" 2>/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DATA"' EXIT
sleep 1
B="$BIN_DIR/crm-bench"
common=(--concurrency "$CONC" --connections "$CONNS" --duration "$DUR" --warmup 2s)
# The summary line of a run (its first). Not `| head -n 1`: the pipe closed under crm-bench's
# later lines made it fail the script.
summary() { local out; out=$("$@"); echo "${out%%$'\n'*}"; }
echo "== echo ceiling, GetCustomer"
summary "$B" --echo --mix get=100 "${common[@]}" --seed-customers 10
echo "== crm-server on $ENGINE, GetCustomer"
peak=$($B --addr 127.0.0.1:50071 --mix get=100 "${common[@]}" --seed-customers 1000)
echo "${peak%%$'\n'*}"
rate=$(echo "$peak" | tail -n 1 | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["req_per_sec"] / 2))')
echo "== crm-server, GetCustomer at half of that peak ($rate req/s)"
summary "$B" --addr 127.0.0.1:50071 --mix get=100 "${common[@]}" --seed-customers 10 --rate "$rate"
echo "== crm-server, mixed (durable writes)"
summary "$B" --addr 127.0.0.1:50071 --mix get=80,create=10,list=5,purchase=5 "${common[@]}" --seed-customers 1000
