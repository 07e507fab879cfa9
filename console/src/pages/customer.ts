// One customer: the record, value, status, lead score and temperature, consent, the timeline
// (newest first, paged, by kind), and its tickets, feedback, loyalty and deals.
import { api, Code, explain, problem } from "../api";
import { day, fill, h, money, named, notice, time } from "../dom";
import {
  CustomerKind,
  LeadStatus,
  LeadTemperature,
  LifecycleStage,
  RelationshipStatus,
  type ConsentDecision,
  type Customer,
} from "../gen/crm/v1/customer_pb";
import { TimelineEntryKind, type TimelineEntry } from "../gen/crm/v1/timeline_pb";
import { SlaStatus, TicketPriority, TicketStatus } from "../gen/crm/v1/support_service_pb";
import { DealStatus } from "../gen/crm/v1/deal_service_pb";
import { SurveyKind } from "../gen/crm/v1/feedback_pb";

const TIMELINE_PAGE = 10;

function facts(rows: [string, string | number | Node][]): HTMLElement {
  return h(
    "dl",
    { class: "facts" },
    rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );
}

function card(title: string, ...body: (Node | string)[]): HTMLElement {
  const id = `card-${title.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...body);
}

function decision(d: ConsentDecision | undefined): string {
  if (!d || !d.time) return "not asked";
  if (d.pending) return "pending confirmation";
  return `${d.granted ? "granted" : "refused"} ${day(d.time)}`;
}

/** What happened, in one line, for each kind of timeline entry. */
export function describeEntry(e: TimelineEntry): string {
  const ev = e.event;
  switch (ev.case) {
    case "interaction":
      return `${ev.value.subject || "interaction"} (${ev.value.channel || "no channel"})`;
    case "purchase":
      return `Purchase ${ev.value.orderRef} ${money(ev.value.amount)}`;
    case "refund":
      return `Refund ${ev.value.orderRef} ${money(ev.value.amount)}${ev.value.reason ? ` — ${ev.value.reason}` : ""}`;
    case "stageChange":
      return `Stage ${named(LifecycleStage, ev.value.from)} → ${named(LifecycleStage, ev.value.to)}${ev.value.automatic ? " (automatic)" : ""}`;
    case "qualification":
      return ev.value.qualified ? "Qualified" : `Disqualified: ${ev.value.reason}`;
    case "lost":
      return `Lost: ${ev.value.reason}`;
    case "converted":
      return `Converted by order ${ev.value.orderRef}`;
    case "referralConverted":
      return `Referred customer ${ev.value.referredCustomerId} converted`;
    case "surveyResponse":
      return `${named(SurveyKind, ev.value.kind)} survey: ${ev.value.score}${ev.value.comment ? ` — ${ev.value.comment}` : ""}`;
    case "review":
      return `Review ${ev.value.rating}/5${ev.value.title ? `: ${ev.value.title}` : ""}`;
    case "ticketEvent":
      return `Ticket ${ev.value.subject}`;
    default:
      return "—";
  }
}

function kindName(e: TimelineEntry): string {
  return e.event.case ?? "unknown";
}

function timeline(id: string, stillHere: () => boolean): HTMLElement {
  const kinds = Object.entries(TimelineEntryKind)
    .filter(([, v]) => typeof v === "number" && v !== 0)
    .map(([name, v]) => ({ name: name.replace(/^ENTRY_/, "").toLowerCase().replace(/_/g, " "), value: v as number }));
  const kind = h(
    "select",
    { id: "timeline-kind" },
    h("option", { value: "" }, "all kinds"),
    kinds.map((k) => h("option", { value: String(k.value) }, k.name)),
  );
  const list = h("ol", { class: "timeline", "aria-live": "polite" });
  const pager = h("div", { class: "pager" });
  let tokens = [""];
  let at = 0;
  async function load(): Promise<void> {
    try {
      const page = await api.timeline.listTimeline({
        customerId: id,
        newestFirst: true,
        kinds: kind.value ? [Number(kind.value)] : [],
        pageSize: TIMELINE_PAGE,
        pageToken: tokens[at],
      });
      if (!stillHere()) return;
      tokens = tokens.slice(0, at + 1);
      if (page.nextPageToken) tokens.push(page.nextPageToken);
      fill(
        list,
        page.entries.length
          ? page.entries.map((e) =>
              h(
                "li",
                { "data-kind": kindName(e) },
                h("time", {}, time(e.occurredAt)),
                " ",
                h("span", { class: "kind" }, kindName(e)),
                " ",
                describeEntry(e),
              ),
            )
          : h("li", {}, "Nothing on the timeline."),
      );
      fill(
        pager,
        h("button", { type: "button", disabled: at === 0, onclick: () => { at--; void load(); } }, "Newer"),
        h("span", { class: "page-no" }, `Timeline page ${at + 1}`),
        h("button", { type: "button", disabled: !page.nextPageToken, onclick: () => { at++; void load(); } }, "Older"),
      );
    } catch (e) {
      if (stillHere()) fill(list, h("li", {}, notice("error", explain(problem(e)))));
    }
  }
  kind.addEventListener("change", () => {
    tokens = [""];
    at = 0;
    void load();
  });
  void load();
  return card(
    "Timeline",
    h("div", { class: "field" }, h("label", { for: "timeline-kind" }, "Kind"), kind),
    list,
    pager,
  );
}

/** A side panel filled by one call; a domain the key may not read says so in place. */
function panel(title: string, fetch: () => Promise<Node>, stillHere: () => boolean): HTMLElement {
  const body = h("div", {}, "Loading…");
  fetch()
    .then((node) => stillHere() && fill(body, node))
    .catch((e) => stillHere() && fill(body, notice("error", explain(problem(e)))));
  return card(title, body);
}

function tickets(id: string): Promise<Node> {
  return api.support.listTickets({ filter: `customer_id = "${id}"`, orderBy: "create_time desc", pageSize: 10 }).then((r) =>
    r.tickets.length
      ? h(
          "ul",
          { class: "plain" },
          r.tickets.map((t) =>
            h(
              "li",
              {},
              h("strong", {}, t.subject),
              ` — ${named(TicketStatus, t.status)}, ${named(TicketPriority, t.priority)}, SLA ${named(SlaStatus, t.sla?.status ?? 0)}, opened ${day(t.openTime)}`,
            ),
          ),
        )
      : h("p", {}, "No tickets."),
  );
}

function deals(id: string): Promise<Node> {
  return api.deals.listDeals({ filter: `customer_id = "${id}"`, pageSize: 10 }).then((r) =>
    r.deals.length
      ? h(
          "ul",
          { class: "plain" },
          r.deals.map((d) =>
            h(
              "li",
              {},
              h("strong", {}, d.name),
              ` — ${money(d.amount)}, ${d.stage}, ${named(DealStatus, d.status)}, closes ${d.closeDate || "—"}`,
            ),
          ),
        )
      : h("p", {}, "No deals."),
  );
}

function loyalty(id: string): Promise<Node> {
  return api.loyalty
    .getLoyaltyAccount({ customerId: id })
    .then((a) =>
      facts([
        ["Points", Number(a.balance)],
        ["Tier", a.tier || "—"],
        ["Next tier", a.nextTier ? `${a.nextTier} in ${Number(a.toNextTier)} points` : "—"],
        ["Expiring in 30 days", Number(a.expiring30d)],
      ]),
    )
    .catch((e) => {
      // A store without a loyalty program answers FAILED_PRECONDITION: say so plainly.
      if (problem(e).code === Code.FailedPrecondition) return h("p", {}, problem(e).message);
      throw e;
    });
}

function feedback(c: Customer): Node {
  const f = c.summary?.feedback;
  if (!f) return h("p", {}, "No feedback.");
  const tally = (t?: { count: bigint; average: number }) =>
    t && t.count > 0n ? `${t.average.toFixed(1)} over ${t.count}` : "—";
  return facts([
    ["NPS", `${tally(f.nps)}${f.lastNps !== undefined ? `, last ${f.lastNps}` : ""}`],
    ["CSAT", tally(f.csat)],
    ["CES", tally(f.ces)],
    ["Reviews", tally(f.reviews)],
  ]);
}

export async function customerPage(main: HTMLElement, id: string, stillHere: () => boolean): Promise<void> {
  fill(main, h("p", {}, "Loading…"));
  let c: Customer;
  try {
    c = await api.customers.getCustomer({ id });
  } catch (e) {
    if (stillHere()) fill(main, h("h1", {}, "Customer"), notice("error", explain(problem(e))));
    return;
  }
  if (!stillHere()) return;
  const consent = c.consent;
  const values = c.value.length
    ? c.value.map((v) => h("li", {}, `${v.currencyCode}: ${money(v.historicalValue)} spent over ${Number(v.purchaseCount)} purchases, CLV ${money(v.clv)}`))
    : [h("li", {}, "No purchases yet.")];
  fill(
    main,
    h(
      "div",
      { class: "title" },
      h("h1", {}, c.displayName || c.id),
      h("a", { class: "button", href: `#/customers/${c.id}/edit` }, "Edit"),
    ),
    h(
      "div",
      { class: "grid" },
      card(
        "Record",
        facts([
          ["Id", c.id],
          ["Kind", named(CustomerKind, c.kind)],
          ["Emails", c.emails.map((e) => e.address).join(", ") || "—"],
          ["Phones", c.phones.map((p) => p.number).join(", ") || "—"],
          ["Owner", c.owner || "—"],
          ["Source", c.source || "—"],
          ["Tags", c.tags.join(", ") || "—"],
          ["Country", c.address?.country || "—"],
          ["Customer since", day(c.customerSince)],
          ["Updated", time(c.updateTime)],
        ]),
      ),
      card(
        "Status",
        facts([
          ["Lifecycle stage", named(LifecycleStage, c.lifecycleStage)],
          ["Relationship", named(RelationshipStatus, c.relationshipStatus)],
          ["Lead score", c.leadScore],
          ["Temperature", named(LeadTemperature, c.leadTemperature)],
          ["Lead status", named(LeadStatus, c.leadStatus)],
          ["Advocate", c.advocate ? "yes" : "no"],
        ]),
      ),
      card("Value", h("ul", { class: "plain" }, values)),
      card(
        "Consent",
        facts([
          ["Email marketing", decision(consent?.emailMarketing)],
          ["SMS marketing", decision(consent?.smsMarketing)],
          ["Profiling", decision(consent?.profiling)],
          ["Phone calls", decision(consent?.phoneCalls)],
          ["Third-party sharing", decision(consent?.thirdPartySharing)],
        ]),
      ),
      card("Feedback", feedback(c)),
      panel("Tickets", () => tickets(c.id), stillHere),
      panel("Loyalty", () => loyalty(c.id), stillHere),
      panel("Deals", () => deals(c.id), stillHere),
    ),
    timeline(c.id, stillHere),
  );
}
