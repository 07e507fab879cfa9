// Segments: the list with member counts, a segment's members, and create and edit with the
// filter language (the server's errors shown at the field, a stale etag told plainly).
import { api, Code, explain, problem } from "../api";
import { field, fill, h, named, notice, time } from "../dom";
import { ConsentPurpose } from "../gen/crm/v1/customer_pb";
import type { Segment } from "../gen/crm/v1/segment_service_pb";
import { customerTable } from "./customers";
import { showAtFields } from "./customer-form";

export async function segmentsPage(main: HTMLElement, stillHere: () => boolean): Promise<void> {
  fill(main, h("div", { class: "title" }, h("h1", {}, "Segments"), h("a", { class: "button", href: "#/segments/new" }, "New segment")));
  const body = h("tbody");
  const status = h("div", { "aria-live": "polite" });
  main.append(
    status,
    h(
      "div",
      { class: "table-wrap" },
      h("table", { class: "segments" }, h("caption", {}, "Segments and their members now"), h("thead", {}, h("tr", {}, ["Name", "Filter", "Members", "Updated"].map((t) => h("th", { scope: "col" }, t)))), body),
    ),
  );
  try {
    let token = "";
    do {
      const page = await api.segments.listSegments({ pageSize: 100, pageToken: token });
      if (!stillHere()) return;
      for (const s of page.segments) {
        const count = h("td", { class: "num" }, "…");
        body.append(h("tr", {}, h("th", { scope: "row" }, h("a", { href: `#/segments/${s.id}` }, s.name)), h("td", {}, h("code", {}, s.filter)), count, h("td", {}, time(s.updateTime))));
        api.segments
          .countSegmentMembers({ id: s.id })
          .then((c) => (count.textContent = String(c.count)))
          .catch((e) => (count.textContent = problem(e).codeName));
      }
      token = page.nextPageToken;
    } while (token);
    if (!body.children.length) fill(status, notice("info", "No segments yet."));
  } catch (e) {
    if (stillHere()) fill(status, notice("error", explain(problem(e))));
  }
}

export async function segmentPage(main: HTMLElement, id: string, stillHere: () => boolean): Promise<void> {
  try {
    const [s, count] = await Promise.all([api.segments.getSegment({ id }), api.segments.countSegmentMembers({ id })]);
    if (!stillHere()) return;
    const members = h("div", { "aria-live": "polite" });
    const pager = h("div", { class: "pager" });
    let tokens = [""];
    let at = 0;
    const load = async () => {
      const page = await api.segments.listSegmentMembers({ id, pageSize: 20, pageToken: tokens[at] });
      if (!stillHere()) return;
      tokens = tokens.slice(0, at + 1);
      if (page.nextPageToken) tokens.push(page.nextPageToken);
      fill(members, page.customers.length ? customerTable(page.customers, `Members of ${s.name}, page ${at + 1}`) : notice("info", "No members now."));
      fill(
        pager,
        h("button", { type: "button", disabled: at === 0, onclick: () => { at--; void load(); } }, "Previous"),
        h("span", { class: "page-no" }, `Page ${at + 1}`),
        h("button", { type: "button", disabled: !page.nextPageToken, onclick: () => { at++; void load(); } }, "Next"),
      );
    };
    fill(
      main,
      h("div", { class: "title" }, h("h1", {}, s.name), h("a", { class: "button", href: `#/segments/${s.id}/edit` }, "Edit")),
      h("p", {}, s.description),
      h("dl", { class: "facts" }, h("dt", {}, "Filter"), h("dd", {}, h("code", {}, s.filter)), h("dt", {}, "Members"), h("dd", { id: "member-count" }, String(count.count)), h("dt", {}, "Purpose"), h("dd", {}, named(ConsentPurpose, s.purpose))),
      members,
      pager,
    );
    await load();
  } catch (e) {
    if (stillHere()) fill(main, h("h1", {}, "Segment"), notice("error", explain(problem(e))));
  }
}

export async function segmentForm(main: HTMLElement, id: string | undefined, stillHere: () => boolean): Promise<void> {
  let before: Segment | undefined;
  if (id) {
    try {
      before = await api.segments.getSegment({ id });
    } catch (e) {
      if (stillHere()) fill(main, h("h1", {}, "Edit segment"), notice("error", explain(problem(e))));
      return;
    }
    if (!stillHere()) return;
  }
  const name = h("input", { name: "name", value: before?.name ?? "" });
  const description = h("input", { name: "description", value: before?.description ?? "" });
  const filter = h("textarea", { name: "filter", rows: 3 }, before?.filter ?? "");
  const status = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "edit", novalidate: true },
    field("Name", name, "name"),
    field("Description", description, "description"),
    field("Filter", filter, "filter"),
    status,
    h("div", { class: "actions" }, h("button", { type: "submit" }, before ? "Save" : "Create"), h("a", { href: before ? `#/segments/${before.id}` : "#/segments" }, "Cancel")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    fill(status);
    const segment = { name: name.value.trim(), description: description.value.trim(), filter: filter.value.trim() };
    try {
      let saved: Segment;
      if (before) {
        const paths = (["name", "description", "filter"] as const).filter((k) => segment[k] !== before![k]);
        if (!paths.length) {
          fill(status, notice("info", "Nothing changed."));
          return;
        }
        saved = await api.segments.updateSegment({ segment: { ...segment, id: before.id }, updateMask: { paths }, etag: before.etag });
      } else {
        saved = await api.segments.createSegment({ segment });
      }
      location.hash = `#/segments/${saved.id}`;
    } catch (e) {
      const p = problem(e);
      const rest = showAtFields(form, p);
      if (p.code !== Code.InvalidArgument || rest.length || !p.fields.length) {
        fill(status, notice("error", [explain(p), ...rest].join(" ")));
      }
    }
  });
  fill(main, h("h1", {}, before ? `Edit ${before.name}` : "New segment"), form);
}
