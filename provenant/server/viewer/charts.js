// Two small SVG charts built with DOM calls (no library): the turns' latency timeline
// and a suite's pass rate over its runs. Labels are text nodes, like everything else.

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * A waterfall of the turns that took time: each bar spans from when the call started
 * (recorded time minus its latency) to when it was recorded; streamed replies mark the
 * first token. items: [{label, start, latency, ttft, failed, href}] (ms from the start).
 */
export function timeline(items) {
  const rowHeight = 22;
  const labelWidth = 200;
  const width = 760;
  const span = Math.max(1, ...items.map((i) => i.start + i.latency));
  const scale = (width - labelWidth - 70) / span;
  const svg = s("svg", { class: "timeline", viewBox: `0 0 ${width} ${items.length * rowHeight + 24}`, role: "img" });
  svg.append(s("title", {}, "Latency of each turn"));
  items.forEach((item, index) => {
    const y = index * rowHeight + 4;
    const x = labelWidth + item.start * scale;
    const w = Math.max(2, item.latency * scale);
    const link = s("a", { href: item.href });
    link.append(s("text", { x: 0, y: y + 13, class: "label" }, item.label));
    svg.append(link);
    svg.append(s("rect", { x, y, width: w, height: rowHeight - 8, rx: 2, class: item.failed ? "bar failed" : "bar" }));
    if (typeof item.ttft === "number") {
      svg.append(s("line", { x1: x + item.ttft * scale, x2: x + item.ttft * scale, y1: y - 1, y2: y + rowHeight - 7, class: "ttft" }));
    }
    svg.append(s("text", { x: x + w + 4, y: y + 12, class: "value" }, `${Math.round(item.latency)} ms`));
  });
  const axis = items.length * rowHeight + 16;
  svg.append(s("line", { x1: labelWidth, x2: width - 70, y1: axis - 8, y2: axis - 8, class: "axis" }));
  svg.append(s("text", { x: labelWidth, y: axis + 6, class: "value" }, "0"));
  svg.append(s("text", { x: width - 70, y: axis + 6, class: "value", "text-anchor": "end" }, `${Math.round(span)} ms`));
  return svg;
}

/** A line of pass rates (0..1) over runs, oldest first: points [{label, value, href}]. */
export function passRateChart(points) {
  const width = 760;
  const height = 170;
  const left = 40;
  const bottom = 24;
  const plotW = width - left - 16;
  const plotH = height - bottom - 12;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img" });
  svg.append(s("title", {}, "Pass rate over runs"));
  for (const tick of [0, 0.5, 1]) {
    const y = 12 + plotH * (1 - tick);
    svg.append(s("line", { x1: left, x2: width - 16, y1: y, y2: y, class: "grid" }));
    svg.append(s("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "value" }, `${tick * 100}%`));
  }
  const step = points.length > 1 ? plotW / (points.length - 1) : 0;
  const xy = points.map((p, i) => [left + (points.length > 1 ? i * step : plotW / 2), 12 + plotH * (1 - (p.value ?? 0))]);
  if (xy.length > 1) svg.append(s("polyline", { points: xy.map((p) => p.join(",")).join(" "), class: "line" }));
  points.forEach((p, i) => {
    const link = s("a", { href: p.href });
    const dot = s("circle", { cx: xy[i][0], cy: xy[i][1], r: 4, class: "dot" });
    dot.append(s("title", {}, `${p.label}: ${p.value === null ? "no results" : `${Math.round(p.value * 100)}%`}`));
    link.append(dot);
    svg.append(link);
  });
  return svg;
}
