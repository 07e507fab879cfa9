#!/usr/bin/env python3
"""Turns crm-libbench JSON lines into BENCHMARKS.md tables (medians over runs) and an SVG chart
of throughput against dataset size. Usage: bench-report.py RESULTS.jsonl [CHART.svg]"""
import json
import math
import statistics
import sys
from collections import defaultdict

ENGINES = ["crm", "sled", "sqlite"]
WORKLOADS = [
    ("get", "get by id"),
    ("lookup_email", "lookup by email"),
    ("list_stage_50", "list 50 by stage"),
    ("create_relaxed", "create (relaxed / NORMAL)"),
    ("create_relaxed_16", "create, 16 writers (relaxed / NORMAL)"),
    ("update_two_fields", "update two fields (relaxed)"),
    ("record_purchase", "record a purchase (relaxed)"),
    ("create_durable", "create (durable / FULL)"),
    ("create_durable_16", "create, 16 writers (durable / FULL)"),
]


def load(path):
    runs = defaultdict(list)
    for line in open(path):
        line = line.strip()
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        runs[(d["engine"], d["size"], d["workload"])].append(d)
    return runs


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def targets(runs, sizes):
    """The issue's targets, each as crm's ratio at every size (ratios of medians)."""
    def ops(engine, size, w):
        rows = runs.get((engine, size, w))
        return med(rows, "ops_per_sec") if rows else None

    def ratio(w, other, size):
        a, b = ops("crm", size, w), ops(other, size, w)
        return a / b if a and b else None

    def fmt(values):
        return " / ".join("-" if v is None else f"{v:.2f}" for v in values)

    out = ["| target | workload | " + " / ".join(f"{s:,}" for s in sizes) + " |", "|---|---|---|"]
    for w, label in WORKLOADS:
        out.append(f"| crm / SQLite (1 or more: at least as fast) | {label} | {fmt([ratio(w, 'sqlite', s) for s in sizes])} |")
    for w, label in WORKLOADS:
        out.append(f"| crm / raw sled (writes 0.5 or more, reads 0.77 or more) | {label} | {fmt([ratio(w, 'sled', s) for s in sizes])} |")
    group = [(ops("crm", s, "create_durable_16") or 0) / (ops("crm", s, "create_durable") or 1) for s in sizes]
    out.append(f"| 16 durable writers / one (8 or more) | create | {fmt(group)} |")
    first, last = sizes[0], sizes[-1]
    for w, label in WORKLOADS:
        a, b = ops("crm", first, w), ops("crm", last, w)
        if a and b:
            out.append(f"| cost per op at {last:,} / at {first:,} (1.5 or less) | {label} | {a / b:.2f} |")
    return "\n".join(out)


def main():
    runs = load(sys.argv[1])
    sizes = sorted({k[1] for k in runs})
    out = ["### Targets, from the data", "", targets(runs, sizes)]
    for size in sizes:
        out.append(f"\n### {size:,} customers\n")
        out.append("| workload | crm ops/s | crm/SQLite | crm/raw sled | crm p50 / p99 µs | raw sled ops/s | SQLite ops/s | SQLite p50 / p99 µs |")
        out.append("|---|---|---|---|---|---|---|---|")
        for w, label in WORKLOADS:
            rows = {e: runs.get((e, size, w)) for e in ENGINES}
            if not all(rows.values()):
                continue
            c, s, q = (med(rows[e], "ops_per_sec") for e in ENGINES)
            out.append(
                f"| {label} | {c:,.0f} | {c / q:.2f}x | {c / s:.2f}x | "
                f"{med(rows['crm'], 'p50_us'):.0f} / {med(rows['crm'], 'p99_us'):.0f} | {s:,.0f} | {q:,.0f} | "
                f"{med(rows['sqlite'], 'p50_us'):.0f} / {med(rows['sqlite'], 'p99_us'):.0f} |"
            )
        run_rows = {e: runs.get((e, size, "run")) for e in ENGINES}
        if all(run_rows.values()):
            out.append("")
            out.append("| engine | disk bytes / customer | peak RSS MiB |")
            out.append("|---|---|---|")
            for e in ENGINES:
                out.append(f"| {e} | {med(run_rows[e], 'disk_bytes_per_customer'):,.0f} | {med(run_rows[e], 'peak_rss_mb'):,.0f} |")
    print("\n".join(out))
    if len(sys.argv) > 2:
        chart(runs, sizes, sys.argv[2])


def chart(runs, sizes, path):
    """Throughput of each crm workload against dataset size (log-log), raw sled and SQLite dashed."""
    width, height, left, right, top, bottom = 960, 520, 70, 290, 30, 50
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    values = [med(r, "ops_per_sec") for k, r in runs.items() if k[2] != "run"]
    lo, hi = math.log10(max(min(values), 1)), math.log10(max(values))
    lo, hi = math.floor(lo), math.ceil(hi)
    xs = {s: left + (i * (width - left - right) / max(len(sizes) - 1, 1)) for i, s in enumerate(sizes)}
    y = lambda v: top + (hi - math.log10(max(v, 1))) / (hi - lo) * (height - top - bottom)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="14">Throughput (ops/s, log scale) against dataset size: crm solid, raw sled dotted, SQLite dashed</text>']
    for p in range(lo, hi + 1):
        svg.append(f'<line x1="{left}" x2="{width - right}" y1="{y(10**p)}" y2="{y(10**p)}" stroke="#ddd"/>')
        svg.append(f'<text x="{left - 8}" y="{y(10**p) + 4}" text-anchor="end">1e{p}</text>')
    for s in sizes:
        svg.append(f'<text x="{xs[s]}" y="{height - bottom + 20}" text-anchor="middle">{s:,}</text>')
    for i, (w, label) in enumerate(WORKLOADS):
        for engine, dash in (("crm", ""), ("sled", ' stroke-dasharray="2,3"'), ("sqlite", ' stroke-dasharray="6,4"')):
            pts = [(xs[s], y(med(runs[(engine, s, w)], "ops_per_sec"))) for s in sizes if (engine, s, w) in runs]
            if len(pts) > 1:
                d = " ".join(f"{x:.1f},{yy:.1f}" for x, yy in pts)
                svg.append(f'<polyline points="{d}" fill="none" stroke="{colors[i]}" stroke-width="{2 if engine == "crm" else 1}"{dash}/>')
        svg.append(f'<rect x="{width - right + 15}" y="{top + 18 * i}" width="12" height="3" fill="{colors[i]}"/>')
        svg.append(f'<text x="{width - right + 32}" y="{top + 18 * i + 5}">{label}</text>')
    svg.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(svg))


if __name__ == "__main__":
    main()
