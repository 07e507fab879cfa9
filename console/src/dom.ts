// Small helpers for building the console's markup: elements, formatting and timestamps.
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { Money } from "./gen/crm/v1/customer_pb";

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** An element with attributes (`on*` are listeners, `false`/null are left out) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replaces everything in `el` with `children`. */
export function fill(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** A labelled form control: the label names the input for screen readers and clicks. */
export function field(label: string, control: HTMLElement, name: string): HTMLElement {
  const id = `f-${name.replace(/[^a-z0-9]+/gi, "-")}`;
  control.id = id;
  control.setAttribute("data-field", name);
  control.setAttribute("aria-describedby", `${id}-error`);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    h("p", { class: "field-error", id: `${id}-error`, role: "alert" }),
  );
}

export function time(t: Timestamp | undefined): string {
  if (!t) return "—";
  return timestampDate(t).toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

export function day(t: Timestamp | undefined): string {
  return t ? timestampDate(t).toISOString().slice(0, 10) : "—";
}

/** Money in its currency, from minor units (two decimals; the contract's amounts are minor). */
export function money(m: Money | undefined): string {
  if (!m) return "—";
  return minor(m.amountMinor, m.currencyCode);
}

export function minor(amount: bigint | number, currency: string): string {
  const n = Number(amount) / 100;
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).format(n);
  } catch {
    return `${n.toFixed(2)} ${currency}`;
  }
}

export function percent(x: number | undefined): string {
  return x === undefined ? "—" : `${(x * 100).toFixed(1)}%`;
}

/** An enum value's name as the contract spells it (`AT_RISK`), or "—" when unspecified. */
export function named(e: Record<number, string>, value: number): string {
  const name = e[value] ?? String(value);
  return value === 0 || name.endsWith("_UNSPECIFIED") ? "—" : name;
}

/** A status line users and screen readers both notice. */
export function notice(kind: "error" | "info" | "ok", text: string): HTMLElement {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}
