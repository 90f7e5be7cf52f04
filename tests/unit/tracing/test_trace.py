"""@trace: functions, coroutines, generators, methods, tools, spans and context restoration."""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import logging
from typing import Any, AsyncGenerator, AsyncIterator, Callable, Generator, Iterator

import pytest

from provenant import _logging
from provenant.client import ProvenantClient
from provenant.tracing import Span, current_session, current_span
from provenant.tracing._context import current_span_path
from provenant.tracing._transcript import NormalizedMessage

Sessions = Callable[[], "list[dict[str, Any]]"]


class _Recorder:
    """An observer keeping every span it is told about."""

    def __init__(self) -> None:
        self.started: list[Span] = []
        self.ended: list[Span] = []

    def on_start(self, span: Span) -> None:
        self.started.append(span)

    def on_end(self, span: Span) -> None:
        self.ended.append(span)


def test_trace_keeps_name_docstring_signature_and_wrapped(client: ProvenantClient) -> None:
    """A traced function keeps its name, docstring, signature and __wrapped__."""

    def original(a: int, b: str = "x") -> str:
        """Doc of original."""
        return b * a

    traced = client.trace(original)
    assert traced.__name__ == "original" and traced.__doc__ == "Doc of original."
    assert traced.__wrapped__ is original  # type: ignore[attr-defined]
    assert inspect.signature(traced) == inspect.signature(original)

    async def coro() -> None:
        pass

    def gen() -> Iterator[int]:
        yield 1

    async def agen() -> AsyncIterator[int]:
        yield 1

    assert inspect.iscoroutinefunction(client.trace(coro))
    assert inspect.isgeneratorfunction(client.trace(gen))
    assert inspect.isasyncgenfunction(client.trace(agen))


def test_a_name_or_agent_of_the_wrong_type_raises_at_decoration(client: ProvenantClient) -> None:
    """@trace(name=..., agent_id=...) takes text: anything else raises when decorating."""
    with pytest.raises(TypeError, match=r"^trace\(\): name must be a str or None, not int"):
        client.trace(name=12)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^trace\(\): agent_id must be a str or None, not"):
        client.trace(agent_id=["Bot"])  # type: ignore[arg-type]


