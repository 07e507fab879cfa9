#!/usr/bin/env bash
# The console's suite: Debian's Chromium (installed here when missing, as root), the locked
# dependencies, then the browser stories in test/ against a real crm-server. Screenshots land
# in console/screenshots/.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
fi
[ -x /usr/bin/chromium ] || { echo "console/test.sh: /usr/bin/chromium is missing (apt-get install chromium)" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error >/dev/null
(cd ../clients/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
node --test --test-concurrency=1 --test-timeout=180000 test/*.test.mjs
