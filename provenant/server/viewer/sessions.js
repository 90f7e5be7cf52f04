// The sessions list: filters and sort in the address (shareable), server-side paging,
// and a refresh every few seconds so new and running sessions show without a reload.
import { get } from "./api.js";
import { duration, h, num, replace, sessionLink, statusBadge, usd, when } from "./dom.js";

const PAGE_SIZE = 50;
const REFRESH_MS = 2500;
const COLUMNS = [
  ["startedAt", "Started"],
  ["agent", "Agent"],
  ["userId", "User"],
  ["externalId", "External id"],
  ["status", "Status"],
  ["turns", "Turns"],
  ["inputTokens", "In tokens"],
  ["outputTokens", "Out tokens"],
  ["duration", "Duration"],
];

function isoFromLocal(value) {
  if (!value) return "";
  const d = new Date(value);
  return isNaN(d) ? "" : d.toISOString();
}

function localFromIso(value) {
  if (!value) return "";
  const d = new Date(value);
  if (isNaN(d)) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function hashFor(params) {
  const clean = new URLSearchParams();
  for (const [k, v] of params) if (v) clean.set(k, v);
  const text = clean.toString();
  return `#/sessions${text ? `?${text}` : ""}`;
}

function query(params) {
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  return {
    q: params.get("q"),
    agentId: params.get("agentId"),
    status: params.get("status"),
    userId: params.get("userId"),
    startedAfter: params.get("from"),
    startedBefore: params.get("to"),
    sort: params.get("sort") || "startedAt",
    order: params.get("order") || "desc",
    limit: PAGE_SIZE,
    offset: (page - 1) * PAGE_SIZE,
    total: "true",
  };
}

function filtersForm(params, agents) {
  const field = (label, control) => h("label", {}, h("span", {}, label), control);
  const q = h("input", { type: "search", name: "q", id: "search", placeholder: "text in any turn", value: params.get("q") || "" });
  const agent = h("select", { name: "agentId", id: "filter-agent" }, h("option", { value: "" }, "any"));
  for (const a of agents) agent.append(h("option", { value: a.id, selected: a.id === params.get("agentId") }, a.name));
  const status = h("select", { name: "status", id: "filter-status" }, h("option", { value: "" }, "any"));
  for (const s of ["ACTIVE", "COMPLETED", "FAILED", "CANCELLED"]) status.append(h("option", { value: s, selected: s === params.get("status") }, s));
  const user = h("input", { type: "text", name: "userId", id: "filter-user", value: params.get("userId") || "" });
  const from = h("input", { type: "datetime-local", name: "from", id: "filter-from", value: localFromIso(params.get("from")) });
  const to = h("input", { type: "datetime-local", name: "to", id: "filter-to", value: localFromIso(params.get("to")) });
  const form = h(
    "form",
    { class: "filters", id: "filters" },
    field("Search", q),
    field("Agent", agent),
    field("Status", status),
    field("User", user),
    field("Started from", from),
    field("to", to),
    h("button", { type: "submit" }, "Apply"),
    h("a", { href: "#/sessions", class: "reset" }, "Reset"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    next.set("q", q.value.trim());
    next.set("agentId", agent.value);
    next.set("status", status.value);
    next.set("userId", user.value.trim());
    next.set("from", isoFromLocal(from.value));
    next.set("to", isoFromLocal(to.value));
    next.set("sort", params.get("sort") || "");
    next.set("order", params.get("order") || "");
    location.hash = hashFor(next);
  });
  for (const control of [agent, status]) control.addEventListener("change", () => form.requestSubmit());
  return form;
}

function header(params, showCost) {
  const sort = params.get("sort") || "startedAt";
  const order = params.get("order") || "desc";
  const cells = COLUMNS.map(([key, label]) => {
    const next = new URLSearchParams(params);
    next.set("sort", key);
    next.set("order", key === sort && order === "desc" ? "asc" : "desc");
    next.delete("page");
    const mark = key === sort ? (order === "desc" ? " ▼" : " ▲") : "";
    return h("th", { "aria-sort": key === sort ? (order === "desc" ? "descending" : "ascending") : null }, h("a", { href: hashFor(next), class: "sort", "data-sort": key }, label + mark));
  });
  if (showCost) cells.push(h("th", {}, "Cost"));
  return h("thead", {}, h("tr", {}, cells));
}

function row(s, showCost) {
  const cells = [
    h("td", {}, sessionLink(s.id, when(s.startedAt))),
    h("td", { class: "agent" }, s.agent ? s.agent.name : s.agentId),
    h("td", {}, s.userId || "–"),
    h("td", { class: "mono" }, s.externalId || "–"),
    h("td", {}, statusBadge(s.status)),
    h("td", { class: "num turns" }, num(s._count ? s._count.turns : undefined)),
    h("td", { class: "num" }, num(s._sum ? s._sum.inputTokens : undefined)),
    h("td", { class: "num" }, num(s._sum ? s._sum.outputTokens : undefined)),
    h("td", { class: "num" }, duration(s)),
  ];
  if (showCost) cells.push(h("td", { class: "num" }, usd(s.costUsd)));
  return h("tr", { "data-session-id": s.id }, cells);
}

function pager(params, total, count, capped) {
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  const first = total === 0 ? 0 : (page - 1) * PAGE_SIZE + 1;
  const last = (page - 1) * PAGE_SIZE + count;
  const link = (p, label, enabled) => {
    const next = new URLSearchParams(params);
    next.set("page", String(p));
    return enabled ? h("a", { href: hashFor(next), class: "page" }, label) : h("span", { class: "page disabled" }, label);
  };
  return h(
    "div",
    { class: "pager" },
    link(page - 1, "‹ Newer", page > 1),
    h("span", { id: "count" }, `${num(first)}–${num(last)} of ${num(total)}${capped ? "+" : ""}`),
    link(page + 1, "Older ›", last < total || (capped && count === PAGE_SIZE)),
  );
}

export async function renderSessions(main, params, signal) {
  const agents = (await get("/api/agents", {}, signal)).body;
  const table = h("table", { class: "sessions", id: "sessions" });
  const foot = h("div", {});
  const live = h("span", { class: "live muted" });
  replace(
    main,
    h("div", { class: "title" }, h("h1", {}, "Sessions"), live),
    filtersForm(params, agents),
    table,
    foot,
  );
  let shown = "";
  const load = async () => {
    const { body, headers } = await get("/api/sessions", query(params), signal);
    const total = parseInt(headers.get("X-Total-Count") || String(body.length), 10);
    const capped = headers.get("X-Total-Count-Capped") === "true";
    const key = JSON.stringify([body, total]);
    if (key !== shown) {
      shown = key;
      const showCost = body.some((s) => typeof s.costUsd === "number");
      replace(table, header(params, showCost), h("tbody", {}, body.map((s) => row(s, showCost))));
      if (!body.length) table.append(h("tbody", {}, h("tr", {}, h("td", { colspan: COLUMNS.length, class: "empty" }, "No sessions match."))));
      replace(foot, pager(params, total, body.length, capped));
    }
    replace(live, `updated ${new Date().toLocaleTimeString()}`);
  };
  await load();
  const timer = setInterval(() => {
    if (!document.hidden) load().catch(() => replace(live, "not updating (server unreachable)"));
  }, REFRESH_MS);
  signal.addEventListener("abort", () => clearInterval(timer));
}

