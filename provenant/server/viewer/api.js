// The REST API as the page calls it: Authorization: Bearer with the key kept in this
// tab's sessionStorage (no cookie, so no cross-site request can use it).

const KEY = "provenant.apiKey";

export const auth = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  set(key) {
    sessionStorage.setItem(KEY, key);
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers() {
  return { Authorization: `Bearer ${auth.key || ""}` };
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") message = body.error;
  } catch {
    // not JSON: keep the status line
  }
  if (response.status === 401) {
    auth.clear();
    window.dispatchEvent(new CustomEvent("provenant:logout", { detail: message }));
  }
  return new ApiError(response.status, message);
}

/** GET a JSON answer; params with empty values are left out. */
export async function get(path, params, signal) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const response = await fetch(url, { headers: headers(), cache: "no-store", signal });
  if (!response.ok) throw await failure(response);
  return { body: await response.json(), headers: response.headers };
}

/** Whether the API accepts ``key`` (the login form tries a key before keeping it). */
export async function accepts(key) {
  const response = await fetch("/api/sessions?limit=1", {
    headers: { Authorization: `Bearer ${key}` },
    cache: "no-store",
  });
  if (response.status === 401) return false;
  if (!response.ok) throw new ApiError(response.status, `${response.status} ${response.statusText}`);
  return true;
}

/** Trade a one-time login token (from a login link) for the API key it stands for. */
export async function login(token) {
  const response = await fetch("/viewer/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token }),
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body.error || "Login failed");
  return body.apiKey;
}

/**
 * Follow a session's Server-Sent Events with fetch (EventSource cannot send the
 * Authorization header). Calls onOpen once connected, onEvent with each event's JSON;
 * resolves when the server ends the stream or the signal aborts.
 */
export async function follow(sessionId, { onOpen, onEvent }, signal) {
  const response = await fetch(`/api/sessions/${encodeURIComponent(sessionId)}/stream`, {
    headers: headers(),
    cache: "no-store",
    signal,
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let opened = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!opened) {
        opened = true;
        if (onOpen) await onOpen();
      }
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""))
        .join("\n");
      if (data) onEvent(JSON.parse(data));
    }
  }
}
