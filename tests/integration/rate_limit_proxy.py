"""A proxy before the real server that limits the rate as the hosted API does, for the tests.

The hosted limiter (``shared/provenant-api.md``): a number of requests per client address
per fixed window, on every route; ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset`` (whole seconds until the window resets, rounded up) on every answer;
a refused request gets ``429`` with a plain-text body and ``Retry-After``. A window
begins with the first request after the previous one ended, and a refused request counts
against the window too, as in the limiter that server uses.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from typing import Optional

from raw_http import read_message, request_line_and_key

_REFUSAL = b"Too many requests, please try again later."


class Seen:
    """One request the proxy saw: when, in which window, its request line, its fate."""

    __slots__ = ("at", "key", "line", "status", "window")

    def __init__(self, at: float, window: int, line: str, key: Optional[str], status: int) -> None:
        self.at = at
        self.window = window
        self.line = line
        self.key = key
        self.status = status


class RateLimitProxy:
    """
    An HTTP/1.1 proxy on 127.0.0.1 that passes at most ``limit`` requests per window.

    Args:
        upstream_port: The real server's port on 127.0.0.1.
        limit: Requests allowed per window.
        window_s: The window's length.
        bare_429s: The first N refusals carry no header at all (neither ``Retry-After``
            nor ``RateLimit-*``), as a server that says nothing about when to come back.

    ``seen`` lists every request (:class:`Seen`); ``passed`` and ``refused`` count them.
    """

    def __init__(
        self, upstream_port: int, *, limit: int, window_s: float, bare_429s: int = 0
    ) -> None:
        self.upstream_port = upstream_port
        self.limit = limit
        self.window_s = window_s
        self.bare_429s = bare_429s
        self.seen: list[Seen] = []
        self.passed = 0
        self.refused = 0
        self.lock = threading.Lock()
        self._window = -1  # index of the current window
        self._window_end = 0.0  # monotonic
        self._hits = 0
        self._connections: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name="rate-limit-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def exhaust(self) -> None:
        """Spend the rest of the current window (or a new one), as another process would."""
        with self.lock:
            self._count(time.monotonic())
            self._hits = max(self._hits, self.limit)

    def refused_by_window(self) -> dict[int, int]:
        """429s per window index (windows with none left out)."""
        with self.lock:
            counts: dict[int, int] = {}
            for seen in self.seen:
                if seen.status == 429:
                    counts[seen.window] = counts.get(seen.window, 0) + 1
            return counts

    def close(self) -> None:
        with contextlib.suppress(OSError):  # wakes the accepting thread on Linux
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self.lock:
            connections, self._connections = self._connections, []
        for conn in connections:  # wakes each serving thread, which closes its upstream
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    # -- the limiter ----------------------------------------------------------------------

    def _count(self, now: float) -> None:
        """Count one hit at ``now`` (under the lock), starting a window when none runs."""
        if now >= self._window_end:
            self._window += 1
            self._window_end = now + self.window_s
            self._hits = 0
        self._hits += 1

    def _decide(self, request: bytes) -> tuple[int, bytes]:
        """The request's fate: (status, the rate-limit header lines to add)."""
        first_line, key = request_line_and_key(request)
        with self.lock:
            now = time.monotonic()
            self._count(now)
            allowed = self._hits <= self.limit
            reset = max(0, math.ceil(self._window_end - now))
            remaining = max(0, self.limit - self._hits)
            status = 200 if allowed else 429
            self.seen.append(Seen(now, self._window, first_line, key, status))
            if allowed:
                self.passed += 1
            else:
                self.refused += 1
                if self.bare_429s > 0:
                    self.bare_429s -= 1
                    return 429, b""
        lines = (
            f"RateLimit-Limit: {self.limit}\r\nRateLimit-Remaining: {remaining}\r\n"
            f"RateLimit-Reset: {reset}\r\n"
        )
        if not allowed:
            lines += f"Retry-After: {reset}\r\n"
        return status, lines.encode()

    # -- the proxy ------------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self.lock:
                self._connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream: Optional[socket.socket] = None
        inbound, outbound = bytearray(), bytearray()
        try:
            while True:
                request = read_message(conn, inbound)
                if request is None:
                    return
                status, lines = self._decide(request)
                if status == 429:
                    conn.sendall(
                        b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\n"
                        + lines
                        + f"Content-Length: {len(_REFUSAL)}\r\n\r\n".encode()
                        + _REFUSAL
                    )
                    continue
                if upstream is None:
                    upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
                    upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                upstream.sendall(request)
                response = read_message(upstream, outbound)
                if response is None:
                    return
                first_line_end = response.index(b"\r\n") + 2
                conn.sendall(response[:first_line_end] + lines + response[first_line_end:])
        except OSError:
            return
        finally:
            conn.close()
            if upstream is not None:
                upstream.close()
