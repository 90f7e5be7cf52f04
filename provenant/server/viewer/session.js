// One session: its facts, metadata and links, the span tree, the latency timeline and
// the conversation; an ACTIVE session follows the server's event stream live.
import { follow, get } from "./api.js";
import { timeline } from "./charts.js";
import { contentText, decoded, duration, h, ms, num, pretty, replace, sessionLink, statusBadge, usd, when } from "./dom.js";

function fact(label, value) {
  return [h("dt", {}, label), h("dd", {}, value)];
}

function metaOf(turn) {
  const m = decoded(turn.metadata);
  return m && typeof m === "object" && !Array.isArray(m) ? m : {};
}

function callsOf(turn) {
  const calls = decoded(turn.toolCalls);
  return Array.isArray(calls) ? calls : [];
}

function errorText(error) {
  if (!error) return "";
  if (typeof error === "string") return error;
  if (typeof error === "object") return [error.type, error.message].filter(Boolean).join(": ") || JSON.stringify(error);
  return String(error);
}

function figures(turn, meta) {
  const parts = [];
  if (meta.model) parts.push(["model", meta.model]);
  if (meta.stopReason) parts.push(["stop", meta.stopReason]);
  if (typeof turn.latencyMs === "number") parts.push(["latency", ms(turn.latencyMs)]);
  if (typeof meta.timeToFirstTokenMs === "number") parts.push(["first token", ms(meta.timeToFirstTokenMs)]);
  if (typeof turn.inputTokens === "number" || typeof turn.outputTokens === "number") {
    parts.push(["tokens", `${num(turn.inputTokens ?? 0)} in / ${num(turn.outputTokens ?? 0)} out`]);
  }
  if (meta.cacheReadTokens) parts.push(["cache read", num(meta.cacheReadTokens)]);
  if (meta.cacheCreationTokens) parts.push(["cache write", num(meta.cacheCreationTokens)]);
  if (meta.reasoningTokens) parts.push(["reasoning", num(meta.reasoningTokens)]);
  if (typeof meta.costUsd === "number") parts.push(["cost", usd(meta.costUsd)]);
  if (meta.stream) parts.push(["", "streamed"]);
  return h("ul", { class: "figures" }, parts.map(([k, v]) => h("li", {}, k ? h("span", { class: "k" }, k) : null, " ", v)));
}

/** Which turn answers which tool call: by toolCallId, else the latest call of that name. */
function linkTools(turns) {
  const callTurn = new Map(); // call id -> turn index
  const answers = new Map(); // call id -> answering turn index
  const answered = new Map(); // turn index -> {index, call}
  const open = [];
  turns.forEach((turn, index) => {
    for (const call of callsOf(turn)) {
      if (call && call.id) callTurn.set(call.id, index);
      open.push({ index, call });
    }
    if (turn.role !== "TOOL") return;
    const meta = metaOf(turn);
    let match = null;
    if (meta.toolCallId) match = open.find((o) => o.call && o.call.id === meta.toolCallId);
    if (!match && meta.toolName) match = [...open].reverse().find((o) => o.call && o.call.name === meta.toolName && !answers.has(o.call.id));
    if (match) {
      answered.set(index, match);
      if (match.call.id) answers.set(match.call.id, index);
    }
  });
  return { callTurn, answers, answered };
}

function toolCall(call, answerIndex) {
  const args = call.input !== undefined ? call.input : call.arguments;
  return h(
    "div",
    { class: "toolcall" },
    h("div", { class: "toolcall-head" }, h("span", { class: "tool-name" }, call.name || "(unnamed tool)"), call.id ? h("code", {}, call.id) : null, call.type ? h("span", { class: "badge" }, call.type) : null,
      answerIndex !== undefined ? h("a", { href: `#turn-${answerIndex + 1}`, class: "answer-link" }, `answered by #${answerIndex + 1}`) : null),
    h("pre", { class: "json" }, pretty(decoded(args) ?? null)),
  );
}

