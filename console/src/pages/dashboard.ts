// The portfolio dashboard: the report RPC's answer as pictures (funnel, retention and churn
// over time, revenue concentration, cohort retention, RFM groups, CLV distribution) for a
// currency, period and as-of date, and its per-segment figures.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { api, explain, problem } from "../api";
import { chart } from "../charts";
import { fill, h, minor, named, notice, percent } from "../dom";
import { LifecycleStage } from "../gen/crm/v1/customer_pb";
import { ReportPeriod, type PortfolioReport } from "../gen/crm/v1/report_service_pb";

const MONTHS: Record<number, number> = { [ReportPeriod.PERIOD_MONTH]: 1, [ReportPeriod.PERIOD_QUARTER]: 3, [ReportPeriod.PERIOD_YEAR]: 12 };
/** How many periods the retention and churn chart goes back. */
const HISTORY = 6;

function table(caption: string, head: string[], rows: (string | number)[][], cls = ""): HTMLElement {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: cls },
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((v, i) => (i === 0 ? h("th", { scope: "row" }, v) : h("td", { class: "num" }, v)))))),
    ),
  );
}

function funnel(r: PortfolioReport): HTMLElement[] {
  const stages = r.funnel.map((s) => named(LifecycleStage, s.stage));
  const rows = r.funnel.map((s) => [
    named(LifecycleStage, s.stage),
    Number(s.reached),
    percent(s.conversionToNext),
    s.medianDaysToNext === undefined ? "—" : s.medianDaysToNext.toFixed(1),
  ]);
  return [
    chart(
      "Funnel: customers who reached each stage",
      {
        tooltip: {},
        grid: { left: 110, right: 20, top: 10, bottom: 30 },
        xAxis: { type: "value" },
        yAxis: { type: "category", data: [...stages].reverse() },
        series: [{ type: "bar", data: r.funnel.map((s) => Number(s.reached)).reverse(), label: { show: true, position: "right" } }],
      },
      "chart-funnel",
    ),
    table("Funnel", ["Stage", "Reached", "Conversion to next", "Median days to next"], rows, "funnel"),
  ];
}

function concentration(r: PortfolioReport): HTMLElement {
  const x = r.revenueConcentration.map((_, k) => `${(k + 1) * 10}%`);
  return chart(
    `Revenue concentration: share of revenue from the top customers (top 20%: ${percent(r.top20RevenueShare)})`,
    {
      tooltip: { trigger: "axis", valueFormatter: (v: number) => percent(v) },
      legend: { top: 0 },
      grid: { left: 50, right: 20, top: 40, bottom: 30 },
      xAxis: { type: "category", data: x, name: "top customers" },
      yAxis: { type: "value", max: 1, axisLabel: { formatter: (v: number) => `${v * 100}%` } },
      series: [
        { name: "share of revenue", type: "line", data: r.revenueConcentration },
        { name: "if equal", type: "line", data: x.map((_, k) => (k + 1) / 10), lineStyle: { type: "dashed" }, symbol: "none" },
      ],
    },
    "chart-concentration",
  );
}

function cohorts(r: PortfolioReport): HTMLElement {
  const width = Math.max(0, ...r.cohorts.map((c) => c.retention.length));
  const data = r.cohorts.flatMap((c, y) => c.retention.map((v, x) => [x, y, Math.round(v * 1000) / 10]));
  return chart(
    "Cohort retention: % of each month's new customers buying again, by months since",
    {
      tooltip: { formatter: (p: { value: number[] }) => `${r.cohorts[p.value[1]]?.month}, month ${p.value[0]}: ${p.value[2]}%` },
      grid: { left: 70, right: 20, top: 10, bottom: 60 },
      xAxis: { type: "category", data: Array.from({ length: width }, (_, i) => String(i)), name: "months since" },
      yAxis: { type: "category", data: r.cohorts.map((c) => `${c.month} (${c.customers})`) },
      visualMap: { min: 0, max: 100, orient: "horizontal", left: "center", bottom: 0, calculable: false },
      series: [{ type: "heatmap", data, label: { show: width <= 12 } }],
    },
    "chart-cohorts",
  );
}

function rfm(r: PortfolioReport): HTMLElement[] {
  const groups = r.rfmGroups.map((g) => ({ name: `${g.name} (${g.count})`, value: Number(g.count) }));
  return [
    chart("RFM groups: customers per group", { tooltip: {}, series: [{ type: "treemap", data: groups, roam: false, nodeClick: false, breadcrumb: { show: false } }] }, "chart-rfm"),
    table("RFM groups", ["Group", "Customers"], r.rfmGroups.map((g) => [g.name, Number(g.count)]), "rfm"),
  ];
}

function clv(r: PortfolioReport): HTMLElement {
  const labels = r.clvDeciles.map((_, k) => (k === 0 ? "min" : k === 10 ? "max" : `p${k * 10}`));
  return chart(
    `CLV distribution (deciles; mean ${r.clvMean ? minor(r.clvMean.amountMinor, r.currencyCode) : "—"})`,
    {
      tooltip: { trigger: "axis", valueFormatter: (v: number) => minor(v, r.currencyCode) },
      grid: { left: 80, right: 20, top: 10, bottom: 30 },
      xAxis: { type: "category", data: labels },
      yAxis: { type: "value", axisLabel: { formatter: (v: number) => minor(v, r.currencyCode) } },
      series: [{ type: "bar", data: r.clvDeciles.map((m) => Number(m.amountMinor)) }],
    },
    "chart-clv",
  );
}

