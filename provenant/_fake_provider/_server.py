"""The fake provider's HTTP server: a thread on 127.0.0.1 answering scripted replies."""

from __future__ import annotations

import collections
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Deque, Iterator, Optional

from provenant._fake_provider import _formats, _gemini
from provenant._fake_provider._script import (
    RecordedRequest,
    Reply,
    Responder,
    echo_reply,
    next_id,
)

__all__ = ["FakeProvider", "start_fake_provider"]

_Render = Callable[[Reply, RecordedRequest], Any]
_JSON_RENDERERS: dict[str, _Render] = {
    "anthropic": _formats.anthropic_message,
    "chat": _formats.chat_completion,
    "responses": _formats.response_object,
    "gemini": _gemini.gemini_response,
}
_EVENT_RENDERERS: dict[str, Callable[[Reply, RecordedRequest], Iterator[_formats.Event]]] = {
    "anthropic": _formats.anthropic_events,
    "chat": _formats.chat_events,
    "responses": _formats.response_events,
    "gemini": _gemini.gemini_events,
}


class FakeProvider:
    """
    A scripted model server speaking the Anthropic, OpenAI and Gemini wire formats.

    Replies come from the script queue (:meth:`script`) first, then from the responder
    (default: echo the last user message). Every request received is kept in
    :attr:`requests`.

    Args:
        host: The interface to bind (``127.0.0.1``).
        port: The port (``0``: an ephemeral one).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._queue: Deque[Reply] = collections.deque()
        self._responder: Responder = echo_reply
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self._httpd = _Server((host, port), _make_handler(self))
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the Anthropic client's ``base_url``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: the OpenAI client's ``base_url``."""
        return self.url + "/v1"

    def start(self) -> FakeProvider:
        """Serve in a daemon thread; returns ``self``."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="provenant-fake-provider",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, interrupting slow answers, and release the port."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting ----------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies, answered in order before the responder is used again."""
        with self._lock:
            self._queue.extend(replies)

    def set_responder(self, responder: Optional[Responder]) -> None:
        """Answer unscripted requests with ``responder(request)`` (``None``: echo)."""
        with self._lock:
            self._responder = responder or echo_reply

    def reset(self) -> None:
        """Forget scripted replies, the responder and the recorded requests."""
        with self._lock:
            self._queue.clear()
            self._responder = echo_reply
            self.requests.clear()

    def received(self, api: Optional[str] = None) -> list[RecordedRequest]:
        """The requests received so far (only those of ``api`` when given)."""
        with self._lock:
            return [r for r in self.requests if api is None or r.api == api]

    # -- serving ------------------------------------------------------------------------

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._queue:
                return self._queue.popleft()
            responder = self._responder
        return responder(request)

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds``; return False when the server is stopping."""
        return seconds <= 0 or not self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # many concurrent clients (the default backlog of 5 resets them)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or broke a stream off is normal here, not an error.
        pass


def _make_handler(provider: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        server_version = "fake-provider/0.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._send_json(200, {"status": "ok"}, {})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            request = RecordedRequest(
                method="POST",
                path=self.path.split("?", 1)[0],
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            if request.api == "unknown":
                self._send_json(404, {"error": {"message": "Not found"}}, {})
                return
            reply = provider._next_reply(request)
            if not provider._wait(reply.delay_s):
                return
            request_id = next_id("req")
            headers = {"request-id" if request.api == "anthropic" else "x-request-id": request_id}
            if reply.status is not None:
                if reply.retry_after_s is not None:
                    headers["retry-after"] = str(reply.retry_after_s)
                if request.api == "gemini":
                    error = _gemini.gemini_error(reply.status, reply.error_message)
                else:
                    error = _formats.error_body(request.api, reply.status, reply.error_message)
                self._send_json(reply.status, error, headers)
            elif request.stream:
                self._send_events(request, reply, headers)
            else:
                self._send_json(200, _JSON_RENDERERS[request.api](reply, request), headers)

        def _send_json(self, status: int, payload: Any, headers: dict[str, str]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _send_stream_error(self, request: RecordedRequest, reply: Reply) -> None:
            body = _formats.error_body(request.api, 529, reply.error_message)
            if request.api == "gemini":
                body = _gemini.gemini_error(503, reply.error_message)
            if request.api == "anthropic":
                body["error"]["type"] = "overloaded_error"
                frame = f"event: error\ndata: {json.dumps(body)}\n\n"
            else:
                frame = f"data: {json.dumps(body)}\n\n"
            self.wfile.write(frame.encode())
            self.wfile.flush()

        def _send_events(
            self, request: RecordedRequest, reply: Reply, headers: dict[str, str]
        ) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.close_connection = True
            try:
                for sent, (event, data) in enumerate(_EVENT_RENDERERS[request.api](reply, request)):
                    if sent == reply.stream_error_after:
                        self._send_stream_error(request, reply)
                        return
                    frame = f"data: {json.dumps(data)}\n\n"
                    if event is not None:
                        frame = f"event: {event}\n" + frame
                    self.wfile.write(frame.encode())
                    self.wfile.flush()
                    if not provider._wait(reply.chunk_delay_s):
                        return
                if request.api == "chat":
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                pass

    return Handler


def start_fake_provider(host: str = "127.0.0.1", port: int = 0) -> FakeProvider:
    """
    Start a :class:`FakeProvider` in a daemon thread (``port=0``: an ephemeral port).

    Returns:
        The running provider; call ``stop()`` (or use it as a context manager) to end it.
    """
    return FakeProvider(host, port).start()
