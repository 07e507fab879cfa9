// The real crm-server for the console's browser tests: built by cargo (or $CRM_SERVER_BIN),
// with API keys made by `crm-server keys`, on 127.0.0.1:0, and a seeded portfolio.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, "..", "..");
const require = createRequire(import.meta.url);
/** The Node client (clients/node), for seeding and for asking the server what the page shows. */
export const { connect, errorDetails } = require(path.join(REPO, "clients", "node"));

/** The crm-server binary: built by cargo (any CARGO_TARGET_DIR), or $CRM_SERVER_BIN. */
const { serverBinary } = require(path.join(REPO, "clients", "node", "test", "server.js"));

/** Makes a key in `data` before the server starts: its secret, printed once. */
function makeKey(data, name, role) {
  return execFileSync(serverBinary(), ["--data-dir", data, "keys", "--create", "create", "--name", name, "--role", role], { encoding: "utf8" }).trim();
}

/** Starts a server with `args`; with `keys`, authentication is required and admin, writer and
 *  reader keys exist. */
export async function startServer({ args = [], keys = false } = {}) {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), "crm-console-"));
  const secrets = keys
    ? { admin: makeKey(data, "console-admin", "admin"), writer: makeKey(data, "console-writer", "writer"), reader: makeKey(data, "console-reader", "reader") }
    : {};
  const auth = keys ? ["--auth", "required"] : [];
  const child = spawn(serverBinary(), ["--listen", "127.0.0.1:0", "--data-dir", data, ...auth, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`crm-server did not start:\n${log}`)), 30000);
    child.stderr.on("data", (chunk) => {
      log += chunk;
      const found = /listening on ([0-9.]+:[0-9]+)/.exec(log);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`crm-server exited ${code}:\n${log}`));
    });
  });
  child.removeAllListeners("exit");
  return {
    addr,
    url: `http://${addr}/`,
    keys: secrets,
    log: () => log,
    async stop() {
      const exited = new Promise((resolve) => child.on("exit", resolve));
      child.kill("SIGTERM");
      const code = await exited;
      fs.rmSync(data, { recursive: true, force: true });
      return code;
    },
  };
}

const DAY = 86400;
const ts = (seconds) => ({ seconds: String(Math.floor(seconds)), nanos: 0 });

/** A portfolio worth looking at: 24 customers over a year (every fourth tagged vip), purchases
 *  in EUR across months, and one customer, Ada Story, with a long timeline. Returns their ids. */
export async function seed(crm) {
  const now = Date.now() / 1000;
  const ids = [];
  for (let i = 0; i < 24; i++) {
    const c = await crm.customers.createCustomer({
      customer: {
        person: { given_name: `Customer`, family_name: String(i).padStart(2, "0") },
        emails: [{ address: `customer${i}@example.com` }],
        tags: i % 4 === 0 ? ["vip"] : ["retail"],
        owner: i % 2 ? "sam" : "kim",
        address: { country: "de" },
      },
      request_id: `seed-${i}`,
    });
    ids.push(c.id);
    // Two thirds buy: the first purchase 30..330 days ago, then more every month for some.
    if (i % 3 !== 2) {
      const first = now - (30 + (i * 13) % 300) * DAY;
      const purchases = 1 + (i % 5);
      for (let k = 0; k < purchases; k++) {
        const at = Math.min(first + k * 30 * DAY, now - DAY);
        await crm.timeline.recordPurchase({
          customer_id: c.id,
          purchase: { order_ref: `o-${i}-${k}`, amount: { currency_code: "EUR", amount_minor: String(1000 * (1 + (i % 7)) + k * 250) } },
          occurred_at: ts(at),
          request_id: `seed-p-${i}-${k}`,
        });
      }
    }
  }
  const ada = await crm.customers.createCustomer({
    customer: { person: { given_name: "Ada", family_name: "Story" }, emails: [{ address: "ada@example.com" }], tags: ["vip"], owner: "kim" },
    request_id: "seed-ada",
  });
  for (let k = 0; k < 25; k++) {
    await crm.timeline.recordInteraction({
      customer_id: ada.id,
      interaction: { kind: "NOTE", direction: "OUTBOUND", subject: `Note ${String(k + 1).padStart(2, "0")}`, channel: "console-test" },
      occurred_at: ts(now - (30 - k) * DAY),
      request_id: `seed-ada-${k}`,
    });
  }
  // Her feedback and her support ticket, newer than the notes.
  await crm.feedback.recordSurveyResponse({
    customer_id: ada.id,
    response: { kind: "NPS", score: 9, comment: "Quick answers", channel: "email" },
    occurred_at: ts(now - 2 * DAY),
    request_id: "seed-ada-nps",
  });
  await crm.support.createTicket({
    ticket: { customer_id: ada.id, subject: "Invoice address is wrong", channel: "email", priority: "PRIORITY_HIGH" },
    request_id: "seed-ada-ticket",
  });
  return { ids, ada: ada.id };
}