def test_top_level_trace_opens_a_session_with_its_input(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """A traced call outside any session opens one; its captured input is the session metadata."""

    @client.trace
    def answer(question: str, *, loud: bool = False) -> str:
        session = current_session()
        assert session is not None
        session.add_turn("USER", question)
        return question.upper() if loud else question

    assert answer("why?", loud=True) == "WHY?"
    assert current_session() is None
    client.shutdown()
    [stored] = recorded()
    assert stored["metadata"]["input"] == {"question": "why?", "loud": True}
    assert stored["status"] == "COMPLETED"
    assert [t["content"] for t in stored["turns"]] == ["why?"]
    assert "span" not in stored["turns"][0]["metadata"]


def test_nested_traces_join_and_travel_as_the_span_path(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """Spans are not turns: traced calls inside a session only give turns their span path."""

    @client.trace(kind="step", name="plan")
    def plan() -> None:
        search()

    @client.trace(kind="step")
    def search() -> None:
        assert current_span_path() == ["plan", "search"]
        session = current_session()
        assert session is not None
        session.add_turn("ASSISTANT", "found it")

    with client.session():
        plan()
    client.shutdown()
    [stored] = recorded()
    [turn] = stored["turns"]
    assert turn["metadata"]["span"] == ["plan", "search"]


def test_tool_records_a_tool_turn_and_notes_the_result(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """kind="tool" records a TOOL turn with name, bound args, result and latency."""

    @client.trace(kind="tool")
    def weather(city: str, unit: str = "C") -> dict[str, Any]:
        return {"city": city, "temp": 21, "unit": unit}

    with client.session() as session:
        assert weather("Paris") == {"city": "Paris", "temp": 21, "unit": "C"}
        # The result is noted in the session's event order, by the exporter's worker.
        assert client.flush(5)
        sent_back = [
            NormalizedMessage("USER", "weather?"),
            NormalizedMessage("TOOL", json.dumps({"city": "Paris", "temp": 21, "unit": "C"})),
        ]
        _, new = session.transcript.select_new(None, sent_back)
        assert [m.role for m in new] == ["USER"]
    client.shutdown()
    [turn] = recorded()[0]["turns"]
    assert turn["role"] == "TOOL"
    assert turn["content"] == {"city": "Paris", "temp": 21, "unit": "C"}
    assert turn["metadata"]["toolName"] == "weather"
    assert turn["metadata"]["toolInput"] == {"city": "Paris"}
    assert isinstance(turn["latencyMs"], int)


def test_a_failing_tool_records_the_error_and_raises_unchanged(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """A tool that raises records a TOOL turn with the error; the exception propagates as is."""
    error = LookupError("no such city")

    @client.trace(kind="tool", name="weather")
    def weather(city: str) -> str:
        raise error

    with client.session():
        with pytest.raises(LookupError) as caught:
            weather("Atlantis")
        assert caught.value is error
    client.shutdown()
    [stored] = recorded()
    assert stored["status"] == "COMPLETED"
    [turn] = stored["turns"]
    assert turn["metadata"]["error"] == "LookupError: no such city"


def test_a_traced_call_that_raises_fails_its_own_session(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """A traced entrypoint that raises ends its session FAILED and re-raises the same object."""
    error = ValueError("bad")

    @client.trace
    def entry() -> None:
        raise error

    with pytest.raises(ValueError) as caught:
        entry()
    assert caught.value is error and current_span() is None
    client.shutdown()
    assert recorded()[0]["status"] == "FAILED"


def test_trace_with_another_agent_opens_a_child_session(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """@trace(agent_id=X) inside a session of another agent opens a child session of X."""

    @client.trace(agent_id="Helper")
    def helper() -> None:
        session = current_session()
        assert session is not None
        session.add_turn("USER", "helping")

    with client.session("Bot") as parent:
        helper()
        assert current_session() is parent
    client.shutdown()
    by_agent = {s["agent"]["name"]: s for s in recorded()}
    assert by_agent["Helper"]["metadata"]["parentSessionId"] == by_agent["Bot"]["id"]
    assert [t["content"] for t in by_agent["Helper"]["turns"]] == ["helping"]


def test_methods_static_and_class_methods(client: ProvenantClient, recorded: Sessions) -> None:
    """Methods, static methods and class methods are traced, self and cls left out of input."""

    class Agent:
        factor = 3

        @client.trace(kind="tool")
        def method(self, x: int) -> int:
            return x * 2

        @client.trace(kind="tool")
        @staticmethod
        def static(x: int) -> int:
            return x + 1

        @client.trace(kind="tool")
        @classmethod
        def klass(cls, x: int) -> int:
            return x * cls.factor

    with client.session():
        agent = Agent()
        assert (agent.method(2), Agent.static(2), Agent.klass(2), agent.klass(1)) == (4, 3, 6, 3)
    client.shutdown()
    turns = recorded()[0]["turns"]
    assert [t["metadata"]["toolInput"] for t in turns] == [{"x": 2}, {"x": 2}, {"x": 2}, {"x": 1}]


def test_async_function_is_traced(client: ProvenantClient, recorded: Sessions) -> None:
    """An async traced function opens its session and keeps it across awaits."""

    @client.trace
    async def entry(n: int) -> int:
        session = current_session()
        await asyncio.sleep(0)
        assert current_session() is session and session is not None
        session.add_turn("USER", f"n={n}")
        return n * 2

    assert asyncio.run(entry(4)) == 8
    client.shutdown()
    [stored] = recorded()
    assert stored["metadata"]["input"] == {"n": 4}
    assert [t["content"] for t in stored["turns"]] == ["n=4"]


def test_generator_keeps_its_span_without_leaking_it(client: ProvenantClient) -> None:
    """A traced generator's span is current while it runs and never between its yields."""
    seen: list[Any] = []

    @client.trace(kind="step", name="produce")
    def produce() -> Iterator[int]:
        for i in range(3):
            seen.append(current_span_path())
            yield i

    with client.session() as session:
        outer = current_span()
        for item in produce():
            assert current_span() is outer
            session.add_turn("USER", str(item))
    client.shutdown()
    assert seen == [["produce"]] * 3


def test_generator_return_value_send_and_throw_pass_through(client: ProvenantClient) -> None:
    """send(), throw() and the return value reach the traced generator unchanged."""

    @client.trace(kind="step")
    def echo() -> Generator[Any, Any, str]:
        received = yield "ready"
        try:
            yield f"got {received}"
        except KeyError:
            yield "caught"
        return "done"

    def consume() -> Any:
        gen = echo()
        assert next(gen) == "ready"
        assert gen.send("x") == "got x"
        assert gen.throw(KeyError("k")) == "caught"
        with pytest.raises(StopIteration) as stop:
            next(gen)
        return stop.value.value

    with client.session():
        assert consume() == "done"


@pytest.mark.parametrize("how", ["break", "close", "gc"])
def test_broken_off_generator_ends_its_span_cancelled(client: ProvenantClient, how: str) -> None:
    """A generator broken off by break, close() or garbage collection ends its span cancelled."""
    observer = _Recorder()
    client._tracer.add_observer(observer)
    finished: list[bool] = []

    @client.trace(kind="step", name="numbers")
    def numbers() -> Generator[int, None, None]:
        try:
            yield from range(10)
        finally:
            finished.append(True)

    with client.session():
        gen = numbers()
        if how == "break":
            for item in gen:
                if item == 2:
                    break
            gen.close()
        else:
            next(gen)
            if how == "close":
                gen.close()
            else:
                del gen
                gc.collect()
        outer = current_span()
        assert outer is not None and outer.kind == "session"
    client.shutdown()
    [span] = [s for s in observer.ended if s.name == "numbers"]
    assert span.status == "cancelled" and finished == [True]


def test_async_generator_keeps_its_span_and_aclose_cancels(client: ProvenantClient) -> None:
    """A traced async generator keeps its span across yields; aclose() ends it cancelled."""
    observer = _Recorder()
    client._tracer.add_observer(observer)

    @client.trace(kind="step", name="stream")
    async def stream() -> AsyncGenerator[int, None]:
        for i in range(5):
            assert current_span_path() == ["stream"]
            await asyncio.sleep(0)
            yield i

    async def main() -> list[int]:
        got = []
        async with client.session():
            outer = current_span()
            agen = stream()
            async for item in agen:
                assert current_span() is outer
                got.append(item)
                if item == 1:
                    break
            await agen.aclose()
        return got

    assert asyncio.run(main()) == [0, 1]
    client.shutdown()
    [span] = [s for s in observer.ended if s.name == "stream"]
    assert span.status == "cancelled"


def test_observers_see_session_span_before_the_create_and_every_span(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """on_start of a session's root span runs before its create, so it may add metadata."""

    class Tagger(_Recorder):
        def on_start(self, span: Span) -> None:
            super().on_start(span)
            if span.kind == "session":
                span.session.metadata["otelTraceId"] = "abc"

    observer = Tagger()
    client._tracer.add_observer(observer)

    @client.trace
    def entry(x: int) -> int:
        return step(x)

    @client.trace(kind="step")
    def step(x: int) -> int:
        return x + 1

    assert entry(1) == 2
    client.shutdown()
    [stored] = recorded()
    assert stored["metadata"]["otelTraceId"] == "abc"
    kinds = [(s.kind, s.name.split(".")[-1]) for s in observer.started]
    assert kinds == [("session", "invoke_agent Bot"), ("agent", "entry"), ("step", "step")]
    by_name = {s.name.split(".")[-1]: s for s in observer.ended}
    assert by_name["step"].parent is by_name["entry"] and by_name["step"].input == {"x": 1}
    assert by_name["step"].output == 2 and by_name["step"].end_time_ns is not None
    assert by_name["entry"].attributes["function"].endswith("entry")


def test_an_observer_that_raises_never_reaches_the_host(client: ProvenantClient) -> None:
    """A failing observer is logged and the traced code runs on."""

    class Broken:
        def on_start(self, span: Span) -> None:
            raise RuntimeError("observer bug")

        def on_end(self, span: Span) -> None:
            raise RuntimeError("observer bug")

    client._tracer.add_observer(Broken())

    @client.trace
    def entry() -> str:
        return "fine"

    assert entry() == "fine"


def test_trace_without_any_agent_runs_unrecorded_and_says_why(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A traced entrypoint with no agent anywhere returns its result unrecorded and logs
    a warning naming it (a decorator never turns a working program into a failing one)."""
    bare = ProvenantClient(base_url=db_url)
    _logging._reset_for_tests()

    @bare.trace
    def entry() -> str:
        return "fine"

    try:
        with caplog.at_level(logging.WARNING, logger="provenant"):
            assert entry() == "fine"
        assert bare.flush(10)
        assert bare.stats()["enqueued"] == 0
    finally:
        bare.shutdown()
        _logging._reset_for_tests()
    assert any("entry" in r.getMessage() and "no agent" in r.getMessage() for r in caplog.records)


def test_a_cancelled_traced_coroutine_ends_its_session_cancelled(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """A traced coroutine cancelled while it runs ends its session CANCELLED and re-raises."""
    started: list[bool] = []

    @client.trace
    async def entry() -> None:
        started.append(True)
        await asyncio.sleep(60)

    async def main() -> None:
        task = asyncio.ensure_future(entry())
        while not started:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    client.shutdown()
    assert recorded()[0]["status"] == "CANCELLED"


def test_a_broken_off_generator_that_opened_a_session_ends_it_cancelled(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """A traced generator that opened its session and is closed early ends it CANCELLED."""

    @client.trace
    def numbers() -> Generator[int, None, None]:
        session = current_session()
        assert session is not None
        for i in range(10):
            session.add_turn("USER", str(i))
            yield i

    for item in numbers():
        if item == 1:
            break
    gc.collect()
    client.shutdown()
    [stored] = recorded()
    assert stored["status"] == "CANCELLED"
    assert [t["content"] for t in stored["turns"]] == ["0", "1"]


def test_current_span_inside_a_joined_call_is_built_once_with_its_parents(
    client: ProvenantClient,
) -> None:
    """current_span() in a traced call gives one stable span whose parents lead to the root."""
    seen: dict[str, Any] = {}

    @client.trace(kind="step", name="outer")
    def outer() -> None:
        inner()

    @client.trace(kind="step", name="inner")
    def inner() -> None:
        span = current_span()
        assert span is not None and current_span() is span
        seen["span"] = span
        seen["llm"] = client._tracer.start_span("chat", kind="llm")

    with client.session() as session:
        outer()
        root = current_span()
    client.shutdown()
    span = seen["span"]
    assert (span.name, span.kind, span.session) == ("inner", "step", session)
    assert span.parent.name == "outer" and span.parent.parent is root
    assert seen["llm"].parent is span
