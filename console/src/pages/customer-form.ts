// Create and edit a customer. Errors the server names by field are shown at the field; an edit
// carries the etag it read, so a save over someone else's change is refused (ABORTED) and the
// user is told instead of overwriting it.
import { api, Code, explain, problem, type Problem } from "../api";
import { field, fill, h, notice } from "../dom";
import type { Customer } from "../gen/crm/v1/customer_pb";

interface Form {
  kind: "person" | "organization";
  given: string;
  family: string;
  legal: string;
  email: string;
  phone: string;
  owner: string;
  source: string;
  tags: string;
  externalId: string;
}

function read(c: Customer | undefined): Form {
  const person = c?.party.case === "person" ? c.party.value : undefined;
  const org = c?.party.case === "organization" ? c.party.value : undefined;
  return {
    kind: org ? "organization" : "person",
    given: person?.givenName ?? "",
    family: person?.familyName ?? "",
    legal: org?.legalName ?? "",
    email: c?.emails[0]?.address ?? "",
    phone: c?.phones[0]?.number ?? "",
    owner: c?.owner ?? "",
    source: c?.source ?? "",
    tags: c?.tags.join(", ") ?? "",
    externalId: c?.externalId ?? "",
  };
}

/** The customer the form describes, and the update mask of what changed since `before`. */
function build(f: Form, before: Customer | undefined) {
  const old = read(before);
  const customer = {
    party:
      f.kind === "person"
        ? { case: "person" as const, value: { givenName: f.given, familyName: f.family } }
        : { case: "organization" as const, value: { legalName: f.legal } },
    // The first email and phone are the ones this form edits; any others are kept.
    emails: f.email ? [{ address: f.email }, ...(before?.emails.slice(1) ?? [])] : (before?.emails.slice(1) ?? []),
    phones: f.phone ? [{ number: f.phone }, ...(before?.phones.slice(1) ?? [])] : (before?.phones.slice(1) ?? []),
    owner: f.owner,
    source: f.source,
    tags: f.tags.split(",").map((t) => t.trim()).filter(Boolean),
    externalId: f.externalId,
  };
  const paths: string[] = [];
  if (f.kind === "person") {
    if (f.given !== old.given) paths.push("person.given_name");
    if (f.family !== old.family) paths.push("person.family_name");
  } else if (f.legal !== old.legal) {
    paths.push("organization.legal_name");
  }
  if (f.email !== old.email) paths.push("emails");
  if (f.phone !== old.phone) paths.push("phones");
  if (f.owner !== old.owner) paths.push("owner");
  if (f.source !== old.source) paths.push("source");
  if (f.tags.replace(/\s/g, "") !== old.tags.replace(/\s/g, "")) paths.push("tags");
  if (f.externalId !== old.externalId) paths.push("external_id");
  return { customer, paths };
}

/** Puts each violation under its input (`customer.emails[0].address` under the email box);
 *  returns the ones no input shows. */
export function showAtFields(form: HTMLElement, p: Problem): string[] {
  for (const el of form.querySelectorAll<HTMLElement>(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll<HTMLElement>("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const unplaced: string[] = [];
  for (const v of p.fields) {
    const path = v.field.replace(/^(customer|segment)\./, "").replace(/\[\d+\].*$/, "");
    const input =
      form.querySelector<HTMLElement>(`[data-field="${CSS.escape(path)}"]`) ??
      form.querySelector<HTMLElement>(`[data-field="${CSS.escape(path.split(".")[0])}"]`);
    const error = input ? document.getElementById(`${input.id}-error`) : null;
    if (input && error) {
      input.setAttribute("aria-invalid", "true");
      error.textContent = error.textContent ? `${error.textContent}; ${v.description}` : v.description;
    } else {
      unplaced.push(`${v.field}: ${v.description}`);
    }
  }
  return unplaced;
}

export async function customerForm(main: HTMLElement, id: string | undefined, stillHere: () => boolean): Promise<void> {
  let before: Customer | undefined;
  if (id) {
    try {
      before = await api.customers.getCustomer({ id });
    } catch (e) {
      if (stillHere()) fill(main, h("h1", {}, "Edit customer"), notice("error", explain(problem(e))));
      return;
    }
    if (!stillHere()) return;
  }
  const f = read(before);
  const input = (name: string, value: string, type = "text") => h("input", { name, type, value });
  const kind = h(
    "select",
    { name: "kind", disabled: Boolean(before) },
    h("option", { value: "person", selected: f.kind === "person" }, "Person"),
    h("option", { value: "organization", selected: f.kind === "organization" }, "Organization"),
  );
  const personFields = h(
    "div",
    { class: "row" },
    field("Given name", input("given", f.given), "person.given_name"),
    field("Family name", input("family", f.family), "person.family_name"),
  );
  const orgFields = h("div", { class: "row" }, field("Legal name", input("legal", f.legal), "organization.legal_name"));
  const showParty = () => {
    personFields.hidden = kind.value !== "person";
    orgFields.hidden = kind.value !== "organization";
  };
  kind.addEventListener("change", showParty);
  const status = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "edit", novalidate: true },
    field("Kind", kind, "kind"),
    personFields,
    orgFields,
    h(
      "div",
      { class: "row" },
      field("Email", input("email", f.email, "email"), "emails"),
      field("Phone", input("phone", f.phone, "tel"), "phones"),
    ),
    h("div", { class: "row" }, field("Owner", input("owner", f.owner), "owner"), field("Source", input("source", f.source), "source")),
    h(
      "div",
      { class: "row" },
      field("Tags (comma separated)", input("tags", f.tags), "tags"),
      field("External id", input("externalId", f.externalId), "external_id"),
    ),
    status,
    h("div", { class: "actions" }, h("button", { type: "submit" }, before ? "Save" : "Create"), h("a", { href: before ? `#/customers/${before.id}` : "#/customers" }, "Cancel")),
  );
  showParty();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form)) as Record<string, string>;
    const now: Form = { ...read(undefined), ...data, kind: kind.value as Form["kind"] };
    const { customer, paths } = build(now, before);
    fill(status);
    try {
      let saved: Customer;
      if (before) {
        if (!paths.length) {
          fill(status, notice("info", "Nothing changed."));
          return;
        }
        saved = await api.customers.updateCustomer({
          customer: { ...customer, id: before.id },
          updateMask: { paths },
          etag: before.etag,
        });
      } else {
        saved = await api.customers.createCustomer({ customer, requestId: crypto.randomUUID() });
      }
      location.hash = `#/customers/${saved.id}`;
    } catch (e) {
      const p = problem(e);
      const rest = showAtFields(form, p);
      if (p.code === Code.Aborted) {
        fill(status, notice("error", explain(p)), h("button", { type: "button", onclick: () => customerForm(main, id, stillHere) }, "Reload"));
      } else if (p.code !== Code.InvalidArgument || rest.length || !p.fields.length) {
        fill(status, notice("error", [explain(p), ...rest].join(" ")));
      }
    }
  });
  fill(main, h("h1", {}, before ? `Edit ${before.displayName}` : "New customer"), form);
}
