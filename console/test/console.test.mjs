// The console in a real browser (Debian's Chromium, driven by playwright-core) against a real
// crm-server with a seeded portfolio: a support lead, an analyst and an operator at work.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import http from "node:http";
import { chromium } from "playwright-core";
import { REPO, connect, errorDetails, seed, startServer } from "./server.mjs";

const SHOTS = path.join(REPO, "console", "screenshots");
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

let server;
let crm;
let seeded;
let browser;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  server = await startServer({ keys: true });
  crm = connect(server.addr, { apiKey: server.keys.admin });
  seeded = await seed(crm);
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: FLAGS });
});

after(async () => {
  await browser?.close();
  crm?.close();
  if (server) assert.equal(await server.stop(), 0, server.log());
});

/** A new tab on the console, with `key` entered in the key box (as a user does, once). */
async function tab(key, { width = 1280, height = 900 } = {}) {
  const page = await browser.newPage({ viewport: { width, height } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  page.errors = errors;
  await page.goto(server.url);
  if (key) {
    await page.getByLabel("API key").fill(key);
    await page.getByRole("button", { name: "Use key" }).click();
  }
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

test("a support lead filters customers, and a filter the server cannot read is explained under the box", async () => {
  const page = await tab(server.keys.writer);
  await page.getByLabel("Filter").fill('tags:"vip"');
  await page.getByRole("button", { name: "Apply" }).click();
  const rows = page.locator("table.customers tbody tr");
  // Every fourth of the 24 seeded customers, and Ada.
  await assert.doesNotReject(rows.first().waitFor());
  await page.waitForFunction(() => document.querySelector("table.customers caption")?.textContent?.includes('tags:"vip"'));
  assert.equal(await rows.count(), 7);
  await shot(page, "customers");

  await page.getByLabel("Filter").fill('lifecycle_stage = "NOT_A_STAGE"');
  await page.getByRole("button", { name: "Apply" }).click();
  const error = page.locator("#filter-error");
  await error.filter({ hasText: /\S/ }).waitFor();
  assert.match(await error.innerText(), /filter/);
  assert.match(await error.innerText(), /NOT_A_STAGE/);

  // Search as you type.
  await page.getByLabel("Search").fill("ada");
  await page.locator("table.customers caption", { hasText: "Search results for ada" }).waitFor();
  assert.equal(await page.locator("table.customers tbody tr").count(), 1);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("she opens a customer, sees her ticket and feedback, and pages the timeline by kind", async () => {
  const page = await tab(server.keys.reader);
  await page.getByLabel("Search").fill("Ada Story");
  await page.getByRole("link", { name: "Ada Story" }).click();
  await page.getByRole("heading", { name: "Ada Story", level: 1 }).waitFor();
  await page.getByRole("region", { name: "Tickets" }).getByText("Invoice address is wrong").waitFor();
  assert.match(await page.getByRole("region", { name: "Feedback" }).innerText(), /9\.0 over 1/);
  // Newest first: the ticket opened last, then her survey answer, then the notes.
  const items = page.locator("ol.timeline li");
  await items.first().filter({ hasText: "Invoice address is wrong" }).waitFor();
  assert.match(await items.nth(1).innerText(), /NPS survey: 9/);
  await shot(page, "customer");

  await page.getByLabel("Kind", { exact: true }).selectOption({ label: "interaction" });
  await items.first().filter({ hasText: "Note 25" }).waitFor();
  assert.equal(await items.count(), 10);
  await page.getByRole("button", { name: "Older" }).click();
  await items.first().filter({ hasText: "Note 15" }).waitFor();
  await page.getByRole("button", { name: "Older" }).click();
  await items.first().filter({ hasText: "Note 05" }).waitFor();
  assert.equal(await items.count(), 5);
  assert.equal(await page.getByRole("button", { name: "Older" }).isDisabled(), true);
  await page.getByRole("button", { name: "Newer" }).click();
  await items.first().filter({ hasText: "Note 15" }).waitFor();
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("two tabs edit one customer: the later save is told someone else changed it", async () => {
  const id = seeded.ids[1];
  const first = await tab(server.keys.writer);
  const second = await tab(server.keys.writer);
  for (const page of [first, second]) {
    await page.goto(`${server.url}#/customers/${id}/edit`);
    await page.getByLabel("Owner").waitFor();
  }
  await second.getByLabel("Owner").fill("second-tab");
  await second.getByRole("button", { name: "Save" }).click();
  await second.getByRole("heading", { level: 1, name: "Customer 01" }).waitFor();

  await first.getByLabel("Owner").fill("first-tab");
  await first.getByRole("button", { name: "Save" }).click();
  const conflict = first.locator(".notice.error");
  await conflict.waitFor();
  assert.match(await conflict.innerText(), /Someone else changed this/);
  await shot(first, "edit-conflict");
  const stored = await crm.customers.getCustomer({ id });
  assert.equal(stored.owner, "second-tab");

  // A field the server refuses is shown at the field, and nothing is written.
  await first.getByRole("button", { name: "Reload" }).click();
  await first.waitForFunction(() => (document.querySelector('[name="owner"]')?.value ?? "") === "second-tab");
  await first.getByLabel("Email").fill("not an email");
  await first.getByRole("button", { name: "Save" }).click();
  const at = first.locator("#f-emails-error");
  await at.filter({ hasText: /\S/ }).waitFor();
  assert.equal(await first.getByLabel("Email").getAttribute("aria-invalid"), "true");
  assert.equal((await crm.customers.getCustomer({ id })).emails[0].address, "customer1@example.com");
  assert.deepEqual(first.errors, []);
  await first.close();
  await second.close();
});

test("an analyst's dashboard shows the report RPC's funnel, number for number", async () => {
  const page = await tab(server.keys.reader);
  await page.goto(`${server.url}#/dashboard`);
  const rows = page.locator("table.funnel tbody tr");
  await rows.first().waitFor();
  await page.locator("#chart-funnel svg").waitFor();
  await page.locator("#chart-cohorts svg").waitFor();
  const shown = await rows.evaluateAll((trs) => trs.map((tr) => [tr.cells[0].textContent, Number(tr.cells[1].textContent)]));
  const report = await crm.reports.getPortfolioReport({ currency_code: "EUR", period: "PERIOD_QUARTER" });
  const asked = report.funnel.map((s) => [s.stage, Number(s.reached)]);
  assert.deepEqual(shown, asked);
  assert.ok(asked[0][1] >= 25, JSON.stringify(asked));
  await shot(page, "dashboard");

  // At phone width the dashboard still reads, one column.
  await page.setViewportSize({ width: 390, height: 844 });
  // The charts redraw after the resize lands; the old, wide drawing is there until then.
  await page.waitForFunction(() =>
    [...document.querySelectorAll(".chart svg")].every((svg) => svg.getBoundingClientRect().width <= window.innerWidth),
  );
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone`);
  await shot(page, "dashboard-phone");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("a segment is created from the filter language and counts its members", async () => {
  const page = await tab(server.keys.writer);
  await page.goto(`${server.url}#/segments/new`);
  await page.getByLabel("Name").fill("VIPs owned by kim");
  await page.getByLabel("Filter").fill('tags:"vip" AND owner = "ki');
  await page.getByRole("button", { name: "Create" }).click();
  // A filter that does not parse: said at the filter, nothing made.
  await page.locator("#f-filter-error").filter({ hasText: /\S/ }).waitFor();
  assert.equal((await crm.segments.listSegments({})).segments.length, 0);

  await page.getByLabel("Filter").fill('tags:"vip" AND owner = "kim"');
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("heading", { level: 1, name: "VIPs owned by kim" }).waitFor();
  const [segment] = (await crm.segments.listSegments({})).segments;
  const count = await crm.segments.countSegmentMembers({ id: segment.id });
  assert.equal(await page.locator("#member-count").innerText(), String(count.count));
  assert.ok(Number(count.count) >= 2);
  await page.goto(`${server.url}#/segments`);
  await page.locator("table.segments tbody tr td.num", { hasText: String(count.count) }).waitFor();
  await shot(page, "segments");
  await page.close();
});

test("a wrong key is told plainly, and a reader key reaches no admin page or call", async () => {
  const wrong = await tab("crm_not-a-real-key");
  await wrong.locator(".notice.error").waitFor();
  assert.match(await wrong.locator(".notice.error").innerText(), /did not accept the API key/);
  await shot(wrong, "wrong-key");
  await wrong.close();

  const reader = await tab(server.keys.reader);
  await reader.locator("table.customers").waitFor();
  assert.equal(await reader.getByRole("link", { name: "Operations" }).count(), 0);
  await reader.goto(`${server.url}#/operations`);
  await reader.locator(".notice.error", { hasText: "admin role" }).waitFor();
  assert.equal(await reader.locator("#metrics").count(), 0);
  await reader.close();
  const asReader = connect(server.addr, { apiKey: server.keys.reader });
  await assert.rejects(asReader.admin.getServerMetrics({}), (e) => errorDetails(e).codeName === "PERMISSION_DENIED");
  asReader.close();
});

test("an operator verifies the store and watches live calls", async () => {
  const page = await tab(server.keys.admin);
  await page.getByRole("link", { name: "Operations" }).click();
  await page.getByRole("button", { name: "Verify the store" }).click();
  await page.locator(".notice.ok", { hasText: "Clean" }).waitFor();
  await page.locator("table caption", { hasText: "API keys" }).waitFor();
  assert.equal(await page.locator("table", { hasText: "console-reader" }).count(), 1);
  // Two readings make a rate: the chart appears on the second.
  await page.locator("#chart-metrics svg").waitFor({ timeout: 15000 });
  assert.match(await page.locator("#metrics").innerText(), /Calls so far: [1-9]/);
  await shot(page, "operations");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("the console is served on its own port only when on, with guards on the page", async () => {
  const page = await fetch(server.url);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type"), /text\/html/);
  assert.match(page.headers.get("content-security-policy"), /default-src 'self'/);
  const off = await startServer({ args: ["--console", "off"] });
  try {
    const refused = await fetch(off.url);
    assert.equal(refused.status, 404);
    assert.doesNotMatch(await refused.text(), /<html/i);
  } finally {
    assert.equal(await off.stop(), 0);
  }
});

/** A raw HTTP/1.1 request with the Host and headers a browser would send. */
function request(addr, { method = "GET", path: at = "/", headers = {} }) {
  const [host, port] = addr.split(":");
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path: at, headers }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("error", reject);
    req.end(method === "POST" ? Buffer.alloc(5) : undefined);
  });
}

test("a server that checks no keys answers no page reached by another site's name (DNS rebinding)", async () => {
  const open = await startServer();
  try {
    const port = open.addr.split(":")[1];
    assert.equal((await request(open.addr, { headers: { host: `127.0.0.1:${port}` } })).status, 200);
    assert.equal((await request(open.addr, { headers: { host: `localhost:${port}` } })).status, 200);
    const page = await request(open.addr, { headers: { host: `rebound.example:${port}` } });
    assert.equal(page.status, 403);
    assert.match(page.body, /localhost/);
    // A call from such a page (gRPC-Web, with its Origin) is refused before it reaches a service.
    const call = await request(open.addr, {
      method: "POST",
      path: "/crm.v1.CustomerService/ListCustomers",
      headers: { host: `rebound.example:${port}`, origin: `http://rebound.example:${port}`, "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
    });
    assert.equal(call.status, 403);
  } finally {
    assert.equal(await open.stop(), 0);
  }
});
