"""HttpBackend on the wire: headers, keep-alive, retries and faults, on tiny raw sockets."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Union

import pytest

import provenant
from provenant.backends.http import HttpBackend
from provenant.errors import (
    APIError,
    AuthenticationError,
    ClientClosedError,
    ConnectionError,
    RateLimitError,
    ServerError,
    TimeoutError,
)

SECRET_KEY = "pk_live_0123456789abcdef0123456789abcdef"

RESET = "reset"  # close the connection with an RST, no answer
STALL = "stall"  # read the request and never answer
CLOSE = "close"  # close the connection cleanly, no answer

Action = Union[bytes, str, List[bytes]]  # a list: pieces sent 10 ms apart


class Request:
    """One request as the fault server read it."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body


def http_response(
    status: int,
    body: Optional[object] = None,
    *,
    headers: Optional[dict[str, str]] = None,
    close: bool = False,
    raw: Optional[bytes] = None,
) -> bytes:
    """Build a raw HTTP/1.1 answer."""
    payload = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(payload)}"]
    if payload and raw is None:
        lines.append("Content-Type: application/json")
    if close:
        lines.append("Connection: close")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class FaultServer:
    """A raw-socket HTTP/1.1 server on 127.0.0.1 whose answers a script decides, counting all."""

    def __init__(
        self,
        script: Callable[[int, Request], Action],
        *,
        close_after_answer: bool = False,
        tls: Optional[ssl.SSLContext] = None,
    ) -> None:
        self.script = script
        self.close_after_answer = close_after_answer
        self.tls = tls
        self.accepts = 0
        self.requests: List[Request] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._threads: List[threading.Thread] = []
        self._thread = threading.Thread(target=self._serve, name="fault-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                self.accepts += 1
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    conn.close()
                    return
            reader = conn.makefile("rb")
            while not self._stop.is_set():
                request = self._read(reader)
                if request is None:
                    break
                with self._lock:
                    index = len(self.requests)
                    self.requests.append(request)
                action = self.script(index, request)
                if action == RESET:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    break
                if action == STALL:
                    self._stop.wait(10)
                    break
                if action == CLOSE:
                    break
                if isinstance(action, list):
                    for piece in action:
                        conn.sendall(piece)
                        time.sleep(0.01)
                else:
                    assert isinstance(action, bytes)
                    conn.sendall(action)
                if self.close_after_answer:
                    break
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _read(reader: object) -> Optional[Request]:
        stream = reader  # a BufferedReader
        line = stream.readline()  # type: ignore[attr-defined]
        if not line:
            return None
        method, target, _ = line.decode().split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            header = stream.readline().decode()  # type: ignore[attr-defined]
            if header in ("\r\n", "\n", ""):
                break
            name, value = header.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = stream.read(length) if length else b""  # type: ignore[attr-defined]
        return Request(method, target, headers, body)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        for thread in self._threads:
            thread.join(5)


@pytest.fixture
def fault_server() -> Iterator[Callable[..., FaultServer]]:
    servers: List[FaultServer] = []

    def start(script: Callable[[int, Request], Action], **options: object) -> FaultServer:
        server = FaultServer(script, **options)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def ok(body: object = None) -> Callable[[int, Request], Action]:
    return lambda index, request: http_response(200, body if body is not None else {"ok": index})


def fail_then_ok(first: Action, failures: int = 1) -> Callable[[int, Request], Action]:
    return lambda index, request: first if index < failures else http_response(200, {"ok": True})


def refused_url() -> str:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"


# -- the request on the wire --------------------------------------------------------------


def test_request_sends_the_contract_headers(fault_server: Callable[..., FaultServer]) -> None:
    """Every request carries the User-Agent, bearer key, JSON content type and idempotency key."""
    server = fault_server(ok())
    backend = HttpBackend(server.url, api_key=SECRET_KEY)
    backend.request("POST", "/api/sessions", body={"agentId": "a"}, idempotency_key="k-1")
    backend.close()
    request = server.requests[0]
    assert request.method == "POST"
    assert request.target == "/api/sessions"
    assert re.fullmatch(
        r"provenant-sdk/\d+\.\d+\.\d+\S* python/3\.\d+", request.headers["user-agent"]
    )
    assert request.headers["user-agent"].startswith(f"provenant-sdk/{provenant.__version__} ")
    assert request.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "k-1"
    assert json.loads(request.body) == {"agentId": "a"}


def test_later_requests_send_the_same_headers_with_their_own_key_and_length(
    fault_server: Callable[..., FaultServer],
) -> None:
    """Header lines remembered from the first requests go out unchanged on later ones,
    each request with its own Idempotency-Key and Content-Length, past the lines kept."""
    server = fault_server(ok())
    backend = HttpBackend(server.url, api_key=SECRET_KEY)
    for index in range(40):
        backend.request("POST", "/api/x", body={"i": "x" * index}, idempotency_key=f"k-{index}")
    backend.close()
    assert len(server.requests) == 40
    for index, request in enumerate(server.requests):
        assert request.headers["authorization"] == f"Bearer {SECRET_KEY}"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["idempotency-key"] == f"k-{index}"
        assert int(request.headers["content-length"]) == len(request.body)
        assert json.loads(request.body) == {"i": "x" * index}
    assert server.requests[-1].headers == {
        **server.requests[0].headers,
        "idempotency-key": "k-39",
        "content-length": server.requests[-1].headers["content-length"],
    }


def test_no_key_sends_no_authorization_header(fault_server: Callable[..., FaultServer]) -> None:
    """A backend without an API key sends no Authorization header at all."""
    server = fault_server(ok())
    backend = HttpBackend(server.url)
    backend.request("GET", "/health")
    backend.close()
    assert "authorization" not in server.requests[0].headers
    assert "idempotency-key" not in server.requests[0].headers


def test_query_is_urlencoded_and_base_path_kept(fault_server: Callable[..., FaultServer]) -> None:
    """Query parameters are URL-encoded and a path prefix of the base URL is kept."""
    server = fault_server(ok())
    backend = HttpBackend(server.url + "/prefix/", api_key=SECRET_KEY)
    backend.request("GET", "/api/sessions", query={"q": "a b&c=d/é", "status": "ACTIVE"})
    backend.close()
    assert server.requests[0].target == "/prefix/api/sessions?q=a+b%26c%3Dd%2F%C3%A9&status=ACTIVE"


def test_unicode_body_is_sent_as_utf8_json(fault_server: Callable[..., FaultServer]) -> None:
    """A body with non-ASCII text arrives as UTF-8 JSON with the right Content-Length."""
    server = fault_server(ok())
    backend = HttpBackend(server.url)
    backend.request("POST", "/api/x", body={"content": "héllo ✓"})
    backend.close()
    request = server.requests[0]
    assert int(request.headers["content-length"]) == len(request.body)
    assert json.loads(request.body.decode("utf-8")) == {"content": "héllo ✓"}


def test_answers_are_decoded_and_an_empty_body_is_none(
    fault_server: Callable[..., FaultServer],
) -> None:
    """A JSON answer is decoded and an empty 2xx body answers None."""
    answers = [http_response(200, {"a": [1, "x"]}), http_response(204)]
    server = fault_server(lambda index, request: answers[index])
    backend = HttpBackend(server.url)
    assert backend.request("GET", "/one") == {"a": [1, "x"]}
    assert backend.request("DELETE", "/two") is None
    backend.close()


def test_a_2xx_answer_that_is_not_json_raises(fault_server: Callable[..., FaultServer]) -> None:
    """A 2xx answer whose body is not JSON raises APIError rather than returning garbage."""
    server = fault_server(lambda i, r: http_response(200, raw=b"<html>hello</html>"))
    backend = HttpBackend(server.url)
    with pytest.raises(APIError, match="not JSON"):
        backend.request("GET", "/api/agents")
    backend.close()


# -- keep-alive and the pool ---------------------------------------------------------------


def test_one_connection_serves_many_requests(fault_server: Callable[..., FaultServer]) -> None:
    """Sequential requests reuse one kept-alive TCP connection."""
    server = fault_server(ok())
    backend = HttpBackend(server.url, api_key=SECRET_KEY)
    for index in range(50):
        assert backend.request("POST", "/api/x", body={"i": index}) == {"ok": index}
    backend.close()
    assert len(server.requests) == 50
    assert server.accepts == 1
    assert backend.connections_opened == 1


def test_threads_share_the_pool_without_mixing_answers(
    fault_server: Callable[..., FaultServer],
) -> None:
    """Four threads get their own answers and open at most one connection each."""
    server = fault_server(lambda index, request: http_response(200, json.loads(request.body)))
    backend = HttpBackend(server.url)
    errors: List[BaseException] = []

    def work(thread: int) -> None:
        try:
            for index in range(100):
                body = {"thread": thread, "i": index}
                assert backend.request("POST", "/api/x", body=body) == body
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    backend.close()
    assert errors == []
    assert len(server.requests) == 400
    assert server.accepts <= 4


def test_a_connection_closed_by_the_server_is_replaced_once(
    fault_server: Callable[..., FaultServer],
) -> None:
    """A kept-alive connection the server closed is replaced once, even for a non-retried POST."""
    # The server answers without "Connection: close" and then hangs up: the client
    # believes the connection is reusable and finds it dead on the next request.
    server = fault_server(ok(), close_after_answer=True)
    backend = HttpBackend(server.url)
    for index in range(3):
        assert backend.request("POST", "/api/x", body={}, retries=0) == {"ok": index}
        time.sleep(0.05)  # let the server's FIN arrive
    backend.close()
    assert len(server.requests) == 3
    assert server.accepts == 3


def test_connection_close_answer_is_not_reused(fault_server: Callable[..., FaultServer]) -> None:
    """An answer with Connection: close makes the backend open a fresh connection next time."""
    server = fault_server(lambda i, r: http_response(200, {"i": i}, close=True))
    backend = HttpBackend(server.url)
    assert backend.request("GET", "/a") == {"i": 0}
    assert backend.request("GET", "/b") == {"i": 1}
    backend.close()
    assert server.accepts == 2


def test_a_closed_backend_refuses_requests(fault_server: Callable[..., FaultServer]) -> None:
    """Requests on a closed backend raise ClientClosedError, a RuntimeError."""
    server = fault_server(ok())
    backend = HttpBackend(server.url)
    backend.close()
    backend.close()
    with pytest.raises(ClientClosedError) as caught:
        backend.request("GET", "/api/agents")
    assert isinstance(caught.value, RuntimeError)


# -- transport faults -----------------------------------------------------------------------


def test_refused_connection_raises_connection_error() -> None:
    """A refused connection raises ConnectionError, keeping the socket error as its cause."""
    backend = HttpBackend(refused_url(), api_key=SECRET_KEY, backoff_s=0.001)
    with pytest.raises(ConnectionError) as caught:
        backend.request("GET", "/api/agents")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert caught.value.status_code is None
    backend.close()


def test_reset_is_retried_for_safe_requests_only(fault_server: Callable[..., FaultServer]) -> None:
    """A reset connection is retried 3 times for GET and idempotent POST, never for a plain POST."""
    server = fault_server(lambda i, r: RESET)
    backend = HttpBackend(server.url, backoff_s=0.001)
    with pytest.raises(ConnectionError):
        backend.request("GET", "/api/agents")
    assert len(server.requests) == 3
    with pytest.raises(ConnectionError):
        backend.request("POST", "/api/sessions", body={})
    assert len(server.requests) == 4
    with pytest.raises(ConnectionError):
        backend.request("POST", "/api/sessions", body={}, idempotency_key="k")
    assert len(server.requests) == 7
    with pytest.raises(ConnectionError):
        backend.request("GET", "/api/agents", retries=0)
    assert len(server.requests) == 8
    backend.close()
    assert {r.headers["idempotency-key"] for r in server.requests[4:7]} == {"k"}


def test_a_reset_then_success_answers_normally(fault_server: Callable[..., FaultServer]) -> None:
    """A GET whose first attempt is reset succeeds on the retry."""
    server = fault_server(fail_then_ok(RESET, failures=2))
    backend = HttpBackend(server.url, backoff_s=0.001)
    assert backend.request("GET", "/api/agents") == {"ok": True}
    backend.close()
    assert len(server.requests) == 3


def test_a_stalled_server_raises_timeout_error(fault_server: Callable[..., FaultServer]) -> None:
    """A server that never answers raises TimeoutError after the read timeout."""
    server = fault_server(lambda i, r: STALL)
    backend = HttpBackend(server.url, timeout=0.2, backoff_s=0.001)
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        backend.request("GET", "/api/agents", retries=0)
    assert 0.15 < time.monotonic() - started < 3
    assert isinstance(caught.value.__cause__, OSError)
    assert len(server.requests) == 1
    with pytest.raises(TimeoutError):
        backend.request("GET", "/api/agents", timeout=0.1)
    assert len(server.requests) == 4
    backend.close()


def test_a_server_closing_without_answer_raises_connection_error(
    fault_server: Callable[..., FaultServer],
) -> None:
    """A connection closed with no answer raises ConnectionError; a plain POST is not retried."""
    server = fault_server(lambda i, r: CLOSE)
    backend = HttpBackend(server.url, backoff_s=0.001)
    with pytest.raises(ConnectionError):
        backend.request("POST", "/api/x", body={})
    backend.close()
    assert len(server.requests) == 1


# -- error statuses and retries --------------------------------------------------------------


def test_503_is_retried_then_succeeds(fault_server: Callable[..., FaultServer]) -> None:
    """A GET answered 503 then 200 returns the 200 answer."""
    server = fault_server(fail_then_ok(http_response(503, {"error": "busy"})))
    backend = HttpBackend(server.url, backoff_s=0.001)
    assert backend.request("GET", "/api/agents") == {"ok": True}
    backend.close()
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_give_up_after_three_attempts(
    fault_server: Callable[..., FaultServer], status: int
) -> None:
    """502/503/504 on every attempt raise ServerError with the status after exactly 3 attempts."""
    server = fault_server(lambda i, r: http_response(status, {"error": "down"}))
    backend = HttpBackend(server.url, backoff_s=0.001)
    with pytest.raises(ServerError) as caught:
        backend.request("DELETE", "/api/sessions/x")
    assert caught.value.status_code == status
    assert len(server.requests) == 3
    backend.close()


def test_500_and_plain_post_503_are_not_retried(fault_server: Callable[..., FaultServer]) -> None:
    """A 500 is never retried and a 503 on a POST without an idempotency key is not either."""
    server = fault_server(
        lambda i, r: http_response(500 if r.method == "GET" else 503, {"error": "x"})
    )
    backend = HttpBackend(server.url, backoff_s=0.001)
    with pytest.raises(ServerError, match=r"failed on the server \(500: x\)"):
        backend.request("GET", "/api/agents")
    assert len(server.requests) == 1
    with pytest.raises(ServerError):
        backend.request("POST", "/api/agents", body={})
    assert len(server.requests) == 2
    backend.close()


def test_429_waits_for_retry_after(fault_server: Callable[..., FaultServer]) -> None:
    """A 429 with Retry-After is retried after that many seconds, even for a plain POST."""
    server = fault_server(
        fail_then_ok(http_response(429, {"error": "slow"}, headers={"Retry-After": "0.3"}))
    )
    backend = HttpBackend(server.url, backoff_s=0.001)
    started = time.monotonic()
    assert backend.request("POST", "/api/x", body={}) == {"ok": True}
    assert time.monotonic() - started >= 0.3
    assert len(server.requests) == 2
    backend.close()


def test_429_without_retries_raises_rate_limit_error(
    fault_server: Callable[..., FaultServer],
) -> None:
    """With retries=0 a 429 raises RateLimitError carrying retry_after at once."""
    server = fault_server(
        lambda i, r: http_response(429, {"error": "Too many"}, headers={"Retry-After": "7"})
    )
    backend = HttpBackend(server.url)
    with pytest.raises(RateLimitError) as caught:
        backend.request("GET", "/api/agents", retries=0)
    assert caught.value.retry_after == 7.0
    assert caught.value.status_code == 429
    assert "7 s" in str(caught.value)
    assert len(server.requests) == 1
    backend.close()


def test_429_with_a_long_retry_after_is_not_slept_on(
    fault_server: Callable[..., FaultServer],
) -> None:
    """A Retry-After longer than the backend will wait raises RateLimitError at once."""
    server = fault_server(
        lambda i, r: http_response(429, {"error": "x"}, headers={"Retry-After": "3600"})
    )
    backend = HttpBackend(server.url)
    started = time.monotonic()
    with pytest.raises(RateLimitError):
        backend.request("GET", "/api/agents")
    assert time.monotonic() - started < 2
    assert len(server.requests) == 1
    backend.close()


@pytest.mark.parametrize(
    ("backoff_s", "ceilings"),
    [(0.05, [0.05, 0.1, 0.2, 0.4, 0.8]), (3.0, [3.0, 6.0, 8.0, 8.0, 8.0])],
)
def test_backoff_grows_between_attempts(
    fault_server: Callable[..., FaultServer],
    monkeypatch: pytest.MonkeyPatch,
    backoff_s: float,
    ceilings: list[float],
) -> None:
    """Each retry waits a full-jitter time under a ceiling that doubles from backoff_s to 8 s."""
    server = fault_server(lambda i, r: http_response(503, {"error": "x"}))
    backend = HttpBackend(server.url, backoff_s=backoff_s)
    caller = threading.current_thread()
    real_sleep, real_uniform = time.sleep, random.uniform
    drawn: list[tuple[float, float, float]] = []  # (low, high, value) of each jitter draw
    waits: list[float] = []

    def uniform(low: float, high: float) -> float:
        value = real_uniform(low, high)
        if threading.current_thread() is caller:
            drawn.append((low, high, value))
        return value

    def sleep(seconds: float) -> None:
        if threading.current_thread() is not caller:  # the fault server's own threads
            real_sleep(seconds)
            return
        waits.append(seconds)

    monkeypatch.setattr("provenant.backends._retry.random.uniform", uniform)
    monkeypatch.setattr("provenant.backends.http.time.sleep", sleep)
    with pytest.raises(ServerError):
        backend.request("GET", "/api/agents", retries=len(ceilings))
    backend.close()

    assert len(server.requests) == len(ceilings) + 1
    assert [high for _, high, _ in drawn] == pytest.approx(ceilings)
    assert all(low == 0.0 for low, _, _ in drawn)
    assert waits == [value for _, _, value in drawn]
    for wait, ceiling in zip(waits, ceilings):
        assert 0.0 <= wait <= ceiling


# -- secrets -----------------------------------------------------------------------------------


def test_the_api_key_never_leaks(
    fault_server: Callable[..., FaultServer], caplog: pytest.LogCaptureFixture
) -> None:
    """Reprs, log lines and exception messages never contain the API key; 401 names its prefix."""
    caplog.set_level(logging.DEBUG)
    answers = {
        "/401": http_response(401, {"error": "Invalid or expired API key"}),
        "/503": http_response(503, {"error": "x"}),
    }

    def script(index: int, request: Request) -> Action:
        return answers.get(request.target, RESET)

    server = fault_server(script)
    backend = HttpBackend(server.url, api_key=SECRET_KEY, backoff_s=0.001)
    seen: List[BaseException] = []
    for path in ("/401", "/503", "/reset"):
        with pytest.raises(provenant.ProvenantError) as caught:
            backend.request("GET", path)
        seen.append(caught.value)
    with pytest.raises(AuthenticationError) as auth:
        backend.request("GET", "/401")
    assert "pk_live_0123..." in str(auth.value)
    backend.close()
    texts = [repr(backend), caplog.text]
    for exc in seen:
        texts += [str(exc), repr(exc), repr(exc.args), str(exc.__cause__)]
    for text in texts:
        assert SECRET_KEY not in text
        assert SECRET_KEY[12:] not in text


def test_credentials_in_the_url_stay_out_of_messages() -> None:
    """User info in a base URL is not shown in the backend's repr or its errors."""
    url = refused_url().replace("http://", "http://user:hunter2@")
    backend = HttpBackend(url)
    with pytest.raises(ConnectionError) as caught:
        backend.request("GET", "/api/agents", retries=0)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(backend)


# -- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_is_verified(
    fault_server: Callable[..., FaultServer], self_signed: tuple[Path, Path]
) -> None:
    """An untrusted https certificate is refused; trusting its CA lets requests through."""
    cert, key = self_signed
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server = fault_server(ok(), tls=server_context)
    backend = HttpBackend(server.url)
    with pytest.raises(ConnectionError, match="certificate"):
        backend.request("GET", "/api/agents")
    backend.close()
    trusting = ssl.create_default_context(cafile=str(cert))
    backend = HttpBackend(server.url, ssl_context=trusting)
    assert backend.request("GET", "/api/agents") == {"ok": 0}
    assert backend.request("GET", "/api/agents") == {"ok": 1}
    backend.close()


