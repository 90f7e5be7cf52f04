// Agents with their session counts and token totals (GET /api/stats/agents).
import { get } from "./api.js";
import { h, num, replace, statusBadge, when } from "./dom.js";

export async function renderAgents(main, signal) {
  const agents = (await get("/api/stats/agents", {}, signal)).body;
  const rows = agents.map((a) => {
    const s = a.stats;
    const sessions = `#/sessions?agentId=${encodeURIComponent(a.id)}`;
    return h(
      "tr",
      { "data-agent-id": a.id },
      h("td", {}, h("a", { href: sessions }, a.name)),
      h("td", {}, statusBadge(a.status)),
      h("td", { class: "num" }, num(s.sessions)),
      h("td", { class: "num" }, num(s.activeSessions)),
      h("td", { class: "num" }, s.failedSessions ? h("a", { href: `${sessions}&status=FAILED` }, num(s.failedSessions)) : "0"),
      h("td", { class: "num" }, num(s.turns)),
      h("td", { class: "num" }, num(s.inputTokens)),
      h("td", { class: "num" }, num(s.outputTokens)),
      h("td", {}, when(s.lastSessionAt)),
    );
  });
  replace(
    main,
    h("div", { class: "title" }, h("h1", {}, "Agents")),
    h(
      "table",
      { class: "agents", id: "agents" },
      h("thead", {}, h("tr", {}, ["Agent", "Status", "Sessions", "Active", "Failed", "Turns", "In tokens", "Out tokens", "Last session"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 9, class: "empty" }, "No agents yet."))),
    ),
  );
}
