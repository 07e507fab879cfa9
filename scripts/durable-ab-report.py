"""Medians of scripts/bench-durable-ab.sh's runs: each build on each engine, beside SQLite."""
import collections
import json
import statistics as st
import sys

runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[(r["size"], r["workload"], r["engine"], r["build"])].append(r["ops_per_sec"])


def cell(xs):
    return f"{st.median(xs):,.0f} ({min(xs):,.0f}-{max(xs):,.0f})"


print("| size | workload | engine | old median (range) | new median (range) | new/old | SQLite median (range) | new/SQLite |")
print("|---|---|---|---|---|---|---|---|")
for size, workload in sorted({(k[0], k[1]) for k in runs}):
    sqlite = runs[(size, workload, "sqlite", "new")]
    for engine in ("crm-fjall", "crm"):
        old, new = runs[(size, workload, engine, "old")], runs[(size, workload, engine, "new")]
        if not old or not new:
            continue
        print(
            f"| {size:,} | {workload} | {engine} | {cell(old)} | {cell(new)} | "
            f"{st.median(new) / st.median(old):.2f} | {cell(sqlite)} | {st.median(new) / st.median(sqlite):.2f} |"
        )