# -- answers framed every way HTTP/1.1 allows ------------------------------------------------


def test_host_header_names_host_and_port(fault_server: Callable[..., FaultServer]) -> None:
    """The Host header carries the host and its non-default port."""
    server = fault_server(ok())
    backend = HttpBackend(server.url)
    backend.request("GET", "/health")
    backend.close()
    assert server.requests[0].headers["host"] == f"127.0.0.1:{server.port}"


def test_chunked_answers_are_decoded(fault_server: Callable[..., FaultServer]) -> None:
    """An answer with Transfer-Encoding: chunked is reassembled and the connection reused."""
    body = json.dumps({"chunked": True, "text": "x" * 100}).encode()
    chunks = b"".join(
        f"{len(body[i : i + 40]):x}\r\n".encode() + body[i : i + 40] + b"\r\n"
        for i in range(0, len(body), 40)
    )
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\nX-T: 1\r\n\r\n"
    )
    server = fault_server(lambda i, r: answer)
    backend = HttpBackend(server.url)
    assert backend.request("GET", "/a") == {"chunked": True, "text": "x" * 100}
    assert backend.request("GET", "/b") == {"chunked": True, "text": "x" * 100}
    backend.close()
    assert server.accepts == 1


def test_answers_arriving_in_pieces_are_reassembled(
    fault_server: Callable[..., FaultServer],
) -> None:
    """An answer cut inside its status line, a header and its body, sent in separate
    segments, reads as a whole; so does one with bare line feeds; the connection lives on."""
    body = json.dumps({"pieces": "y" * 300}).encode()
    whole = b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\nX-Long: %s\r\n\r\n" % (
        len(body),
        b"z" * 200,
    )
    cuts = [7, len(whole) - 40, len(whole) + 10, len(whole) + 150]
    pieces = [(whole + body)[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole) + len(body)])]
    lax = b"HTTP/1.1 200 OK\nContent-Length: 2\n\n{}"
    server = fault_server(lambda i, r: pieces if i == 0 else lax)
    backend = HttpBackend(server.url)
    assert backend.request("POST", "/a", body={}) == {"pieces": "y" * 300}
    assert backend.request("GET", "/b") == {}
    backend.close()
    assert server.accepts == 1


