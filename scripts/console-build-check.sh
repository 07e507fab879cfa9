#!/usr/bin/env bash
# The console that crm-server embeds (console/dist) and its generated client (console/src/gen)
# are committed, so the README's commands need only cargo. This rebuilds both from their
# sources (the contract in proto/, the TypeScript in console/src) and fails if the committed
# ones differ: a change to either must ship its rebuilt console.
set -euo pipefail
cd "$(dirname "$0")/../console"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
npm run --silent generate
npm run --silent build >/dev/null
stale=$(git status --porcelain -- dist src/gen)
if [ -n "$stale" ]; then
  echo "console-build-check: the committed console is stale; run 'npm run generate && npm run build' in console/ and commit:" >&2
  echo "$stale" >&2
  git --no-pager diff --stat -- dist src/gen >&2
  exit 1
fi
echo "console: dist/ and src/gen/ are what their sources build"
