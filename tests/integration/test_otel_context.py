"""OpenTelemetry export: the current context across handles, tasks, threads and generators."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

import anthropic
import pytest
from opentelemetry import trace
from otel_spans import Spans, needs_anthropic_otel, parent_of

import provenant
from provenant._fake_provider import FakeProvider, Reply
from provenant.client import ProvenantClient

MODEL = "claude-test"


@pytest.fixture
def prov(spans: Spans, provenant_server: Any, provenant_api_key: str) -> Iterator[ProvenantClient]:
    client = ProvenantClient(
        base_url=provenant_server.url,
        api_key=provenant_api_key,
        otel=spans.provider,
        agent_id="Default Bot",
    )
    yield client
    client.shutdown(10)


def no_current_span() -> bool:
    return not trace.get_current_span().get_span_context().is_valid


@needs_anthropic_otel
def test_a_call_outside_any_session_is_one_small_trace(
    spans: Spans, prov: ProvenantClient, fake_provider: FakeProvider
) -> None:
    """A call outside any session gives invoke_agent > chat > anthropic's span, then no context."""
    fake_provider.script(Reply(text="one"), Reply(text="two"))
    client = provenant.instrument(
        anthropic.Anthropic(
            base_url=fake_provider.url,
            api_key="k",
            max_retries=0,
            open_telemetry={"tracer_provider": spans.provider},
        ),
        provenant=prov,
    )
    ask = [{"role": "user", "content": "Hi"}]
    client.messages.create(model=MODEL, max_tokens=10, messages=ask)
    assert no_current_span()
    stream = client.messages.create(model=MODEL, max_tokens=10, messages=ask, stream=True)
    assert no_current_span()
    list(stream)
    assert no_current_span()
    client.close()

    roots = [span for span in spans.all() if span.name == "invoke_agent Default Bot"]
    chats = [span for span in spans.all() if span.name == f"chat {MODEL}"]
    owns = [span for span in spans.all() if span.name == "anthropic.messages.create"]
    assert len(roots) == len(chats) == len(owns) == 2
    for root, chat, own in zip(roots, chats, owns):
        assert root.parent is None
        assert parent_of(chat) == root.context.span_id
        assert parent_of(own) == chat.context.span_id
    assert roots[0].context.trace_id != roots[1].context.trace_id


def test_a_started_handle_is_current_only_inside_its_blocks(
    spans: Spans, prov: ProvenantClient
) -> None:
    """start_session() makes no span current; `with handle:` does so for its block only."""
    handle = prov.start_session("Handle Bot")
    assert no_current_span()
    with spans.host.start_as_current_span("outside"):
        pass
    with handle, spans.host.start_as_current_span("inside"):
        pass
    assert no_current_span()
    handle.end()

    root = spans.named("invoke_agent Handle Bot")
    assert spans.named("outside").parent is None
    assert parent_of(spans.named("inside")) == root.context.span_id


def test_concurrent_sessions_in_tasks_keep_their_own_traces(
    spans: Spans, prov: ProvenantClient
) -> None:
    """Two sessions in concurrent asyncio tasks give two traces, each step under its own session."""

    @prov.trace(kind="step")
    async def step(tag: str) -> None:
        await asyncio.sleep(0.01)
        with spans.host.start_as_current_span(f"host {tag}"):
            await asyncio.sleep(0.01)

    async def conversation(tag: str) -> None:
        async with prov.session(f"Bot {tag}"):
            await step(tag)
            await step(tag)

    async def main() -> None:
        await asyncio.gather(conversation("a"), conversation("b"))
        assert no_current_span()

    asyncio.run(main())
    for tag in ("a", "b"):
        root = spans.named(f"invoke_agent Bot {tag}")
        hosts = [span for span in spans.all() if span.name == f"host {tag}"]
        assert len(hosts) == 2
        for host in hosts:
            assert host.context.trace_id == root.context.trace_id
            steps = {s.context.span_id: s for s in spans.all() if s.name.endswith("step")}
            owner = steps[parent_of(host) or 0]
            assert parent_of(owner) == root.context.span_id
    assert (
        spans.named("invoke_agent Bot a").context.trace_id
        != spans.named("invoke_agent Bot b").context.trace_id
    )