def test_interim_100_and_http10_answers(fault_server: Callable[..., FaultServer]) -> None:
    """A 100 Continue before the answer is skipped; an HTTP/1.0 answer closes the connection."""
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    server = fault_server(lambda i, r: answer)
    backend = HttpBackend(server.url)
    assert backend.request("GET", "/a") == {}
    assert backend.request("GET", "/b") == {}
    backend.close()
    assert server.accepts == 2


def test_an_answer_broken_off_is_a_connection_error(
    fault_server: Callable[..., FaultServer],
) -> None:
    """A body shorter than its Content-Length raises ConnectionError."""
    server = fault_server(
        lambda i, r: b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}", close_after_answer=True
    )
    backend = HttpBackend(server.url)
    with pytest.raises(ConnectionError, match="broke off"):
        backend.request("POST", "/a", body={})
    backend.close()


def test_garbage_answers_are_a_connection_error(fault_server: Callable[..., FaultServer]) -> None:
    """A reply that is not HTTP raises ConnectionError."""
    server = fault_server(lambda i, r: b"SSH-2.0-OpenSSH\r\n\r\n")
    backend = HttpBackend(server.url)
    with pytest.raises(ConnectionError, match="malformed"):
        backend.request("POST", "/a", body={})
    backend.close()


def test_header_injection_is_refused(fault_server: Callable[..., FaultServer]) -> None:
    """A line break in a path or an idempotency key is refused before anything is sent."""
    server = fault_server(ok())
    backend = HttpBackend(server.url)
    with pytest.raises(ValueError):
        backend.request("GET", "/a\r\nX-Evil: 1")
    with pytest.raises(ValueError):
        backend.request("POST", "/a", body={}, idempotency_key="k\r\nX-Evil: 1")
    backend.close()
    assert server.requests == []