function turnView(turn, index, links) {
  const meta = metaOf(turn);
  const failed = Boolean(meta.error);
  const incomplete = meta.incomplete === true;
  const role = String(turn.role || "?");
  const answered = links.answered.get(index);
  const article = h(
    "article",
    { class: `turn role-${role.toLowerCase()}${failed ? " failed" : ""}${incomplete ? " incomplete" : ""}`, id: `turn-${index + 1}`, "data-turn-id": turn.id },
    h(
      "header",
      {},
      h("span", { class: "role" }, role),
      h("span", { class: "n" }, `#${index + 1}`),
      failed ? h("span", { class: "badge status-failed" }, "failed") : null,
      incomplete ? h("span", { class: "badge status-incomplete" }, "incomplete") : null,
      meta.truncated ? h("span", { class: "badge" }, "truncated") : null,
      h("time", { class: "muted" }, when(turn.createdAt)),
    ),
    role === "ASSISTANT" || turn.latencyMs != null ? figures(turn, meta) : null,
    Array.isArray(meta.span) && meta.span.length ? h("div", { class: "span-path muted" }, "in ", meta.span.join(" › ")) : null,
    role === "TOOL" && (meta.toolName || answered)
      ? h("div", { class: "tool-result-of" }, "result of ", h("span", { class: "tool-name" }, meta.toolName || answered.call.name), answered ? [" for ", h("a", { href: `#turn-${answered.index + 1}` }, `#${answered.index + 1}`)] : null)
      : null,
    h("pre", { class: "content" }, contentText(turn.content)),
  );
  if (meta.thinking) article.append(h("details", { class: "thinking" }, h("summary", {}, "Thinking"), h("pre", {}, contentText(meta.thinking))));
  for (const call of callsOf(turn)) article.append(toolCall(call || {}, call && call.id ? links.answers.get(call.id) : undefined));
  if (failed) article.append(h("div", { class: "error" }, errorText(meta.error)));
  return article;
}

/** The span paths of the turns as a tree; each node lists the turns recorded in it. */
function spanTree(turns) {
  const root = { children: new Map(), turns: [] };
  turns.forEach((turn, index) => {
    const path = metaOf(turn).span;
    let node = root;
    for (const name of Array.isArray(path) ? path : []) {
      const key = String(name);
      if (!node.children.has(key)) node.children.set(key, { children: new Map(), turns: [] });
      node = node.children.get(key);
    }
    node.turns.push(index);
  });
  const list = (node) =>
    h("ul", {}, [
      ...[...node.children].map(([name, child]) => h("li", {}, h("span", { class: "span-name" }, name), " ", refs(child.turns), list(child))),
    ]);
  const refs = (indexes) => indexes.map((i) => [h("a", { href: `#turn-${i + 1}`, class: "turn-ref" }, `#${i + 1}`), " "]);
  return h("div", { class: "span-tree" }, h("div", {}, h("span", { class: "span-name" }, "session"), " ", refs(root.turns)), list(root));
}

function timelineOf(turns, session) {
  const origin = new Date(session.startedAt).getTime();
  const items = [];
  turns.forEach((turn, index) => {
    if (typeof turn.latencyMs !== "number") return;
    const meta = metaOf(turn);
    const end = new Date(turn.createdAt).getTime() - origin;
    items.push({
      label: `#${index + 1} ${turn.role}${meta.model ? ` ${meta.model}` : meta.toolName ? ` ${meta.toolName}` : ""}`.slice(0, 30),
      start: Math.max(0, end - turn.latencyMs),
      latency: turn.latencyMs,
      ttft: meta.timeToFirstTokenMs,
      failed: Boolean(meta.error),
      href: `#turn-${index + 1}`,
    });
  });
  return items.length ? timeline(items) : h("p", { class: "muted" }, "No turn recorded a latency.");
}

