"""
The REST contract over the local store, without sockets.

``Router.handle`` takes a request as plain values and returns a :class:`Response`;
the HTTP server (``_http.py``) and the embedded backend (``LocalBackend``) both go
through it, so authentication, validation (422 with ``issues``), malformed JSON (400),
the 5 MB limit (413), org isolation (404), idempotency keys and the decoded JSON
columns behave the same on either::

    router = Router(Store("/tmp/p.db"))
    response = router.handle("GET", "/health", {}, {}, b"")
    assert response.status == 200
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional, Union
from urllib.parse import unquote

from provenant._json import compact_json, request_body
from provenant.server._agents import (
    archive_agent,
    create_agent,
    get_agent,
    get_or_create_agent,
    list_agents,
    update_agent,
)
from provenant.server._bodies import BODIES
from provenant.server._evals import (
    add_case,
    create_run,
    create_suite,
    get_run,
    get_suite,
    list_runs,
    list_suites,
    submit_results,
)
from provenant.server._handling import (
    Conn,
    Handler,
    Reply,
)
from provenant.server._lazy import StreamedJson, streamed
from provenant.server._records import (
    TURN_COLUMNS,
    turn_record,
)
from provenant.server._sessions import (
    add_turn,
    create_session,
    delete_session,
    end_session,
    get_session,
    list_sessions,
    update_session,
)
from provenant.server._stats import agent_stats
from provenant.server._store import Store, now_iso, purge_idempotency

__all__ = ["MAX_BODY_BYTES", "Response", "Router"]

logger = logging.getLogger("provenant.server")

#: Request bodies above this size are refused with 413 (Express's ``5mb``).
MAX_BODY_BYTES = 5 * 1024 * 1024
_IDEMPOTENCY_TTL_SECONDS = 24 * 3600.0
_PURGE_INTERVAL_SECONDS = 1.0
_WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE", "PUT"})
# A valid key is trusted this long before the store is asked again, so a key revoked
# or expired (by this process or another one on the same file) stops within a second.
_KEY_CACHE_SECONDS = 1.0
_KEY_CACHE_MAX = 10_000
_SSE_PING_SECONDS = 15.0
_SSE_POLL_SECONDS = 0.5


@dataclass
class Response:
    """
    One answer of the router.

    Attributes:
        status: The HTTP status.
        body: A JSON value, or ``None`` for no body. A list answer is a
            :class:`~provenant.server._lazy.StreamedJson` instead, read from the store
            as it is sent: write its ``chunks()``, or take its ``materialise()``.
        headers: Extra response headers.
        stream: For Server-Sent Events, the chunks to send (``body`` is then ``None``).

    .. versionadded:: 0.1
    """

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: Optional[Iterator[bytes]] = None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# -- routing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    body: Optional[str]  # the key into BODIES; None for no body
    write: bool


_ID = r"([^/]+)"


def _route(method: str, path: str, handler: Handler, body: Optional[str] = None) -> _Route:
    pattern = re.compile("^" + path.replace(":id", _ID) + "$")
    return _Route(method, pattern, handler, body, method != "GET")


_ROUTES = (
    _route("GET", "/api/agents", list_agents),
    _route("POST", "/api/agents", create_agent, "createAgent"),
    _route("POST", "/api/agents/get-or-create", get_or_create_agent, "getOrCreateAgent"),
    _route("GET", "/api/agents/:id", get_agent),
    _route("PATCH", "/api/agents/:id", update_agent, "updateAgent"),
    _route("DELETE", "/api/agents/:id", archive_agent),
    _route("GET", "/api/sessions", list_sessions),
    _route("POST", "/api/sessions", create_session, "createSession"),
    _route("GET", "/api/sessions/:id", get_session),
    _route("PATCH", "/api/sessions/:id", update_session, "updateSession"),
    _route("DELETE", "/api/sessions/:id", delete_session),
    _route("POST", "/api/sessions/:id/turns", add_turn, "addTurn"),
    _route("POST", "/api/sessions/:id/end", end_session, "endSession"),
    _route("GET", "/api/stats/agents", agent_stats),
    _route("GET", "/api/evals/suites", list_suites),
    _route("POST", "/api/evals/suites", create_suite, "createSuite"),
    _route("GET", "/api/evals/suites/:id", get_suite),
    _route("POST", "/api/evals/suites/:id/cases", add_case, "addCase"),
    _route("GET", "/api/evals/runs", list_runs),
    _route("POST", "/api/evals/runs", create_run, "createRun"),
    _route("GET", "/api/evals/runs/:id", get_run),
    _route("POST", "/api/evals/runs/:id/results", submit_results, "submitResults"),
)
_STREAM = re.compile("^/api/sessions/" + _ID + "/stream$")
# Methods of each route without an id in its path. Express would let
# `PATCH /api/agents/get-or-create` fall through to `PATCH /api/agents/:id` (a 404); we
# answer 405 as the OpenAPI document says, since no object can have that id.
_LITERAL_PATH_METHODS: dict[str, frozenset[str]] = {}
for _literal in {r.pattern.pattern[1:-1] for r in _ROUTES if "(" not in r.pattern.pattern}:
    _LITERAL_PATH_METHODS[_literal] = frozenset(
        r.method for r in _ROUTES if r.pattern.pattern[1:-1] == _literal
    )
_ROUTES_BY_METHOD: dict[str, tuple[_Route, ...]] = {
    method: tuple(route for route in _ROUTES if route.method == method)
    for method in {route.method for route in _ROUTES}
}


def _unquote(segment: str) -> str:
    return unquote(segment, errors="replace") if "%" in segment else segment


class Router:
    """
    Answer requests of the REST contract from a :class:`~provenant.server._store.Store`.

    Args:
        store: The store to read and write.

    .. versionadded:: 0.1
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._keys: dict[str, tuple[str, float]] = {}  # key -> (org id, trusted until)
        self._keys_lock = threading.Lock()
        self._stopping = threading.Event()
        self._spec: Optional[dict[str, Any]] = None
        self._next_purge = 0.0  # time.monotonic() of the next purge of idempotency records

    def close(self) -> None:
        """End every open event stream (the store is closed by its owner)."""
        self._stopping.set()
        with self.store.changed:
            self.store.changed.notify_all()

    # -- entry points -----------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        *,
        body_length: Optional[int] = None,
    ) -> Response:
        """
        Answer one request.

        Args:
            method: The HTTP method.
            path: The path without the query string (percent-encoding kept).
            query: The decoded query parameters (first value of each).
            headers: The request headers (any case).
            body: The raw request body.
            body_length: The announced length when the HTTP layer did not keep an
                oversized body (``len(body)`` otherwise).

        Returns:
            The :class:`Response`; never raises.

        .. versionadded:: 0.1
        """
        ticket = [False]  # True while this request's write announcement is pending
        try:
            return self._handle(method, path, query, headers, body, body_length, ticket)
        finally:
            if ticket[0]:
                self.store.withdraw_write()

    def _handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        body_length: Optional[int],
        ticket: list[bool],
    ) -> Response:
        try:
            method = method.upper()
            if len(path) > 1 and path.endswith("/"):
                path = path.rstrip("/") or "/"
            if path in ("/health", "/api/docs/spec"):
                if method == "HEAD":
                    return Response(200)
                if method != "GET":
                    return Response(405, {"error": "Method not allowed"}, {"Allow": "GET"})
                if path == "/health":
                    return Response(200, {"status": "ok", "ts": now_iso()})
                return Response(200, self.spec())
            if not path.startswith("/api/"):
                return Response(404, {"error": "Not found"})
            lower = {k.lower(): v for k, v in headers.items()}
            org_id = self._admit(lower, max(len(body), body_length or 0))
            if isinstance(org_id, Response):
                return org_id
            if method in _WRITE_METHODS:
                # Only now, with the body read and the key valid, may this request make a
                # group commit wait for it: an unauthenticated or stalled client costs
                # other writers nothing.
                self.store.announce_write()
                ticket[0] = True
            status, answer, extra, stream = self._dispatch(
                org_id, method, path, query, body, lower.get("idempotency-key"), ticket
            )
            return Response(status, answer, extra, stream)
        except Exception:  # the last line of defence: never a traceback on the wire
            logger.exception("provenant server: unhandled error on %s %s", method, path)
            return Response(500, {"error": "Internal server error"})

    def refuse_early(
        self, path: str, headers: Mapping[str, str], body_length: int
    ) -> Optional[Response]:
        """
        The answer refusing a request before its body is read (413, 401), or ``None``.

        The HTTP layer asks this before it sends ``100 Continue``.

        .. versionadded:: 0.2
        """
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
        if not path.startswith("/api/") or path == "/api/docs/spec":
            return None
        admitted = self._admit({k.lower(): v for k, v in headers.items()}, body_length)
        return admitted if isinstance(admitted, Response) else None

    def _admit(self, lower: Mapping[str, str], body_length: int) -> Union[str, Response]:
        """The org id of an acceptable request, or the answer refusing it (413, 401)."""
        if body_length > MAX_BODY_BYTES:
            return Response(413, {"error": "Request body is larger than 5 MB"})
        header = lower.get("authorization")
        org_id = self._authenticate(header)
        if org_id is not None:
            return org_id
        message = (
            "Missing or invalid Authorization header"
            if not _bearer(header)
            else "Invalid or expired API key"
        )
        return Response(401, {"error": message})

    def call_as_org(
        self,
        org_id: str,
        method: str,
        path: str,
        query: Optional[Mapping[str, str]],
        body_obj: Any,
        idempotency_key: Optional[str],
    ) -> tuple[int, Any, dict[str, str]]:
        """
        Answer a request already authenticated as ``org_id`` (the embedded backend).

        The body is JSON-encoded as the HTTP backend encodes it and parsed as the
        server parses it, so what HTTP would refuse is refused here too.

        Raises:
            TypeError: ``body_obj`` is not JSON (as the HTTP backend raises).

        Returns:
            ``(status, body, headers)``.

        .. versionadded:: 0.1
        """
        raw = b""
        if body_obj is not None:
            raw = request_body(body_obj, f"{method.upper()} {path}")
        return self.call_raw(org_id, method, path, query, raw, idempotency_key)

    def call_raw(
        self,
        org_id: str,
        method: str,
        path: str,
        query: Optional[Mapping[str, str]],
        raw: bytes,
        idempotency_key: Optional[str],
    ) -> tuple[int, Any, dict[str, str]]:
        """
        Like :meth:`call_as_org` with the body already encoded; never raises.

        .. versionadded:: 0.1
        """
        try:
            method = method.upper()
            if path == "/health" and method == "GET":
                return 200, {"status": "ok", "ts": now_iso()}, {}
            if path == "/api/docs/spec" and method == "GET":
                return 200, self.spec(), {}
            status, answer, headers, stream = self._dispatch(
                org_id, method, path, query or {}, raw, idempotency_key
            )
            if isinstance(answer, StreamedJson):
                answer = answer.materialise()
            if stream is not None:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
            return status, answer, headers
        except Exception:
            logger.exception("provenant local store: unhandled error on %s %s", method, path)
            return 500, {"error": "Internal server error"}, {}

    def spec(self) -> dict[str, Any]:
        """The OpenAPI document of every route (built once)."""
        if self._spec is None:
            from provenant.server._openapi import build_spec

            self._spec = build_spec()
        return self._spec

    # -- internals --------------------------------------------------------------------

    def _authenticate(self, header: Optional[str]) -> Optional[str]:
        token = _bearer(header)
        if not token:
            return None
        now = time.monotonic()
        cached = self._keys.get(token)
        if cached is not None and now < cached[1]:
            return cached[0]
        org_id = self.store.org_for_key(token)
        with self._keys_lock:
            if org_id is None:
                self._keys.pop(token, None)
            else:
                if len(self._keys) > _KEY_CACHE_MAX:
                    self._keys.clear()
                self._keys[token] = (org_id, now + _KEY_CACHE_SECONDS)
        return org_id

    def _dispatch(
        self,
        org_id: str,
        method: str,
        path: str,
        query: Mapping[str, str],
        raw: bytes,
        idempotency_key: Optional[str],
        ticket: Optional[list[bool]] = None,
    ) -> tuple[int, Any, dict[str, str], Optional[Iterator[bytes]]]:
        if len(raw) > MAX_BODY_BYTES:
            return 413, {"error": "Request body is larger than 5 MB"}, {}, None
        if method == "GET":
            match = _STREAM.match(path)
            if match is not None:
                return self._open_stream(org_id, _unquote(match.group(1)))
        literal_methods = _LITERAL_PATH_METHODS.get(path)
        if literal_methods is not None and method not in literal_methods:
            allow = ", ".join(sorted(literal_methods))
            return 405, {"error": "Method not allowed"}, {"Allow": allow}, None
        for route in _ROUTES_BY_METHOD.get(method, ()):
            match = route.pattern.match(path)
            if match is None:
                continue
            params = [_unquote(group) for group in match.groups()]
            body: Any = None
            if route.body is not None:
                parsed = _parse_body(raw)
                if isinstance(parsed, Response):
                    return parsed.status, parsed.body, {}, None
                issues: list[dict[str, Any]] = []
                body = BODIES[route.body].check(parsed, [], issues)
                if issues:
                    return 422, {"error": "Validation error", "issues": issues}, {}, None
            try:
                if not route.write:
                    with self.store.read() as conn:
                        result = route.handler(conn, org_id, params, query, body)
                    # A read handler may add response headers (the session list's total).
                    status, answer = result[0], result[1]
                    extra = result[2] if len(result) > 2 else {}
                    if streamed(answer):  # lists are read as the answer is sent
                        answer = StreamedJson(answer, self.store.read)
                    return status, answer, extra, None
                transaction = self.store.write(announced=bool(ticket and ticket[0]))
                if ticket:
                    ticket[0] = False  # the transaction takes the announcement over
                with transaction as conn:
                    if idempotency_key:
                        digest = _idempotency_hash(org_id, idempotency_key, method, path)
                        replay = _replay(conn, digest, org_id, idempotency_key)
                        if replay is not None:
                            return replay[0], replay[1], {"Idempotent-Replayed": "true"}, None
                    status, answer = route.handler(conn, org_id, params, query, body)
                    if idempotency_key and 200 <= status < 300:
                        conn.execute(
                            "INSERT OR REPLACE INTO idempotency (hash, org_id, key, method, path,"
                            " status, body, created_at, object_id)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (
                                digest,
                                org_id,
                                idempotency_key,
                                method,
                                path,
                                status,
                                compact_json(answer),
                                time.time(),
                                _owning_session(path, params, answer),
                            ),
                        )
                    self._purge_expired(conn)
                return status, answer, {}, None
            except Reply as reply:
                return reply.status, reply.body, {}, None
            except (UnicodeEncodeError, UnicodeDecodeError):
                return 400, {"error": "Request text is not valid Unicode"}, {}, None
        allowed = {r.method for r in _ROUTES if r.pattern.match(path)}
        if _STREAM.match(path):
            allowed.add("GET")
        if allowed:
            headers = {"Allow": ", ".join(sorted(allowed))}
            return 405, {"error": "Method not allowed"}, headers, None
        return 404, {"error": "Not found"}, {}, None

    def _purge_expired(self, conn: Conn) -> None:
        # Inside a write's transaction, at most once a second: an index seek that
        # usually finds nothing, so records leave the file once their day is over.
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + _PURGE_INTERVAL_SECONDS
        purge_idempotency(conn, older_than=time.time() - _IDEMPOTENCY_TTL_SECONDS)

    def _open_stream(
        self, org_id: str, session_id: str
    ) -> tuple[int, Any, dict[str, str], Optional[Iterator[bytes]]]:
        with self.store.read() as conn:
            row = conn.execute(
                "SELECT COALESCE(MAX(t.seq), 0) FROM sessions s LEFT JOIN turns t"
                " ON t.session_id = s.id WHERE s.id = ? AND s.org_id = ? GROUP BY s.id",
                (session_id, org_id),
            ).fetchone()
        if row is None:
            return 404, {"error": "Session not found"}, {}, None
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        return 200, None, headers, self._stream(session_id, int(row[0]))

    def _stream(self, session_id: str, last_seq: int) -> Iterator[bytes]:
        store = self.store
        last_ping = time.monotonic()
        yield b": connected\n\n"
        while not self._stopping.is_set() and not store.closed:
            version = store.version
            with store.read() as conn:
                rows = conn.execute(
                    f"SELECT {TURN_COLUMNS} FROM turns t WHERE t.session_id = ? AND t.seq > ?"
                    " ORDER BY t.seq",
                    (session_id, last_seq),
                ).fetchall()
                state = conn.execute(
                    "SELECT ended_at FROM sessions WHERE id = ?", (session_id,)
                ).fetchone()
            for turn in rows:
                last_seq = int(turn[10])
                yield b"data: " + compact_json(turn_record(turn)).encode("utf-8") + b"\n\n"
            if state is None or state[0] is not None:
                event = {"__type": "session.ended", "sessionId": session_id}
                yield b"data: " + compact_json(event).encode("utf-8") + b"\n\n"
                return
            if time.monotonic() - last_ping > _SSE_PING_SECONDS:
                last_ping = time.monotonic()
                yield b": ping\n\n"
            with store.changed:
                if store.version == version and not self._stopping.is_set():
                    store.changed.wait(_SSE_POLL_SECONDS)


