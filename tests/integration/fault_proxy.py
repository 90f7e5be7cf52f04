"""A fault-injecting HTTP/1.1 proxy before the real server, for the delivery tests."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from typing import Optional

from raw_http import read_message, request_line_and_key

_STALL_S = 1.0


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset rather than a clean close."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _answer(status: int, extra: str = "") -> bytes:
    body = b'{"error": "injected"}'
    return (
        f"HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


class FaultProxy:
    """
    An HTTP/1.1 proxy on 127.0.0.1 whose next answers follow ``plan``, then forward.

    Each entry of ``plan`` is the fate of one request: ``"forward"``, ``"reset"``,
    ``"stall"``, ``"hold"`` (forwarded once ``release`` is set), ``"lose_answer"``
    (forwarded, then the connection reset), or a status such as ``"503"``; a ``"429"``
    carries ``Retry-After: 0``, and ``"429:1"`` asks for 1 second. Every request is noted
    in ``seen`` (request line, ``Idempotency-Key``) and ``seen_at`` (``time.monotonic()``).
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.plan: list[str] = []
        self.faults_done = 0
        self.seen: list[tuple[str, Optional[str]]] = []
        self.seen_at: list[float] = []  # time.monotonic() of each request in seen
        self.release = threading.Event()  # ends a "hold"
        self.delay_s = 0.0  # every forwarded request waits this long (a slow server)
        self.lock = threading.Lock()
        self.connections: list[socket.socket] = []
        self.listener: Optional[socket.socket] = None
        self.port = 0
        self.closed = False
        self._listen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _note(self, request: bytes) -> None:
        first_line, key = request_line_and_key(request)
        with self.lock:
            self.seen.append((first_line, key))
            self.seen_at.append(time.monotonic())

    def _next_fault(self) -> str:
        with self.lock:
            if self.plan:
                self.faults_done += 1
                return self.plan.pop(0)
        return "forward"

    def _serve(self, conn: socket.socket) -> None:
        upstream: Optional[socket.socket] = None
        inbound, outbound = bytearray(), bytearray()
        try:
            while True:
                request = read_message(conn, inbound)
                if request is None:
                    return
                self._note(request)
                fault = self._next_fault()
                if fault == "reset":
                    _reset(conn)
                    return
                if fault == "stall":
                    time.sleep(_STALL_S)
                    return
                if fault == "hold":  # answer late: forwarded once released
                    self.release.wait(10)
                status, _, retry_after = fault.partition(":")
                if status.isdigit():
                    extra = f"Retry-After: {retry_after or 0}\r\n" if status == "429" else ""
                    conn.sendall(_answer(int(status), extra))
                    continue
                if self.delay_s:
                    time.sleep(self.delay_s)
                if upstream is None:
                    upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
                upstream.sendall(request)
                response = read_message(upstream, outbound)
                if response is None:
                    return
                if fault == "lose_answer":  # the server wrote; the client never hears
                    _reset(conn)
                    return
                conn.sendall(response)
        except OSError:
            return
        finally:
            conn.close()
            if upstream is not None:
                upstream.close()

    def refuse(self) -> None:
        """Stop listening and drop every connection: connections are refused."""
        with self.lock:
            listener, self.listener = self.listener, None
            connections, self.connections = self.connections, []
        if listener is not None:
            with contextlib.suppress(OSError):  # wakes the accepting thread on Linux
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for conn in connections:
            _reset(conn)

    def restore(self) -> None:
        """Listen again on the same port."""
        if self.listener is None and not self.closed:
            self._listen()

    def close(self) -> None:
        self.closed = True
        self.refuse()