function header(session, turns, family) {
  const meta = decoded(session.metadata) || {};
  const tags = decoded(session.tags);
  const input = turns.reduce((sum, t) => sum + (t.inputTokens || 0), 0);
  const output = turns.reduce((sum, t) => sum + (t.outputTokens || 0), 0);
  const costs = turns.map((t) => metaOf(t).costUsd).filter((c) => typeof c === "number");
  const cost = typeof session.costUsd === "number" ? session.costUsd : costs.length ? costs.reduce((a, b) => a + b, 0) : null;
  const links = [];
  if (meta.parentSessionId) links.push(fact("Parent", sessionLink(meta.parentSessionId)));
  else if (family.parent) links.push(fact("Parent", sessionLink(family.parent.id)));
  if (family.children.length) links.push(fact("Children", h("ul", { class: "plain" }, family.children.map((c) => h("li", {}, sessionLink(c.id, `${c.agent ? c.agent.name : c.agentId} · ${when(c.startedAt)}`), " ", statusBadge(c.status))))));
  return [
    h("div", { class: "title" }, h("h1", {}, session.agent ? session.agent.name : session.agentId), statusBadge(session.status), h("span", { class: "live muted", id: "live" })),
    h(
      "dl",
      { class: "facts" },
      fact("Session", h("code", {}, session.id)),
      fact("Started", when(session.startedAt)),
      fact("Ended", when(session.endedAt)),
      fact("Duration", duration(session)),
      fact("User", session.userId || "–"),
      fact("External id", session.externalId || "–"),
      session.environmentId ? fact("Environment", session.environmentId) : null,
      fact("Turns", h("span", { id: "turn-count" }, num(turns.length))),
      fact("Tokens", `${num(input)} in / ${num(output)} out`),
      cost !== null ? fact("Cost", usd(cost)) : null,
      fact("Tags", Array.isArray(tags) && tags.length ? tags.map((t) => h("span", { class: "tag" }, String(t))) : "–"),
      links,
    ),
    Object.keys(meta).length ? h("details", { class: "metadata" }, h("summary", {}, "Metadata"), h("pre", { class: "json" }, pretty(meta))) : null,
  ];
}

export async function renderSession(main, id, signal) {
  let session = (await get(`/api/sessions/${encodeURIComponent(id)}`, {}, signal)).body;
  const family = { parent: null, children: [] };
  const meta = decoded(session.metadata) || {};
  family.children = (await get("/api/sessions", { parentSessionId: session.id, limit: 100, order: "asc" }, signal)).body;
  if (!meta.parentSessionId && meta.parentSessionExternalId) {
    family.parent = (await get("/api/sessions", { externalId: meta.parentSessionExternalId, limit: 1 }, signal)).body[0] || null;
  }
  const turns = session.turns || [];
  const seen = new Set(turns.map((t) => t.id));
  const top = h("section", { class: "session-head" });
  const tree = h("section", { class: "panel" });
  const chart = h("section", { class: "panel" });
  const conversation = h("section", { class: "conversation", id: "conversation" });
  const draw = () => {
    replace(top, header(session, turns, family));
    replace(tree, h("h2", {}, "Spans"), spanTree(turns));
    replace(chart, h("h2", {}, "Latency"), timelineOf(turns, session));
    const links = linkTools(turns);
    replace(conversation, h("h2", {}, "Conversation"), turns.map((t, i) => turnView(t, i, links)));
  };
  replace(main, h("p", {}, h("a", { href: "#/sessions" }, "‹ All sessions")), top, h("div", { class: "side-by-side" }, tree, chart), conversation);
  draw();
  if (session.status !== "ACTIVE") return;
  const live = () => document.getElementById("live");
  const add = (turn) => {
    if (seen.has(turn.id)) return;
    seen.add(turn.id);
    turns.push(turn);
  };
  const refresh = async () => {
    const fresh = (await get(`/api/sessions/${encodeURIComponent(id)}`, {}, signal)).body;
    session = fresh;
    for (const t of fresh.turns || []) add(t);
  };
  for (;;) {
    let ended = false;
    try {
      await follow(
        session.id,
        {
          // Turns recorded between the first read and the stream's start come from a re-read.
          onOpen: async () => {
            await refresh();
            draw();
            if (live()) replace(live(), "● live");
          },
          onEvent: (event) => {
            if (event && event.__type === "session.ended") {
              ended = true;
              return;
            }
            add(event);
            draw();
            if (live()) replace(live(), "● live");
          },
        },
        signal,
      );
    } catch (error) {
      if (signal.aborted) return;
      if (live()) replace(live(), "live updates interrupted; retrying");
    }
    if (signal.aborted) return;
    if (ended) {
      await refresh();
      draw();
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
    if (signal.aborted) return;
  }
}

