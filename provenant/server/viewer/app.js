// The viewer's entry: login (a one-time link or an API key), then a page per hash route:
//   #/sessions?…  #/sessions/<id>  #/agents  #/evals  #/evals/runs/<id>  #/evals/suites/<id>
import { ApiError, accepts, auth, login } from "./api.js";
import { errorBox, h, replace } from "./dom.js";
import { renderAgents } from "./agents.js";
import { renderRun, renderRuns, renderSuite } from "./evals.js";
import { renderSession } from "./session.js";
import { renderSessions } from "./sessions.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
let current = null; // the AbortController of the page on screen
let notice = "";

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query || "") };
}

function showLogin(message) {
  nav.hidden = true;
  const input = h("input", {
    type: "password",
    id: "api-key",
    name: "api-key",
    autocomplete: "off",
    placeholder: "pk_live_…",
    required: true,
  });
  const status = h("p", { class: "error", role: "alert" }, message || "");
  const form = h(
    "form",
    { class: "login", id: "login-form" },
    h("h1", {}, "Provenant viewer"),
    h("p", {}, "Open the login link that ", h("code", {}, "provenant serve"), " or ", h("code", {}, "provenant view"), " printed, or enter an API key of this server."),
    h("label", { for: "api-key" }, "API key"),
    input,
    h("button", { type: "submit" }, "Log in"),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    try {
      if (!(await accepts(key))) {
        replace(status, "That API key is not valid on this server.");
        return;
      }
      auth.set(key);
      notice = "";
      if (!location.hash.startsWith("#/")) location.hash = "#/sessions";
      route();
    } catch (error) {
      replace(status, error.message);
    }
  });
  replace(main, form);
  input.focus();
}

function markNav(page) {
  for (const link of nav.querySelectorAll("a")) {
    link.classList.toggle("active", link.dataset.page === page);
  }
}

async function route() {
  if (current) current.abort();
  current = new AbortController();
  const signal = current.signal;
  if (!auth.key) {
    showLogin(notice);
    return;
  }
  nav.hidden = false;
  const { parts, params } = parseHash();
  const page = parts[0] || "sessions";
  markNav(page);
  try {
    if (page === "sessions" && parts[1]) await renderSession(main, parts[1], signal);
    else if (page === "sessions") await renderSessions(main, params, signal);
    else if (page === "agents") await renderAgents(main, signal);
    else if (page === "evals" && parts[1] === "runs" && parts[2]) await renderRun(main, parts[2], signal);
    else if (page === "evals" && parts[1] === "suites" && parts[2]) await renderSuite(main, parts[2], signal);
    else if (page === "evals") await renderRuns(main, params, signal);
    else replace(main, h("p", {}, "No such page. "), h("a", { href: "#/sessions" }, "Sessions"));
  } catch (error) {
    if (signal.aborted || (error instanceof ApiError && error.status === 401)) return;
    replace(main, errorBox(error));
  }
}

window.addEventListener("provenant:logout", (event) => {
  notice = event.detail === "Invalid or expired API key" ? "Your API key is no longer valid here; log in again." : String(event.detail || "");
  route();
});
window.addEventListener("hashchange", route);
// Links to a turn (#turn-N) scroll to it instead of changing the page's route.
document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a") : null;
  const href = link ? link.getAttribute("href") || "" : "";
  if (!href.startsWith("#turn-")) return;
  event.preventDefault();
  const target = document.getElementById(href.slice(1));
  if (target) {
    target.scrollIntoView({ behavior: "smooth", block: "start" });
    target.classList.add("flash");
    setTimeout(() => target.classList.remove("flash"), 1200);
  }
});
document.getElementById("logout").addEventListener("click", () => {
  auth.clear();
  notice = "Logged out.";
  route();
});

async function start() {
  if (location.hash.startsWith("#login=")) {
    const token = location.hash.slice("#login=".length);
    // The token leaves the address bar (and history) before anything else happens.
    history.replaceState(null, "", `${location.pathname}#/sessions`);
    try {
      auth.set(await login(token));
    } catch (error) {
      notice = error.message;
    }
  }
  route();
}

start();
