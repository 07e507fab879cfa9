# Sourced by the scripts: builds binaries with cargo and says where cargo put them, so the
# scripts work with any CARGO_TARGET_DIR (or a workspace target elsewhere).
#
#   BIN_DIR=$(cargo_bin_dir [cargo build args...])   # e.g. --release -p crm-grpc --bin crm-server
#
# Prints the directory of the built executables (one directory: a profile's).

cargo_bin_dir() {
  cargo build --locked --message-format=json-render-diagnostics "$@" |
    python3 -c '
import json, os, sys
dirs = {os.path.dirname(m["executable"]) for m in map(json.loads, sys.stdin)
        if m.get("reason") == "compiler-artifact" and m.get("executable")
        and "bin" in m["target"]["kind"]}
if len(dirs) != 1:
    sys.exit(f"cargo_bin_dir: expected the executables in one directory, got {sorted(dirs)}")
print(dirs.pop())'
}
