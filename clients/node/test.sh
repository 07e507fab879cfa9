#!/usr/bin/env bash
# The Node client's suite: the locked dependencies (npm ci) and node --test against the real
# crm-server.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
node --test --test-timeout=60000 test/*.test.js
