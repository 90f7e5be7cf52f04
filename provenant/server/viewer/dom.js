// Building the page from data, safely: every piece of recorded content becomes a text
// node (textContent / append(string)), never HTML. The page's CSP adds Trusted Types,
// so an innerHTML assignment anywhere would throw rather than parse.

/** Create an element: h("a", {href: "#/x", class: "c"}, "text", child). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Append children: nodes as they are, anything else as text. */
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/**
 * A JSON column decoded once. The API sends an object or array decoded, and a JSON
 * scalar (an eval output "Paris") as its JSON text, as the hosted platform does.
 */
export function decoded(value) {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** Turn content as text to show: text as recorded (the API tells text from JSON), JSON values indented. */
export function contentText(value) {
  if (typeof value === "string") return value;
  return JSON.stringify(value, null, 2);
}

/** A value to show: JSON text (tool arguments) and JSON values indented, other text as it is. */
export function pretty(value) {
  if (typeof value === "string") {
    const t = value.trimStart();
    if (t.startsWith("{") || t.startsWith("[")) {
      try {
        return JSON.stringify(JSON.parse(value), null, 2);
      } catch {
        return value;
      }
    }
    return value;
  }
  return JSON.stringify(value, null, 2);
}

const numberFormat = new Intl.NumberFormat();

export function num(value) {
  return typeof value === "number" ? numberFormat.format(value) : "–";
}

export function ms(value) {
  if (typeof value !== "number") return "–";
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60000) return `${(value / 1000).toFixed(value < 10000 ? 2 : 1)} s`;
  const minutes = Math.floor(value / 60000);
  return `${minutes} min ${Math.round((value % 60000) / 1000)} s`;
}

export function usd(value) {
  if (typeof value !== "number") return "–";
  return value < 0.01 ? `$${value.toFixed(5)}` : `$${value.toFixed(2)}`;
}

export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString();
}

export function duration(session) {
  if (!session.endedAt) return session.status === "ACTIVE" ? "running" : "–";
  return ms(new Date(session.endedAt) - new Date(session.startedAt));
}

export function statusBadge(status) {
  return h("span", { class: `badge status-${String(status).toLowerCase()}` }, status);
}

export function sessionLink(id, label) {
  return h("a", { href: `#/sessions/${encodeURIComponent(id)}` }, label || id);
}

export function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, error && error.message ? error.message : String(error));
}