def test_four_threads_share_four_kept_alive_connections(
    fault_server: Callable[..., FaultServer],
) -> None:
    """Four threads pushing 2,000 POSTs through one backend open only four connections."""
    answer = http_response(201, {"ok": True})
    server = fault_server(lambda i, r: answer)
    backend = HttpBackend(server.url, api_key=SECRET_KEY)
    per_thread = 500

    def work() -> None:
        for _ in range(per_thread):
            backend.request("POST", "/api/sessions/s/turns", body={"role": "USER"}, retries=0)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    backend.close()
    # Throughput is measured in benchmarks/server_throughput.py, not here.
    assert len(server.requests) == 4 * per_thread
    assert server.accepts == 4


# -- the same faults through ProvenantClient --------------------------------------------------


def _client(url: str, **options: object) -> provenant.ProvenantClient:
    return provenant.ProvenantClient(base_url=url, api_key=SECRET_KEY, enabled=False, **options)  # type: ignore[arg-type]


def test_client_raises_rate_limit_error_after_retries(
    fault_server: Callable[..., FaultServer],
) -> None:
    """An explicit call answered 429 every time retries and then raises RateLimitError."""
    server = fault_server(
        lambda i, r: http_response(429, {"error": "Too many"}, headers={"Retry-After": "0.05"})
    )
    client = _client(server.url)
    with pytest.raises(RateLimitError) as caught:
        client.list_agents()
    assert caught.value.retry_after == 0.05
    assert len(server.requests) == 3
    client.shutdown()


