// The console's shell: the API key, the navigation and the page for the address's fragment
// (`#/customers/ID`); every page is a function that fills <main> and may start calls.
import "./style.css";
import { api, apiKey, Code, problem, setApiKey } from "./api";
import { customersPage } from "./pages/customers";
import { customerPage } from "./pages/customer";
import { customerForm } from "./pages/customer-form";
import { dashboardPage } from "./pages/dashboard";
import { segmentsPage, segmentPage, segmentForm } from "./pages/segments";
import { operationsPage } from "./pages/operations";

const main = document.getElementById("main") as HTMLElement;
const keyForm = document.getElementById("key-form") as HTMLFormElement;
const keyInput = document.getElementById("api-key") as HTMLInputElement;
const opsLink = document.getElementById("nav-operations") as HTMLElement;

/** Whether this key may use the admin pages: asked of the server, never guessed. */
let admin = false;

async function learnRole(): Promise<void> {
  try {
    await api.admin.listApiKeys({});
    admin = true;
  } catch (e) {
    // PERMISSION_DENIED: a reader or writer key; UNAUTHENTICATED: no valid key.
    admin = false;
    if (problem(e).code !== Code.PermissionDenied && problem(e).code !== Code.Unauthenticated) {
      console.warn("role check failed", e);
    }
  }
  opsLink.hidden = !admin;
}

/** One page at a time: a page started for an older address stops drawing. */
let generation = 0;

async function route(): Promise<void> {
  const my = ++generation;
  const path = location.hash.replace(/^#\/?/, "") || "customers";
  const [section, id, action] = path.split("/").map(decodeURIComponent);
  for (const a of document.querySelectorAll<HTMLAnchorElement>("[data-nav]")) {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  main.replaceChildren();
  main.focus({ preventScroll: true });
  const stillHere = () => my === generation;
  switch (section) {
    case "customers":
      if (id === "new") return customerForm(main, undefined, stillHere);
      if (id && action === "edit") return customerForm(main, id, stillHere);
      if (id) return customerPage(main, id, stillHere);
      return customersPage(main, stillHere);
    case "dashboard":
      return dashboardPage(main, stillHere);
    case "segments":
      if (id === "new") return segmentForm(main, undefined, stillHere);
      if (id && action === "edit") return segmentForm(main, id, stillHere);
      if (id) return segmentPage(main, id, stillHere);
      return segmentsPage(main, stillHere);
    case "operations":
      return operationsPage(main, admin, stillHere);
    default:
      main.textContent = "No such page.";
  }
}

keyForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  setApiKey(keyInput.value.trim());
  keyInput.value = "";
  keyInput.placeholder = apiKey() ? "a key is set" : "none (loopback)";
  await learnRole();
  await route();
});

keyInput.placeholder = apiKey() ? "a key is set" : "none (loopback)";
window.addEventListener("hashchange", () => void route());
void learnRole().then(route);