def test_threads_get_the_context_through_the_propagation_helpers(
    spans: Spans, prov: ProvenantClient
) -> None:
    """A traced step run in provenant.ThreadPoolExecutor is a child of the submitting session."""

    @prov.trace(kind="step")
    def work() -> None:
        with spans.host.start_as_current_span("in thread"):
            pass

    with prov.session("Thread Bot"), provenant.ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda _: work(), range(2)))

    root = spans.named("invoke_agent Thread Bot")
    works = [span for span in spans.all() if span.name.endswith("work")]
    assert len(works) == 2
    assert all(parent_of(span) == root.context.span_id for span in works)
    in_thread = [span for span in spans.all() if span.name == "in thread"]
    assert {parent_of(span) for span in in_thread} == {span.context.span_id for span in works}


def test_a_traced_generator_restores_the_context(spans: Spans, prov: ProvenantClient) -> None:
    """A traced generator's span ends when exhausted, and the context after it is the session's."""

    @prov.trace(kind="step")
    def numbers() -> Iterator[int]:
        yield 1
        yield 2

    with prov.session("Gen Bot"):
        assert list(numbers()) == [1, 2]
        with spans.host.start_as_current_span("after"):
            pass
    assert no_current_span()

    root = spans.named("invoke_agent Gen Bot")
    gen = spans.ending("numbers")
    assert parent_of(gen) == root.context.span_id
    assert parent_of(spans.named("after")) == root.context.span_id


def test_a_generator_span_is_current_only_while_its_own_code_runs(
    spans: Spans, prov: ProvenantClient
) -> None:
    """Host spans inside a traced generator nest under it; those of its consumer do not."""

    @prov.trace(kind="step")
    def produce() -> Iterator[int]:
        for n in range(3):
            with spans.host.start_as_current_span(f"produce {n}"):
                pass
            yield n

    with prov.session("Stream Bot"):
        for n in produce():
            with spans.host.start_as_current_span(f"consume {n}"):
                pass
            if n == 1:
                break  # closes the generator early
    assert no_current_span()

    root = spans.named("invoke_agent Stream Bot")
    gen = spans.ending("produce")
    assert [parent_of(spans.named(f"produce {n}")) for n in range(2)] == [gen.context.span_id] * 2
    assert [parent_of(spans.named(f"consume {n}")) for n in range(2)] == [root.context.span_id] * 2


def test_an_async_generator_span_is_current_only_while_its_own_code_runs(
    spans: Spans, prov: ProvenantClient
) -> None:
    """Host spans inside a traced async generator nest under it; its consumer's do not."""

    @prov.trace(kind="step")
    async def produce() -> Any:
        for n in range(2):
            with spans.host.start_as_current_span(f"produce {n}"):
                await asyncio.sleep(0)
            yield n

    async def main() -> None:
        async with prov.session("Async Stream Bot"):
            async for n in produce():
                with spans.host.start_as_current_span(f"consume {n}"):
                    pass

    asyncio.run(main())
    root = spans.named("invoke_agent Async Stream Bot")
    gen = spans.ending("produce")
    assert [parent_of(spans.named(f"produce {n}")) for n in range(2)] == [gen.context.span_id] * 2
    assert [parent_of(spans.named(f"consume {n}")) for n in range(2)] == [root.context.span_id] * 2


def test_a_child_session_of_another_agent_is_a_child_span(
    spans: Spans, prov: ProvenantClient
) -> None:
    """A session of another agent opened inside a session is a child span in the same trace."""
    with prov.session("Outer Bot"), prov.session("Inner Bot"):
        pass

    outer = spans.named("invoke_agent Outer Bot")
    inner = spans.named("invoke_agent Inner Bot")
    assert parent_of(inner) == outer.context.span_id
    assert inner.context.trace_id == outer.context.trace_id
    assert inner.attributes["gen_ai.conversation.id"] != outer.attributes["gen_ai.conversation.id"]


def test_a_traced_entrypoint_opens_a_session_span(spans: Spans, prov: ProvenantClient) -> None:
    """A traced function called outside any session gives invoke_agent > its own span."""

    @prov.trace(agent_id="Entry Bot")
    def handle(question: str) -> str:
        with spans.host.start_as_current_span("inside"):
            return question.upper()

    assert handle("hi") == "HI"
    assert no_current_span()
    root = spans.named("invoke_agent Entry Bot")
    entry = spans.ending("handle")
    assert parent_of(entry) == root.context.span_id
    assert parent_of(spans.named("inside")) == entry.context.span_id
    # Only the session is an agent invocation; the function keeps its name.
    assert "gen_ai.operation.name" not in (entry.attributes or {})
    assert "handle" in str((entry.attributes or {})["code.function.name"])
