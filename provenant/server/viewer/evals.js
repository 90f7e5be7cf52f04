// Eval runs: the list with pass rate and score, one run's cases with input, expected and
// actual output and verdicts, and a suite's pass rate over its runs.
import { get } from "./api.js";
import { passRateChart } from "./charts.js";
import { decoded, h, ms, num, pretty, replace, statusBadge, when } from "./dom.js";

function percent(value) {
  return typeof value === "number" ? `${Math.round(value * 1000) / 10}%` : "–";
}

function score(value) {
  return typeof value === "number" ? String(Math.round(value * 1000) / 1000) : "–";
}

async function lookups(signal) {
  const [suites, agents] = await Promise.all([get("/api/evals/suites", {}, signal), get("/api/agents", {}, signal)]);
  return {
    suite: new Map(suites.body.map((s) => [s.id, s])),
    agent: new Map(agents.body.map((a) => [a.id, a])),
  };
}

function runsTable(runs, names) {
  return h(
    "table",
    { class: "runs", id: "runs" },
    h("thead", {}, h("tr", {}, ["Run", "Suite", "Agent", "Status", "Pass rate", "Score"].map((t) => h("th", {}, t)))),
    h(
      "tbody",
      {},
      runs.length
        ? runs.map((r) =>
            h(
              "tr",
              { "data-run-id": r.id },
              h("td", {}, h("a", { href: `#/evals/runs/${encodeURIComponent(r.id)}` }, when(r.createdAt))),
              h("td", {}, h("a", { href: `#/evals/suites/${encodeURIComponent(r.suiteId)}` }, names.suite.get(r.suiteId)?.name || r.suiteId)),
              h("td", {}, names.agent.get(r.agentId)?.name || r.agentId),
              h("td", {}, statusBadge(r.status)),
              h("td", { class: "num pass-rate" }, percent(r.passRate)),
              h("td", { class: "num" }, score(r.score)),
            ),
          )
        : h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No eval runs yet.")),
    ),
  );
}

export async function renderRuns(main, params, signal) {
  const [runs, names] = await Promise.all([get("/api/evals/runs", {}, signal), lookups(signal)]);
  replace(main, h("div", { class: "title" }, h("h1", {}, "Eval runs")), runsTable(runs.body, names));
}

export async function renderSuite(main, id, signal) {
  const [suite, runs, names] = await Promise.all([
    get(`/api/evals/suites/${encodeURIComponent(id)}`, {}, signal),
    get("/api/evals/runs", { suiteId: id }, signal),
    lookups(signal),
  ]);
  const ordered = [...runs.body].reverse(); // oldest first
  const points = ordered.map((r) => ({ label: when(r.createdAt), value: typeof r.passRate === "number" ? r.passRate : null, href: `#/evals/runs/${encodeURIComponent(r.id)}` }));
  replace(
    main,
    h("p", {}, h("a", { href: "#/evals" }, "‹ All eval runs")),
    h("div", { class: "title" }, h("h1", {}, suite.body.name)),
    suite.body.description ? h("p", {}, suite.body.description) : null,
    h("section", { class: "panel" }, h("h2", {}, "Pass rate over runs"), points.length ? passRateChart(points) : h("p", { class: "muted" }, "No runs yet.")),
    h("h2", {}, `Runs (${num(runs.body.length)})`),
    runsTable(runs.body, names),
    h("h2", {}, `Cases (${num((suite.body.cases || []).length)})`),
    h("ul", { class: "plain" }, (suite.body.cases || []).map((c) => h("li", {}, h("strong", {}, c.name), ` · ${c.scoringFn}`))),
  );
}

export async function renderRun(main, id, signal) {
  const [run, names] = await Promise.all([get(`/api/evals/runs/${encodeURIComponent(id)}`, {}, signal), lookups(signal)]);
  const r = run.body;
  const results = r.results || [];
  const passed = results.filter((x) => x.passed).length;
  const cases = results.map((x) => {
    const meta = decoded(x.metadata) || {};
    const c = x.case || {};
    return h(
      "article",
      { class: `case ${x.passed ? "passed" : "not-passed"}`, "data-case-id": x.caseId },
      h(
        "header",
        {},
        h("span", { class: `badge ${x.passed ? "status-completed" : "status-failed"}` }, x.passed ? "passed" : "failed"),
        h("strong", {}, c.name || x.caseId),
        h("span", { class: "muted" }, ` score ${score(x.score)} · ${c.scoringFn || meta.scoringFn || ""}${typeof x.latencyMs === "number" ? ` · ${ms(x.latencyMs)}` : ""}`),
      ),
      h(
        "div",
        { class: "io" },
        h("div", {}, h("h3", {}, "Input"), h("pre", { class: "json" }, pretty(decoded(c.input) ?? null))),
        h("div", {}, h("h3", {}, "Expected"), h("pre", { class: "json" }, pretty(decoded(c.expectedOutput) ?? null))),
        h("div", {}, h("h3", {}, "Actual"), h("pre", { class: "json actual" }, pretty(decoded(x.actualOutput) ?? null))),
      ),
      meta.reason ? h("p", { class: "verdict" }, "Verdict: ", String(meta.reason)) : null,
      x.error ? h("p", { class: "error" }, String(x.error)) : null,
    );
  });
  replace(
    main,
    h("p", {}, h("a", { href: "#/evals" }, "‹ All eval runs")),
    h("div", { class: "title" }, h("h1", {}, names.suite.get(r.suiteId)?.name || "Eval run"), statusBadge(r.status)),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Pass rate"), h("dd", { id: "run-pass-rate" }, `${percent(r.passRate)} (${passed} of ${results.length})`),
      h("dt", {}, "Score"), h("dd", {}, score(r.score)),
      h("dt", {}, "Agent"), h("dd", {}, names.agent.get(r.agentId)?.name || r.agentId),
      h("dt", {}, "Suite"), h("dd", {}, h("a", { href: `#/evals/suites/${encodeURIComponent(r.suiteId)}` }, "pass rate over runs")),
      h("dt", {}, "Started"), h("dd", {}, when(r.startedAt || r.createdAt)),
      h("dt", {}, "Completed"), h("dd", {}, when(r.completedAt)),
    ),
    h("section", { class: "cases", id: "cases" }, cases.length ? cases : h("p", { class: "muted" }, "No results yet.")),
  );
}
