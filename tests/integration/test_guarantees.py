"""Guarantees of the design's semantics 6, 7 and 13 checked end to end, and provider variants.

Never block on a stalled server, never change the provider's answer when the SDK itself
faults, honour Retry-After, and record the Azure and Vertex clients.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import Any, Callable, Iterator

import anthropic
import openai
import pytest
from fault_proxy import FaultProxy
from provider_clients import anthropic_client, closed_after_test
from provider_compat import is_provider_stream
from provider_errors import assert_same_provider_error, record_created_errors

import provenant
from provenant import _logging
from provenant._fake_provider import FakeProvider, Reply
from provenant.client import ProvenantClient
from provenant.integrations import _anthropic_extract, _call
from provenant.server import LocalServer

MODEL = "claude-test"
_KEY = "pk_live_" + "0" * 32


class StalledServer:
    """A TCP listener on 127.0.0.1 that accepts every connection and never answers."""

    def __init__(self) -> None:
        self.accepted = 0
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._connections.append(conn)
            threading.Thread(target=self._read_forever, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_forever(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


@pytest.fixture
def stalled() -> Iterator[StalledServer]:
    server = StalledServer()
    yield server
    server.close()


def _messages(text: str) -> Any:
    return [{"role": "user", "content": text}]


def _text(message: Any) -> str:
    """The text of an Anthropic message's first content block."""
    return str(message.content[0].text)


