# Sourced by the scripts: builds binaries with cargo and says where cargo put them, so the
# scripts work with any CARGO_TARGET_DIR (or a workspace target elsewhere).
#
#   BIN_DIR=$(cargo_bin_dir [cargo build args...])   # e.g. --release -p crm-grpc --bin crm-server
#
# Prints the directory of the built executables (one directory: a profile's).
#
# CRM_BIN_DIR names a directory of debug binaries already built (CI builds them once, with the
# test build): a debug request is then answered from it without running cargo, provided every
# `--bin` asked for is there.

cargo_bin_dir() {
  if [ -n "${CRM_BIN_DIR:-}" ] && [[ " $* " != *" --release "* ]]; then
    local want=""
    for arg in "$@"; do
      if [ "$want" = 1 ] && [ ! -x "$CRM_BIN_DIR/$arg" ]; then
        echo "cargo_bin_dir: CRM_BIN_DIR=$CRM_BIN_DIR has no $arg" >&2
        return 1
      fi
      [ "$arg" = --bin ] && want=1 || want=""
    done
    echo "$CRM_BIN_DIR"
    return 0
  fi
  cargo build --locked --message-format=json-render-diagnostics "$@" |
    python3 -c '
import json, os, sys
dirs = {os.path.dirname(m["executable"]) for m in map(json.loads, sys.stdin)
        if m.get("reason") == "compiler-artifact" and m.get("executable")
        and "bin" in m["target"]["kind"] and not m["profile"]["test"]}
if len(dirs) != 1:
    sys.exit(f"cargo_bin_dir: expected the executables in one directory, got {sorted(dirs)}")
print(dirs.pop())'
}
