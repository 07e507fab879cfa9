#!/usr/bin/env python3
"""The allocator A/B (scripts/bench-alloc.sh) as a BENCHMARKS.md table: per size, each engine's
median ops/s on the system allocator and on mimalloc, and the issue's ratios (fjall and crm on
sled against SQLite, crm on sled against raw sled) on each."""
import json
import statistics
import sys
from collections import defaultdict

ENGINES = {"crm-fjall": "crm on fjall", "crm": "crm on sled", "sled": "raw sled", "sqlite": "SQLite"}
WORKLOADS = ["get", "lookup_email", "list_stage_50", "create_relaxed", "create_relaxed_16",
             "create_durable", "create_durable_16", "update_two_fields", "record_purchase"]

runs = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[(r["alloc"], r["engine"], r["size"], r["workload"])].append(r)


def med(alloc, engine, size, workload, field="ops_per_sec"):
    rows = runs.get((alloc, engine, size, workload))
    return statistics.median(r[field] for r in rows) if rows else None


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "—"


for size in sorted({k[2] for k in runs}):
    n = len(runs.get(("mimalloc", "crm", size, "get"), []))
    print(f"\n{size:,} customers, medians of {n} rounds, ops/s, system allocator → mimalloc (mimalloc / system):\n")
    print("| workload | " + " | ".join(ENGINES.values())
          + " | fjall / SQLite | sled / SQLite | sled / raw sled |")
    print("|---" * (len(ENGINES) + 4) + "|")
    for w in WORKLOADS:
        cells = []
        for e in ENGINES:
            s, m = med("system", e, size, w), med("mimalloc", e, size, w)
            cells.append(f"{s:,.0f} → {m:,.0f} ({m / s:.2f})" if s and m else "—")
        f, c, r, q = (med("mimalloc", e, size, w) for e in ENGINES)
        fs, cs, rs, qs = (med("system", e, size, w) for e in ENGINES)
        print(f"| {w} | " + " | ".join(cells)
              + f" | {ratio(fs, qs)} → {ratio(f, q)} | {ratio(cs, qs)} → {ratio(c, q)}"
              + f" | {ratio(cs, rs)} → {ratio(c, r)} |")
    rss = [(med("system", e, size, "run", "peak_rss_mb"), med("mimalloc", e, size, "run", "peak_rss_mb"))
           for e in ENGINES]
    print("| peak RSS, MiB | " + " | ".join(f"{s:,.0f} → {m:,.0f}" for s, m in rss) + " | | | |")
