#!/usr/bin/env python3
"""The engine comparison as a BENCHMARKS.md table: crm on fjall and on sled, raw sled and SQLite,
medians over the interleaved runs of scripts/bench.sh (ENGINES="crm crm-fjall sled sqlite"), with
fjall and crm on sled against SQLite and crm on sled against raw sled (the issue's targets)."""
import json
import statistics
import sys
from collections import defaultdict

ENGINES = ["crm-fjall", "crm", "sled", "sqlite"]
# The *_warm rows come from runs with --warm (scripts/bench.sh, LIBBENCH_ARGS): the reads again
# after untimed random reads have filled the caches.
WORKLOADS = ["get", "lookup_email", "list_stage_50", "get_warm", "lookup_email_warm",
             "list_stage_50_warm", "create_relaxed", "create_relaxed_16",
             "create_durable", "create_durable_16", "update_two_fields", "record_purchase"]

runs = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[(r["engine"], r["size"], r["workload"])].append(r)


def med(engine, size, workload, field="ops_per_sec"):
    rows = runs.get((engine, size, workload))
    return statistics.median(r[field] for r in rows) if rows else None


for size in sorted({k[1] for k in runs}):
    n = max(len(runs.get((e, size, "get"), [])) for e in ENGINES)
    print(f"\n{size:,} customers, median of {n} run(s), ops/s:\n")
    print("| workload | crm on fjall | crm on sled | raw sled | SQLite | fjall / SQLite | sled / SQLite | sled / raw sled |")
    print("|---|---|---|---|---|---|---|---|")
    for w in WORKLOADS:
        v = [med(e, size, w) for e in ENGINES]
        if all(x is None for x in v):  # a workload no engine ran; a run of some engines shows theirs
            continue
        cells = [f"{x:,.0f}" if x else "—" for x in v]
        ratio = lambda a, b: f"{a / b:.2f}×" if a and b else "—"
        print(f"| {w} | {' | '.join(cells)} | {ratio(v[0], v[3])} | {ratio(v[1], v[3])} | {ratio(v[1], v[2])} |")
    rss = [med(e, size, "run", "peak_rss_mb") for e in ENGINES]
    disk = [med(e, size, "run", "disk_bytes_per_customer") for e in ENGINES]
    print(f"| peak RSS, MiB | {' | '.join(f'{x:,.0f}' if x else '—' for x in rss)} | | | |")
    print(f"| disk, bytes per customer | {' | '.join(f'{x:,.0f}' if x else '—' for x in disk)} | | | |")