def test_client_retries_a_write_with_one_idempotency_key(
    fault_server: Callable[..., FaultServer],
) -> None:
    """A write answered 503 is retried with the same Idempotency-Key and then succeeds."""
    server = fault_server(fail_then_ok(http_response(503, {"error": "x"}), failures=2))
    client = _client(server.url)
    assert client.add_turn("s1", "USER", "hi") == {"ok": True}
    keys = {request.headers["idempotency-key"] for request in server.requests}
    assert len(server.requests) == 3 and len(keys) == 1
    uuid_text = keys.pop()
    assert re.fullmatch(r"[0-9a-f-]{36}", uuid_text)
    client.shutdown()


def test_client_raises_server_error(fault_server: Callable[..., FaultServer]) -> None:
    """An explicit call answered 500 raises ServerError with the status, without retrying."""
    server = fault_server(lambda i, r: http_response(500, {"error": "Internal server error"}))
    client = _client(server.url)
    with pytest.raises(ServerError) as caught:
        client.get_session("s1")
    assert caught.value.status_code == 500
    assert "Internal server error" in str(caught.value)
    assert len(server.requests) == 1
    client.shutdown()


def test_client_raises_connection_error() -> None:
    """An explicit call to a port nobody listens on raises ConnectionError."""
    client = _client(refused_url())
    with pytest.raises(ConnectionError):
        client.list_sessions()
    client.shutdown()


def test_client_raises_timeout_error(fault_server: Callable[..., FaultServer]) -> None:
    """An explicit call to a server that never answers raises TimeoutError."""
    server = fault_server(lambda i, r: STALL)
    client = _client(server.url, timeout=0.1)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        client.create_session("00000000-0000-4000-8000-000000000000")
    # A write carries an idempotency key, so it is retried: 3 attempts of 0.1 s.
    assert len(server.requests) == 3
    assert time.monotonic() - started < 5
    client.shutdown()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_forked_child_opens_its_own_connection(
    fault_server: Callable[..., FaultServer],
) -> None:
    """After fork the child never writes on the parent's kept-alive socket; both keep working."""
    server = fault_server(ok())
    backend = HttpBackend(server.url)
    backend.request("GET", "/parent-before")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        status = 1
        try:
            backend.request("GET", "/child")
            status = 0
        finally:
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0
    backend.request("GET", "/parent-after")
    backend.close()
    assert [request.target for request in server.requests] == [
        "/parent-before",
        "/child",
        "/parent-after",
    ]
    assert server.accepts == 2
    assert backend.connections_opened == 1
