#!/usr/bin/env bash
# The console that crm-server embeds (console/dist) and its generated client (console/src/gen)
# are committed, so the README's commands need only cargo. This rebuilds both from their
# sources (the contract in proto/, the TypeScript in console/src) and fails if the committed
# ones differ: a change to either must ship its rebuilt console.
set -euo pipefail
cd "$(dirname "$0")/../console"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
npm run --silent generate
# The build goes to a scratch directory and is compared with dist/, which is left untouched:
# crm-server embeds dist/, and rewriting its files (even with the same bytes) would make cargo
# rebuild crm-grpc and everything above it.
built=$(mktemp -d)
trap 'rm -rf "$built"' EXIT
# `npm run build` with its output directory moved (npm appends the arguments to the script).
npm run --silent build -- --outDir "$built" --emptyOutDir >/dev/null
stale=$(git status --porcelain -- src/gen)
if [ -n "$stale" ] || ! diff -r "$built" dist >/dev/null; then
  echo "console-build-check: the committed console is stale; run 'npm run generate && npm run build' in console/ and commit:" >&2
  echo "$stale" >&2
  diff -rq "$built" dist >&2 || true
  exit 1
fi
echo "console: dist/ and src/gen/ are what their sources build"
