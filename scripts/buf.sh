#!/usr/bin/env bash
# buf on the public contract: lint (STANDARD, the exceptions and their reasons in buf.yaml),
# and no breaking change against crm.v1 as last released (proto/released.binpb; a release
# rebuilds it with `buf build --exclude-source-info -o proto/released.binpb`). Then proves the
# breaking check bites: a copy of the contract with one field renamed must be rejected.
set -euo pipefail
cd "$(dirname "$0")/.."

(cd scripts/buf && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
BUF=$PWD/scripts/buf/node_modules/.bin/buf
"$BUF" --version >/dev/null

"$BUF" lint
echo "buf lint: clean"
"$BUF" breaking --against proto/released.binpb
echo "buf breaking: no breaking change against proto/released.binpb"

# The check must fail on a renamed field: Customer.display_name becomes full_name.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r buf.yaml proto "$scratch/"
grep -q '^  string display_name = 5;' "$scratch/proto/crm/v1/customer.proto" ||
  { echo "buf.sh: the field to rename is not where expected; update this check" >&2; exit 1; }
sed -i 's/^  string display_name = 5;/  string full_name = 5;/' "$scratch/proto/crm/v1/customer.proto"
if out=$(cd "$scratch" && "$BUF" breaking --against proto/released.binpb 2>&1); then
  echo "buf.sh: renaming Customer.display_name was not reported as breaking" >&2
  exit 1
fi
grep -q 'display_name' <<<"$out" ||
  { echo "buf.sh: the breaking report does not name the field:" >&2; echo "$out" >&2; exit 1; }
echo "buf breaking: a renamed field is rejected ($(echo "$out" | head -n 1 | cut -c1-140))"
