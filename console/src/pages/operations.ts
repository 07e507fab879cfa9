// Operations (admin keys only): the store's consistency check, the audit trail, API keys, and
// live calls per second and latency from the server's own metrics.
import { api, explain, problem } from "../api";
import { chart } from "../charts";
import { fill, h, notice, time } from "../dom";
import { Role } from "../gen/crm/v1/admin_service_pb";

/** One reading of `crm_rpc_calls_total` and the p50/p99 of `crm_rpc_duration_seconds`. */
interface Reading {
  at: number;
  calls: number;
  p50: number;
  p99: number;
}

/** Reads the Prometheus text: total calls over every method and code, and the largest p50 and
 *  p99 latency over them (the slowest method's, in milliseconds). */
export function readMetrics(text: string, at: number): Reading {
  let calls = 0;
  let p50 = 0;
  let p99 = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const [series, value] = [line.slice(0, line.lastIndexOf(" ")), Number(line.slice(line.lastIndexOf(" ") + 1))];
    if (!Number.isFinite(value)) continue;
    if (series.startsWith("crm_rpc_calls_total")) calls += value;
    if (series.startsWith("crm_rpc_duration_seconds{")) {
      if (series.includes('quantile="0.5"')) p50 = Math.max(p50, value * 1000);
      if (series.includes('quantile="0.99"')) p99 = Math.max(p99, value * 1000);
    }
  }
  return { at, calls, p50, p99 };
}

function metrics(stillHere: () => boolean): HTMLElement {
  const box = h("div", { id: "metrics" }, "Reading metrics…");
  const readings: Reading[] = [];
  const tick = async () => {
    if (!stillHere()) return;
    try {
      const m = await api.admin.getServerMetrics({});
      readings.push(readMetrics(m.prometheusText, Date.now()));
      if (readings.length > 30) readings.shift();
      const rates = readings.slice(1).map((r, i) => (r.calls - readings[i].calls) / ((r.at - readings[i].at) / 1000));
      const x = readings.slice(1).map((r) => new Date(r.at).toISOString().slice(11, 19));
      const last = readings[readings.length - 1];
      fill(
        box,
        h("p", {}, `Calls so far: ${last.calls}. Latency of the slowest method: p50 ${last.p50.toFixed(2)} ms, p99 ${last.p99.toFixed(2)} ms.`),
        readings.length > 1
          ? chart(
              "Calls per second (every 2 s) and p99 latency",
              {
                tooltip: { trigger: "axis" },
                legend: { top: 0 },
                grid: { left: 50, right: 50, top: 40, bottom: 30 },
                xAxis: { type: "category", data: x },
                yAxis: [{ type: "value", name: "calls/s" }, { type: "value", name: "ms" }],
                series: [
                  { name: "calls/s", type: "line", data: rates.map((r) => Math.round(r * 10) / 10) },
                  { name: "p99 ms", type: "line", yAxisIndex: 1, data: readings.slice(1).map((r) => Math.round(r.p99 * 100) / 100) },
                ],
              },
              "chart-metrics",
            )
          : "",
      );
    } catch (e) {
      fill(box, notice("error", explain(problem(e))));
      return;
    }
    window.setTimeout(tick, 2000);
  };
  void tick();
  return box;
}

export async function operationsPage(main: HTMLElement, admin: boolean, stillHere: () => boolean): Promise<void> {
  if (!admin) {
    fill(main, h("h1", {}, "Operations"), notice("error", "Operations need an API key with the admin role. Set one with “API key” above."));
    return;
  }
  const verifyOut = h("div", { "aria-live": "polite" });
  const verify = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        fill(verifyOut, "Verifying (writes wait while it runs)…");
        try {
          const v = await api.admin.verifyStore({});
          fill(
            verifyOut,
            notice(v.clean ? "ok" : "error", v.clean ? `Clean: ${v.customers} customers, ${v.indexEntries} index entries, ${v.changes} changes checked.` : `${v.problems.length} problems found.`),
            v.problems.length ? h("ul", {}, v.problems.map((p) => h("li", {}, p))) : "",
          );
        } catch (e) {
          fill(verifyOut, notice("error", explain(problem(e))));
        }
      },
    },
    "Verify the store",
  );
  const audit = h("div", {});
  const keys = h("div", {});
  fill(
    main,
    h("h1", {}, "Operations"),
    h("section", { class: "card" }, h("h2", {}, "Live metrics"), metrics(stillHere)),
    h("section", { class: "card" }, h("h2", {}, "Store"), verify, verifyOut),
    h("section", { class: "card" }, h("h2", {}, "API keys"), keys),
    h("section", { class: "card" }, h("h2", {}, "Audit trail"), audit),
  );
  try {
    const [k, a] = await Promise.all([api.admin.listApiKeys({}), api.admin.listAuditEvents({ pageSize: 20, newestFirst: true })]);
    if (!stillHere()) return;
    fill(
      keys,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h("caption", {}, "API keys (secrets are never shown)"),
          h("thead", {}, h("tr", {}, ["Name", "Role", "Created", "Revoked"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, k.keys.map((key) => h("tr", {}, h("th", { scope: "row" }, key.name), h("td", {}, Role[key.role] ?? String(key.role)), h("td", {}, time(key.createTime)), h("td", {}, key.revokeTime ? time(key.revokeTime) : "—")))),
        ),
      ),
    );
    fill(
      audit,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h("caption", {}, "The latest audited writes"),
          h("thead", {}, h("tr", {}, ["Time", "Actor", "Operation", "Customer", "Fields"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, a.events.map((ev) => h("tr", {}, h("td", {}, time(ev.time)), h("td", {}, ev.actor), h("td", {}, ev.operation), h("td", {}, ev.customerId ? h("a", { href: `#/customers/${ev.customerId}` }, ev.customerId) : "—"), h("td", {}, ev.fields.join(", "))))),
        ),
      ),
    );
  } catch (e) {
    if (stillHere()) fill(keys, notice("error", explain(problem(e))));
  }
}