def returned_by_create(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every object the provider's own ``Messages.create`` returns from now on, in order."""
    from anthropic.resources.messages import Messages

    returned: list[Any] = []
    original_create = Messages.create

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original_create(self, *args, **kwargs)
        returned.append(result)
        return result

    monkeypatch.setattr(Messages, "create", spy)
    return returned


# -- semantic 7: never block ------------------------------------------------------------


def test_a_stalled_server_never_blocks_sessions_or_instrumented_calls(
    stalled: StalledServer, fake_provider: FakeProvider
) -> None:
    """With the server accepting but never answering, a session of 100 turns and LLM calls
    finishes far within the client's timeout, and the host sees no exception."""
    recorder = ProvenantClient(
        base_url=stalled.url, api_key=_KEY, timeout=5, agent_id="Stalled Bot"
    )
    client = provenant.instrument(anthropic_client(fake_provider), provenant=recorder)
    started = time.monotonic()
    with recorder.session() as session:
        for n in range(100):
            session.add_turn("USER", f"turn {n}")
        for n in range(3):
            reply = client.messages.create(model=MODEL, max_tokens=9, messages=_messages(str(n)))
            assert _text(reply) == f"You said: {n}"
        stream = client.messages.create(
            model=MODEL, max_tokens=9, messages=_messages("streamed"), stream=True
        )
        assert len(list(stream)) > 3
    elapsed = time.monotonic() - started
    # Unconstrained, the stalled create alone would hold a caller for the 5 s timeout.
    deadline = time.monotonic() + 2
    while stalled.accepted == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    recorder.shutdown(timeout=0.1)
    accepted = stalled.accepted
    # The worker is still stuck in its read: end it now, so that its drops are counted and
    # logged within this test, not in the next one's fault log.
    stalled.close()
    for lane in recorder._tracer._processor._lanes:
        if lane.thread is not None:
            lane.thread.join(10)
    assert accepted >= 1  # the worker really was stuck on the stalled server
    assert elapsed < 1.0
    assert len(fake_provider.received()) == 4


# -- semantic 6: a fault inside the SDK ---------------------------------------------------


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected extraction fault")


@pytest.fixture
def fresh_fault_log() -> Iterator[None]:
    """Fault logging with no kind seen yet (and none left seen for the next tests)."""
    _logging._reset_for_tests()
    yield
    _logging._reset_for_tests()


@pytest.mark.usefixtures("in_memory_queue")
@pytest.mark.usefixtures("fresh_fault_log")
def test_a_fault_reading_replies_never_changes_what_the_caller_gets(
    fake_provider: FakeProvider,
    provenant_client: ProvenantClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the reply extractors raising, plain, streamed and failing calls give the provider's
    own objects, chunks and exceptions, and each fault kind logs one line over 20 calls."""
    returned = returned_by_create(monkeypatch)
    raw = anthropic_client(fake_provider)
    # Reference chunks and error from an uninstrumented client.
    fake_provider.script(Reply(text="one two three four"))
    expected_chunks = [
        (type(c), c.model_dump(exclude={"message"}))
        for c in raw.messages.create(
            model=MODEL, max_tokens=9, messages=_messages("s"), stream=True
        )
    ]
    fake_provider.script(Reply(status=500, error_message="provider down"))
    with pytest.raises(anthropic.InternalServerError) as raw_error:
        raw.messages.create(model=MODEL, max_tokens=9, messages=_messages("e"))

    client = provenant.instrument(
        anthropic_client(fake_provider), provenant=provenant_client, agent_id="Faulty Bot"
    )
    created = record_created_errors(monkeypatch, anthropic.Anthropic)
    # What reads a reply's content, a stream's chunks, and a provider error.
    monkeypatch.setattr(_anthropic_extract, "_assistant", _boom)
    monkeypatch.setattr(_anthropic_extract.StreamAccumulator, "observe", _boom)
    monkeypatch.setattr(_call, "_error_info", _boom)
    with caplog.at_level(logging.DEBUG, logger="provenant"):
        for n in range(20):
            returned.clear()
            result = client.messages.create(
                model=MODEL, max_tokens=9, messages=_messages(f"plain {n}")
            )
            assert returned == [result] and result is returned[0]
            assert type(result) is anthropic.types.Message
            assert _text(result) == f"You said: plain {n}"

            fake_provider.script(Reply(text="one two three four"))
            stream = client.messages.create(
                model=MODEL, max_tokens=9, messages=_messages("s"), stream=True
            )
            assert is_provider_stream(stream, anthropic.Stream)
            chunks = [(type(c), c.model_dump(exclude={"message"})) for c in stream]
            assert chunks == expected_chunks  # message_start's ids aside, chunk for chunk

            fake_provider.script(Reply(status=500, error_message="provider down"))
            with pytest.raises(anthropic.InternalServerError) as error:
                client.messages.create(model=MODEL, max_tokens=9, messages=_messages("e"))
            assert_same_provider_error(error.value, raw_error.value)
            created.assert_raised_as_created(error.value)
            assert error.value.status_code == 500
        provenant_client.flush(10)
    lines = [r.getMessage() for r in caplog.records if r.name == "provenant"]
    kinds = _logging.fault_counts()
    assert lines and len(lines) == len(kinds), (lines, kinds)  # one line per kind of fault
    assert sum(kinds.values()) >= 60, kinds  # yet every faulty call was counted


# -- exporter: Retry-After -------------------------------------------------------------


def test_a_429_with_retry_after_is_retried_no_sooner_and_stored_once(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """A write answered 429 Retry-After: 1 is sent again at least 1 s later, and stored once."""
    proxy = FaultProxy(int(provenant_server.url.rsplit(":", 1)[1]))
    proxy.plan = ["429:1"]
    client = ProvenantClient(
        base_url=proxy.url,
        api_key=provenant_api_key,
        exporter_workers=1,
    )
    try:
        reader = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
        agent = reader.create_agent("Limited Bot")
        # A UUID agent: the session's create is the first write (no name lookup).
        with client.session(agent["id"], external_id="limited") as session:
            session.add_turn("USER", "only once")
        assert client.shutdown(timeout=10)
    finally:
        proxy.close()
    arrivals = [(at, line, key) for (line, key), at in zip(proxy.seen, proxy.seen_at)]
    first_time, first_line, first_key = arrivals[0]
    retries = [a for a in arrivals[1:] if a[2] == first_key]
    assert first_line.startswith("POST") and first_key and retries
    assert retries[0][0] - first_time >= 1.0
    assert client.stats()["retried"] == 1
    try:
        [summary] = reader.list_sessions()
        stored = reader.get_session(summary["id"])
    finally:
        reader.shutdown()
    assert stored["externalId"] == "limited"
    assert [t["content"] for t in stored["turns"]] == ["only once"]


def test_a_fault_recording_a_failed_stream_helper_request_never_replaces_its_error(
    fake_provider: FakeProvider, provenant_client: ProvenantClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """messages.stream(...) answered 500 raises the provider's own error even when recording
    that failure faults."""
    client = provenant.instrument(
        anthropic_client(fake_provider), provenant=provenant_client, agent_id="Faulty Bot"
    )
    monkeypatch.setattr(_call.LlmCall, "fail", _boom)
    fake_provider.script(Reply(status=500, error_message="provider down"))
    manager = client.messages.stream(model=MODEL, max_tokens=9, messages=_messages("s"))
    with pytest.raises(anthropic.InternalServerError, match="provider down"), manager as stream:
        stream.until_done()


# -- Azure and Vertex variants -----------------------------------------------------------


def test_an_azure_openai_client_records_its_chat_call(
    fake_provider: FakeProvider, provenant_client: ProvenantClient, recorded: Callable[[], Any]
) -> None:
    """An instrumented AzureOpenAI client (deployment path, api-version) records its chat call."""
    azure = openai.AzureOpenAI(
        azure_endpoint=fake_provider.url, api_key="k", api_version="2024-06-01", max_retries=0
    )
    closed_after_test(azure)
    provenant.instrument(azure, provenant=provenant_client, agent_id="Azure Bot")
    reply = azure.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi azure"}]
    )
    assert reply.choices[0].message.content == "You said: hi azure"
    [request] = fake_provider.received()
    assert request.path == "/openai/deployments/gpt-test/chat/completions"
    [stored] = recorded()
    assert [(t["role"], t["content"]) for t in stored["turns"]] == [
        ("USER", "hi azure"),
        ("ASSISTANT", "You said: hi azure"),
    ]
    assert stored["turns"][1]["metadata"]["provider"] == "openai"


def test_an_anthropic_vertex_client_records_its_call(
    fake_provider: FakeProvider, provenant_client: ProvenantClient, recorded: Callable[[], Any]
) -> None:
    """An instrumented AnthropicVertex client records its messages.create call."""
    vertex = anthropic.AnthropicVertex(
        project_id="project",
        region="us-east5",
        access_token="token",
        base_url=fake_provider.url,
        max_retries=0,
    )
    closed_after_test(vertex)
    assert provenant.instrument(vertex, provenant=provenant_client, agent_id="Vertex Bot") is vertex
    reply = vertex.messages.create(model=MODEL, max_tokens=9, messages=_messages("hi vertex"))
    assert _text(reply) == "You said: hi vertex"
    [request] = fake_provider.received()
    assert request.path.endswith(f"/publishers/anthropic/models/{MODEL}:rawPredict")
    [stored] = recorded()
    assert [(t["role"], t["content"]) for t in stored["turns"]] == [
        ("USER", "hi vertex"),
        ("ASSISTANT", "You said: hi vertex"),
    ]


# -- sampling and flush ------------------------------------------------------------------


def test_an_llm_call_in_an_unsampled_session_records_nothing(
    fake_provider: FakeProvider,
    provenant_server: LocalServer,
    provenant_api_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With sample_rate=0, an instrumented call inside a session returns the provider's own
    object (a plain stream for a stream) and nothing at all is recorded."""
    returned = returned_by_create(monkeypatch)
    unsampled = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_api_key, sample_rate=0
    )
    client = provenant.instrument(
        anthropic_client(fake_provider), provenant=unsampled, agent_id="Unsampled Bot"
    )
    with unsampled.session("Unsampled Bot") as session:
        session.add_turn("USER", "not kept")
        reply = client.messages.create(model=MODEL, max_tokens=9, messages=_messages("hi"))
        stream = client.messages.create(
            model=MODEL, max_tokens=9, messages=_messages("s"), stream=True
        )
        assert type(stream) is anthropic.Stream  # not even a recording proxy
        assert len(list(stream)) > 3
    assert returned == [reply, stream] and reply is returned[0] and stream is returned[1]
    assert _text(reply) == "You said: hi"
    assert unsampled.shutdown(timeout=10)
    assert unsampled.stats()["enqueued"] == 0
    reader = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    try:
        assert reader.list_sessions() == [] and reader.list_agents() == []
    finally:
        reader.shutdown()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.usefixtures("in_memory_queue")
def test_flush_is_false_when_events_were_dropped() -> None:
    """flush() returns False when events were dropped instead of delivered."""
    client = ProvenantClient(
        base_url=_closed_port_url(), api_key=_KEY, agent_id="Bot", max_delivery_attempts=1
    )
    try:
        with client.session() as session:
            session.add_turn("USER", "dropped")
        delivered = client.flush(5)
        stats = client.stats()
    finally:
        client.shutdown(timeout=1)
    assert stats["queue_depth"] == 0 and sum(stats["dropped"].values()) == 3
    assert stats["delivered"] == 0
    assert delivered is False