def _bearer(header: Optional[str]) -> Optional[str]:
    if not header or not header.startswith("Bearer "):
        return None
    token = header[7:].strip()
    return token or None


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is out of the range of a JSON number")
    return value


def _parse_body(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        return json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float
        )
    except (ValueError, RecursionError):
        return Response(400, {"error": "Malformed JSON body"})


def _owning_session(path: str, params: list[str], answer: Any) -> Optional[str]:
    """The session a write belongs to (its records go when the session is deleted)."""
    if path.startswith("/api/sessions/") and params:
        return params[0]
    if path == "/api/sessions" and isinstance(answer, dict):
        created = answer.get("id")
        return created if isinstance(created, str) else None
    return None


def _idempotency_hash(org_id: str, key: str, method: str, path: str) -> int:
    # One integer key (the table's rowid): a single b-tree to touch per write.
    material = "\x00".join((org_id, method, path, key)).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big", signed=True)


def _replay(conn: Conn, digest: int, org_id: str, key: str) -> Optional[tuple[int, Any]]:
    row = conn.execute(
        "SELECT status, body, created_at, org_id, key FROM idempotency WHERE hash = ?", (digest,)
    ).fetchone()
    if row is None or row[3] != org_id or row[4] != key:
        return None
    if time.time() - float(row[2]) > _IDEMPOTENCY_TTL_SECONDS:
        return None
    return int(row[0]), json.loads(row[1])
