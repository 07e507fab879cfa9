#!/usr/bin/env python3
"""Tables from bench/postgres.jsonl (scripts/bench-postgres.sh): the library workloads per engine
side by side, and the service under a mixed load per setup."""
import json
import sys
from collections import defaultdict

lib = defaultdict(dict)
service = []
for line in open(sys.argv[1] if len(sys.argv) > 1 else "bench/postgres.jsonl"):
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    if "setup" in r:
        service.append(r)
    elif "ops_per_sec" in r:
        lib[r["workload"]][r["engine"]] = r

engines = ["crm", "crm-postgres", "sled", "sqlite"]
print("| workload | " + " | ".join(engines) + " |")
print("|---|" + "---|" * len(engines))
for w in sorted(lib, key=lambda w: (w.startswith("create"), w)):
    cells = []
    for e in engines:
        r = lib[w].get(e)
        cells.append(f"{r['ops_per_sec']:,.0f} (p50 {r['p50_us']:,.0f} us)" if r else "-")
    print(f"| {w} | " + " | ".join(cells) + " |")
print()
print("| setup | req/s | p50 ms | p99 ms | errors |")
print("|---|---|---|---|---|")
for r in service:
    errors = ", ".join(f"{k}={v}" for k, v in r.get("errors", {}).items()) or "none"
    print(f"| {r['setup']} | {r['req_per_sec']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {errors} |")