function overTime(reports: PortfolioReport[], periodName: string): HTMLElement {
  const ordered = [...reports].reverse();
  const x = ordered.map((r) => (r.asOf ? new Date(Number(r.asOf.seconds) * 1000).toISOString().slice(0, 10) : "?"));
  const series = (name: string, pick: (r: PortfolioReport) => number | undefined) => ({
    name,
    type: "line",
    data: ordered.map((r) => pick(r) ?? null),
  });
  return chart(
    `Retention and churn per ${periodName}, the last ${reports.length}`,
    {
      tooltip: { trigger: "axis", valueFormatter: (v: number) => percent(v) },
      legend: { top: 0 },
      grid: { left: 50, right: 20, top: 40, bottom: 30 },
      xAxis: { type: "category", data: x },
      yAxis: { type: "value", axisLabel: { formatter: (v: number) => `${Math.round(v * 100)}%` } },
      series: [series("retention", (r) => r.retentionRate), series("churn", (r) => r.churnRate)],
    },
    "chart-retention",
  );
}

export async function dashboardPage(main: HTMLElement, stillHere: () => boolean): Promise<void> {
  const today = new Date().toISOString().slice(0, 10);
  const currency = h("input", { id: "currency", value: sessionStorage.getItem("crm.currency") ?? "EUR", maxlength: 3, size: 4, "data-field": "currency_code", autocapitalize: "characters" });
  const period = h(
    "select",
    { id: "period" },
    [ReportPeriod.PERIOD_MONTH, ReportPeriod.PERIOD_QUARTER, ReportPeriod.PERIOD_YEAR].map((p) =>
      h("option", { value: String(p), selected: p === ReportPeriod.PERIOD_QUARTER }, ReportPeriod[p].replace("PERIOD_", "").toLowerCase()),
    ),
  );
  const asOf = h("input", { id: "as-of", type: "date", value: today });
  const out = h("div", { id: "report", "aria-live": "polite" });

  async function draw(): Promise<void> {
    fill(out, h("p", {}, "Loading…"));
    sessionStorage.setItem("crm.currency", currency.value);
    const p = Number(period.value) as ReportPeriod;
    // Today means now (a report of the future is refused); another day means its end.
    const end = !asOf.value || asOf.value >= today ? new Date() : new Date(`${asOf.value}T23:59:59Z`);
    const at = (k: number) => {
      const d = new Date(end);
      d.setUTCMonth(d.getUTCMonth() - k * MONTHS[p]);
      return d;
    };
    try {
      const segments = (await api.segments.listSegments({ pageSize: 20 })).segments;
      const ask = (k: number, withSegments: boolean) =>
        api.reports.getPortfolioReport({
          asOf: timestampFromDate(at(k)),
          period: p,
          currencyCode: currency.value.trim().toUpperCase(),
          cohortMonths: 12,
          segmentIds: withSegments ? segments.map((s) => s.id) : [],
        });
      const reports = await Promise.all(Array.from({ length: HISTORY }, (_, k) => ask(k, k === 0)));
      if (!stillHere()) return;
      const r = reports[0];
      const headline = table(
        "The portfolio",
        ["Figure", "Value"],
        [
          ["Customers", Number(r.customers)],
          ["Customers at the period's end", Number(r.customersAtEnd)],
          ["New in the period", Number(r.newInPeriod)],
          ["Retention", percent(r.retentionRate)],
          ["Churn", percent(r.churnRate)],
          ["Revenue", r.revenue ? minor(r.revenue.amountMinor, r.currencyCode) : "—"],
          ["Paying customers", Number(r.payingCustomers)],
          ["Open tickets", Number(r.openTickets)],
        ],
        "headline",
      );
      const perSegment = r.segments.length
        ? table(
            "Per segment",
            ["Segment", "Members", "NPS", "Open tickets"],
            r.segments.map((s) => [s.name, Number(s.members), s.feedback?.nps === undefined ? "—" : s.feedback.nps.toFixed(0), Number(s.openTickets)]),
            "segments",
          )
        : h("p", {}, "No segments yet.");
      fill(
        out,
        h("div", { class: "grid" }, headline, perSegment),
        h("section", { class: "card" }, h("h2", {}, "Funnel"), ...funnel(r)),
        h("div", { class: "grid" }, overTime(reports, ReportPeriod[p].replace("PERIOD_", "").toLowerCase()), concentration(r)),
        h("div", { class: "grid" }, cohorts(r), clv(r)),
        h("section", { class: "card" }, h("h2", {}, "RFM"), ...rfm(r)),
      );
    } catch (e) {
      if (stillHere()) fill(out, notice("error", explain(problem(e))));
    }
  }

  const form = h(
    "form",
    { class: "filter", onsubmit: (e: Event) => { e.preventDefault(); void draw(); } },
    h("div", { class: "field" }, h("label", { for: "currency" }, "Currency"), currency),
    h("div", { class: "field" }, h("label", { for: "period" }, "Period"), period),
    h("div", { class: "field" }, h("label", { for: "as-of" }, "As of"), asOf),
    h("button", { type: "submit" }, "Show"),
  );
  fill(main, h("h1", {}, "Portfolio"), form, out);
  void draw();
}
