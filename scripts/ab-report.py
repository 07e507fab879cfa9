#!/usr/bin/env python3
"""Medians of interleaved A/B runs (scripts/bench-ab.sh): per size and workload, the old and new
builds' median ops/s with their run-to-run range, the ratio new/old, and the peers."""
import json
import statistics
import sys
from collections import defaultdict

rows = defaultdict(list)
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("{"):
        r = json.loads(line)
        if "ops_per_sec" not in r:
            continue
        build = r["build"]
        if build.startswith("peer"):
            build = "peer-" + r["engine"]
        rows[(r["size"], r["workload"], build)].append(r["ops_per_sec"])

sizes = sorted({k[0] for k in rows})
print("| size | workload | old median (range) | new median (range) | new/old | raw sled | SQLite |")
print("|---|---|---|---|---|---|---|")
for size in sizes:
    workloads = sorted({k[1] for k in rows if k[0] == size}, key=lambda w: (w.startswith("create"), w))
    for w in workloads:
        old, new = rows.get((size, w, "old"), []), rows.get((size, w, "new"), [])
        if not old or not new:
            continue
        mo, mn = statistics.median(old), statistics.median(new)
        peer = lambda e: rows.get((size, w, "peer-" + e))
        fmt_peer = lambda v: f"{v[0]:,.0f}" if v else "-"
        print(
            f"| {size:,} | {w} | {mo:,.0f} ({min(old):,.0f}-{max(old):,.0f}) "
            f"| {mn:,.0f} ({min(new):,.0f}-{max(new):,.0f}) | {mn / mo:.2f} "
            f"| {fmt_peer(peer('sled'))} | {fmt_peer(peer('sqlite'))} |"
        )
