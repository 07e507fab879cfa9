// Customers: the list with the server's filter language, order and paging, and search as you
// type. Each row opens the customer's page.
import { api, explain, problem } from "../api";
import { fill, h, named, notice, day } from "../dom";
import {
  LeadTemperature,
  LifecycleStage,
  RelationshipStatus,
  CustomerKind,
  type Customer,
} from "../gen/crm/v1/customer_pb";

const PAGE = 20;

export function customerRow(c: Customer): HTMLElement {
  return h(
    "tr",
    {},
    h("td", {}, h("a", { href: `#/customers/${c.id}` }, c.displayName || c.id)),
    h("td", {}, named(CustomerKind, c.kind)),
    h("td", {}, named(LifecycleStage, c.lifecycleStage)),
    h("td", {}, named(RelationshipStatus, c.relationshipStatus)),
    h("td", {}, named(LeadTemperature, c.leadTemperature)),
    h("td", { class: "num" }, c.leadScore),
    h("td", {}, c.emails[0]?.address ?? ""),
    h("td", {}, day(c.createTime)),
  );
}

export function customerTable(customers: Customer[], caption: string): HTMLElement {
  const head = ["Name", "Kind", "Stage", "Status", "Temperature", "Score", "Email", "Created"];
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "customers" },
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, customers.map(customerRow)),
    ),
  );
}

export function customersPage(main: HTMLElement, stillHere: () => boolean): void {
  const filter = h("input", {
    id: "filter",
    type: "search",
    placeholder: 'lifecycle_stage = "LOYALTY" AND tags:"vip"',
    "aria-describedby": "filter-error filter-help",
    value: sessionStorage.getItem("crm.filter") ?? "",
  });
  const order = h(
    "select",
    { id: "order" },
    ["create_time", "create_time desc", "update_time desc", "display_name"].map((o) =>
      h("option", { value: o }, o),
    ),
  );
  const filterError = h("p", { id: "filter-error", class: "field-error", role: "alert" });
  const search = h("input", { id: "search", type: "search", placeholder: "name, email, phone…" });
  const results = h("div", { id: "results", "aria-live": "polite" });
  const pager = h("div", { class: "pager" });

  // Paging: the tokens of the pages before this one, so Previous goes back exactly.
  let tokens: string[] = [""];
  let at = 0;

  async function list(): Promise<void> {
    fill(filterError);
    sessionStorage.setItem("crm.filter", filter.value);
    try {
      const page = await api.customers.listCustomers({
        filter: filter.value.trim(),
        orderBy: order.value,
        pageSize: PAGE,
        pageToken: tokens[at],
      });
      if (!stillHere()) return;
      tokens = tokens.slice(0, at + 1);
      if (page.nextPageToken) tokens.push(page.nextPageToken);
      const caption = `Customers, page ${at + 1}${filter.value.trim() ? `, filter ${filter.value.trim()}` : ""}`;
      fill(
        results,
        page.customers.length
          ? customerTable(page.customers, caption)
          : notice("info", "No customers match."),
      );
      fill(
        pager,
        h("button", { type: "button", disabled: at === 0, onclick: () => go(at - 1) }, "Previous"),
        h("span", { class: "page-no" }, `Page ${at + 1}`),
        h("button", { type: "button", disabled: !page.nextPageToken, onclick: () => go(at + 1) }, "Next"),
      );
    } catch (e) {
      if (!stillHere()) return;
      const p = problem(e);
      // The filter's own errors go under the box; anything else above the results.
      const own = p.fields.filter((f) => f.field === "filter" || f.field === "order_by");
      if (own.length) {
        fill(filterError, own.map((f) => `${f.field}: ${f.description}`).join("; "));
        fill(results);
      } else {
        fill(results, notice("error", explain(p)));
      }
      fill(pager);
    }
  }

  function go(page: number): void {
    at = page;
    void list();
  }

  let typing: number | undefined;
  let searchNo = 0;
  search.addEventListener("input", () => {
    window.clearTimeout(typing);
    typing = window.setTimeout(async () => {
      const q = search.value.trim();
      const mine = ++searchNo;
      if (!q) {
        void list();
        return;
      }
      try {
        const found = await api.customers.searchCustomers({ query: q, pageSize: PAGE });
        if (!stillHere() || mine !== searchNo) return;
        fill(pager);
        const customers = found.results.flatMap((r) => (r.customer ? [r.customer] : []));
        fill(
          results,
          customers.length
            ? customerTable(customers, `Search results for ${q}`)
            : notice("info", `Nothing found for “${q}”.`),
        );
      } catch (e) {
        if (stillHere() && mine === searchNo) fill(results, notice("error", explain(problem(e))));
      }
    }, 200);
  });

  const form = h(
    "form",
    {
      class: "filter",
      role: "search",
      onsubmit: (event: Event) => {
        event.preventDefault();
        tokens = [""];
        at = 0;
        void list();
      },
    },
    h("div", { class: "field wide" }, h("label", { for: "filter" }, "Filter"), filter, filterError),
    h("div", { class: "field" }, h("label", { for: "order" }, "Order"), order),
    h("button", { type: "submit" }, "Apply"),
  );
  fill(
    main,
    h("div", { class: "title" }, h("h1", {}, "Customers"), h("a", { class: "button", href: "#/customers/new" }, "New customer")),
    h("div", { class: "field" }, h("label", { for: "search" }, "Search"), search),
    form,
    h(
      "p",
      { id: "filter-help", class: "help" },
      "Fields: lifecycle_stage, kind, owner, tags, relationship_status, lead_temperature, lead_score, clv.EUR, rfm_group, … joined with AND, OR, NOT.",
    ),
    results,
    pager,
  );
  void list();
}
