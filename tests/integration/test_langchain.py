"""The LangChain / LangGraph integration: real chat models and graphs on the fake provider."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Callable, Iterator

import openai
import pytest

pytest.importorskip("langchain_core")  # Python >= 3.10 (see pyproject.toml)
from langchain_anthropic import ChatAnthropic
from langchain_anthropic import _client_utils as anthropic_clients
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langchain_openai.chat_models import _client_utils as openai_clients
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

import provenant
from provenant._fake_provider import FakeProvider, RecordedRequest, Reply, ToolCall
from provenant._logging import fault_counts
from provenant.client import ProvenantClient
from provenant.integrations import langchain as prov_langchain
from provenant.integrations.langchain import ProvenantCallbackHandler
from provenant.server import LocalServer


@pytest.fixture
def handler(provenant_client: ProvenantClient) -> Iterator[ProvenantCallbackHandler]:
    handler = ProvenantCallbackHandler(provenant=provenant_client)
    yield handler
    handler.close()


@tool
def get_weather(city: str) -> str:
    """The weather of a city."""
    return f"Sunny in {city}"


@tool
def broken_lookup(order: str) -> str:
    """Look an order up."""
    raise RuntimeError(f"no order {order}")


_LLMS: list[Any] = []


def make_llm(provider: str, fake: FakeProvider) -> Any:
    llm: Any
    if provider == "anthropic":
        llm = ChatAnthropic(
            model_name="claude-test", base_url=fake.url, api_key="k", max_retries=0, timeout=30
        )
    else:
        llm = ChatOpenAI(
            model="gpt-test",
            base_url=fake.openai_base_url,
            api_key="k",
            max_retries=0,
            stream_usage=True,
        )
    _LLMS.append(llm)
    return llm


class AsyncClients:
    """Closes the async provider clients of the test's chat models on the test's loop:
    LangChain caches one per base URL process-wide, and a test's loop ends with it."""

    async def close(self) -> None:
        for llm in _LLMS:
            client = llm._async_client if isinstance(llm, ChatAnthropic) else llm.root_async_client
            await client.close()


@pytest.fixture(autouse=True)
def _provider_clients() -> Iterator[None]:
    yield
    while _LLMS:
        llm = _LLMS.pop()
        (llm._client if isinstance(llm, ChatAnthropic) else llm.root_client).close()
    # A closed client must not be handed to the next test's models.
    anthropic_clients._get_default_httpx_client.cache_clear()
    anthropic_clients._get_default_async_httpx_client.cache_clear()
    openai_clients._cached_sync_httpx_client.cache_clear()
    openai_clients._cached_async_httpx_client.cache_clear()


def react_graph(llm: Any, tools: list[Any], *, handle_tool_errors: Any = True) -> Any:
    """A ReAct-style graph: the model node, a tool node, back to the model."""
    bound = llm.bind_tools(tools)

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [bound.invoke(state["messages"])]}

    async def aagent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await bound.ainvoke(state["messages"])]}

    from langchain_core.runnables import RunnableLambda

    builder = StateGraph(MessagesState)
    builder.add_node("agent", RunnableLambda(agent, afunc=aagent))
    builder.add_node("tools", ToolNode(tools, handle_tool_errors=handle_tool_errors))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=InMemorySaver())


async def invoke(mode: str, graph: Any, inputs: Any, config: Any) -> Any:
    """Run the graph the way ``mode`` says; return its final messages' last text."""
    if mode == "invoke":
        return (await asyncio.to_thread(graph.invoke, inputs, config))["messages"][-1]
    if mode == "ainvoke":
        return (await graph.ainvoke(inputs, config))["messages"][-1]
    if mode == "stream":

        def drain() -> None:
            for _ in graph.stream(inputs, config, stream_mode="messages"):
                pass

        await asyncio.to_thread(drain)
    elif mode == "astream":
        async for _ in graph.astream(inputs, config, stream_mode="messages"):
            pass
    else:
        async for _ in graph.astream_events(inputs, config, version="v2"):
            pass
    state = await graph.aget_state(config)
    return state.values["messages"][-1]


def summary(session: dict[str, Any]) -> list[tuple[str, Any]]:
    rows = []
    for turn in session["turns"]:
        what = [c["name"] for c in turn["toolCalls"]] or turn["content"]
        rows.append((turn["role"], what))
    return rows


QUESTIONS = ["Weather in Paris?", "And in Rome?", "Thanks!"]


def script_weather(fake: FakeProvider, city: str) -> None:
    fake.script(
        Reply(text="", tool_calls=[ToolCall("get_weather", {"city": city})]),
        Reply(text=f"It is sunny in {city}."),
    )


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "stream", "astream", "astream_events"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_three_messages_on_one_thread_are_one_session(
    mode, provider, handler, fake_provider, recorded, h
):
    """A ReAct graph over 3 user messages on one thread_id: one session, exactly 3 USER
    turns, every tool call and result once, in order."""
    llm = make_llm(provider, fake_provider)
    graph = react_graph(llm, [get_weather])
    config = {"configurable": {"thread_id": "chat-1"}, "callbacks": [handler]}
    cities = ["Paris", "Rome", "Oslo"]

    async def body() -> list[Any]:
        answers = []
        for question, city in zip(QUESTIONS, cities):
            script_weather(fake_provider, city)
            answers.append(await invoke(mode, graph, {"messages": [("user", question)]}, config))
        return answers

    answers = h.scenario(body, AsyncClients())

    assert [a.content if isinstance(a.content, str) else a.text for a in answers] == [
        f"It is sunny in {c}." for c in cities
    ]
    handler.end_thread("chat-1")
    (session,) = recorded()
    expected: list[tuple[str, Any]] = []
    for question, city in zip(QUESTIONS, cities):
        expected += [
            ("USER", question),
            ("ASSISTANT", ["get_weather"]),
            ("TOOL", f"Sunny in {city}"),
            ("ASSISTANT", f"It is sunny in {city}."),
        ]
    assert summary(session) == expected
    assert session["metadata"]["threadId"] == "chat-1"
    assert session["status"] == "COMPLETED"
    turns = session["turns"]
    tools = [t for t in turns if t["role"] == "TOOL"]
    calls = [c for t in turns for c in t["toolCalls"]]
    assert [t["metadata"]["toolCallId"] for t in tools] == [c["id"] for c in calls]
    assert all(t["metadata"]["span"] == ["tools", "get_weather"] for t in tools)
    assert all(t["metadata"]["toolInput"] == {"city": c} for t, c in zip(tools, cities))
    assistant = [t for t in turns if t["role"] == "ASSISTANT"]
    assert all(t["outputTokens"] for t in assistant)
    # (langchain-anthropic reports no input tokens of a stream: recorded as it reports them)
    if provider == "openai" or mode in ("invoke", "ainvoke"):
        assert all(t["inputTokens"] for t in assistant)
    assert [t["metadata"]["span"] for t in assistant] == [["agent"]] * 6
    assert all(t["metadata"]["provider"] == provider for t in assistant)
    if mode in ("stream", "astream", "astream_events"):
        assert all(t["metadata"]["stream"] is True for t in assistant)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_call_is_recorded_once_with_the_provider_client_instrumented(
    provider, handler, fake_provider, provenant_client, recorded, h
):
    """With LangChain's own provider client instrumented too, each call is recorded once."""
    llm = make_llm(provider, fake_provider)
    raw = llm._client if provider == "anthropic" else llm.root_client
    provenant.instrument(raw, provenant=provenant_client, agent_id="Raw client")
    graph = react_graph(llm, [get_weather])
    config = {"configurable": {"thread_id": "t"}, "callbacks": [handler]}
    script_weather(fake_provider, "Paris")

    h.scenario(
        lambda: invoke("invoke", graph, {"messages": [("user", "Weather?")]}, config),
        AsyncClients(),
    )

    handler.end_thread("t")
    (session,) = recorded()
    assert [row[0] for row in summary(session)] == ["USER", "ASSISTANT", "TOOL", "ASSISTANT"]


def test_a_tool_that_raises_is_recorded_once_and_the_graph_handles_it_as_before(
    handler, fake_provider, recorded, h
):
    """ToolNode turns a tool's exception into a message for the model, as it does without
    the handler: the TOOL turn records the error, once."""
    graph = react_graph(make_llm("openai", fake_provider), [broken_lookup])
    config = {"configurable": {"thread_id": "t"}, "callbacks": [handler]}
    fake_provider.script(
        Reply(text="", tool_calls=[ToolCall("broken_lookup", {"order": "42"})]),
        Reply(text="Sorry, no such order."),
    )

    answer = h.scenario(
        lambda: invoke("ainvoke", graph, {"messages": [("user", "42?")]}, config), AsyncClients()
    )

    assert answer.content == "Sorry, no such order."
    sent = fake_provider.requests[-1].body["messages"][-1]
    assert sent["role"] == "tool" and "no order 42" in sent["content"]
    handler.end_thread("t")
    (session,) = recorded()
    assert [row[0] for row in summary(session)] == ["USER", "ASSISTANT", "TOOL", "ASSISTANT"]
    tool_turn = session["turns"][2]
    assert tool_turn["metadata"]["error"] == "RuntimeError: no order 42"


def test_an_error_propagates_unchanged_and_fails_the_session(handler, fake_provider, recorded, h):
    """A tool error the graph does not handle propagates as itself; the session is FAILED
    and the TOOL turn recorded."""
    graph = react_graph(
        make_llm("openai", fake_provider), [broken_lookup], handle_tool_errors=False
    )
    config = {"configurable": {"thread_id": "t"}, "callbacks": [handler]}
    fake_provider.script(Reply(text="", tool_calls=[ToolCall("broken_lookup", {"order": "7"})]))

    with pytest.raises(RuntimeError) as raised:
        h.scenario(
            lambda: invoke("ainvoke", graph, {"messages": [("user", "7?")]}, config),
            AsyncClients(),
        )

    assert raised.value.args == ("no order 7",)
    (session,) = recorded()
    assert session["status"] == "FAILED"
    assert [row[0] for row in summary(session)] == ["USER", "ASSISTANT", "TOOL"]
    assert session["turns"][2]["metadata"]["error"] == "RuntimeError: no order 7"


def test_a_provider_error_propagates_unchanged(handler, fake_provider, recorded):
    """A chat model's provider error reaches the caller as the provider's exception; the
    chain's session is FAILED with the error on an ASSISTANT turn."""
    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | make_llm("openai", fake_provider)
    fake_provider.script(Reply(status=500, error_message="down"))

    with pytest.raises(openai.InternalServerError) as raised:
        chain.invoke({"q": "hi"}, config={"callbacks": [handler]})

    (session,) = recorded()
    assert session["status"] == "FAILED"
    reply = session["turns"][-1]
    assert reply["role"] == "ASSISTANT"
    assert reply["metadata"]["error"]["type"] == type(raised.value).__name__
    assert reply["metadata"]["error"]["status"] == 500


def test_a_chain_opens_a_session_per_invocation_and_joins_an_active_one(
    handler, fake_provider, provenant_client, recorded
):
    """Without a thread each invocation is a session of its own (named after the chain);
    inside provenant.session() invocations join it, under the chain's span."""
    chain = (
        ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "{q}")])
        | make_llm("openai", fake_provider)
    ).with_config(run_name="Answerer")
    config = {"callbacks": [handler]}
    chain.invoke({"q": "one"}, config=config)
    with provenant_client.session("My app"):
        chain.invoke({"q": "two"}, config=config)
        chain.invoke({"q": "three"}, config=config)

    first, joined = recorded()
    assert first["agent"]["name"] == "Answerer"
    assert summary(first) == [
        ("SYSTEM", "Be brief."),
        ("USER", "one"),
        ("ASSISTANT", "You said: one"),
    ]
    assert joined["agent"]["name"] == "My app"
    assert [row[1] for row in summary(joined)] == [
        "Be brief.",
        "two",
        "You said: two",
        "three",
        "You said: three",
    ]
    assert joined["turns"][1]["metadata"]["span"] == ["Answerer"]


def test_concurrent_runs_never_mix(handler, fake_provider, recorded, h):
    """20 concurrent graph runs on 20 threads are 20 sessions of their own turns."""

    def answer(request: RecordedRequest) -> Reply:
        messages = request.body["messages"]
        user = messages[0]["content"]
        if messages[-1]["role"] == "tool":
            return Reply(text=f"done {user}", chunk_delay_s=0.001)
        return Reply(text="", tool_calls=[ToolCall("get_weather", {"city": user})])

    fake_provider.set_responder(answer)
    graph = react_graph(make_llm("openai", fake_provider), [get_weather])
    cities = [f"city-{i}" for i in range(20)]

    async def one(i: int, city: str) -> Any:
        config = {"configurable": {"thread_id": f"t-{i}"}, "callbacks": [handler]}
        mode = "astream" if i % 2 else "ainvoke"
        return await invoke(mode, graph, {"messages": [("user", city)]}, config)

    async def body() -> list[Any]:
        return await asyncio.gather(*(one(i, c) for i, c in enumerate(cities)))

    answers = h.scenario(body, AsyncClients())

    assert [a.content for a in answers] == [f"done {c}" for c in cities]
    handler.close()
    sessions = recorded()
    assert len(sessions) == 20
    for session in sessions:
        city = session["turns"][0]["content"]
        assert summary(session) == [
            ("USER", city),
            ("ASSISTANT", ["get_weather"]),
            ("TOOL", f"Sunny in {city}"),
            ("ASSISTANT", f"done {city}"),
        ]


def test_install_records_every_run_of_the_process(fake_provider, provenant_client, recorded):
    """install() records runs that pass no callbacks; uninstall() stops it."""
    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | make_llm("openai", fake_provider)
    handler = prov_langchain.install(provenant=provenant_client)
    try:
        assert prov_langchain.install() is handler
        chain.invoke({"q": "recorded"})
    finally:
        prov_langchain.uninstall()
    chain.invoke({"q": "not recorded"})

    (session,) = recorded()
    assert [row[1] for row in summary(session)] == ["recorded", "You said: recorded"]


def test_the_handler_never_changes_what_a_run_returns(handler, fake_provider):
    """The same chain answers the same object type and content with and without it."""
    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | make_llm("openai", fake_provider)
    plain = chain.invoke({"q": "x"})
    traced = chain.invoke({"q": "x"}, config={"callbacks": [handler]})
    assert type(traced) is type(plain) is AIMessage
    assert traced.content == plain.content
    assert traced.tool_calls == plain.tool_calls


def test_a_lone_chat_model_call_is_a_session(handler, fake_provider, recorded):
    """A chat model invoked on its own (no chain) is a session of one exchange."""
    llm: Callable[..., Any] = make_llm("openai", fake_provider).invoke
    llm("hello", config={"callbacks": [handler]})
    (session,) = recorded()
    assert summary(session) == [("USER", "hello"), ("ASSISTANT", "You said: hello")]
    assert session["status"] == "COMPLETED"


def test_a_lone_chat_model_call_that_fails_is_a_failed_session(handler, fake_provider, recorded):
    """A chat model invoked on its own whose provider call raises: its session is FAILED,
    the error on its ASSISTANT turn, and the caller gets the provider's exception."""
    fake_provider.script(Reply(status=500, error_message="down"))
    llm: Callable[..., Any] = make_llm("openai", fake_provider).invoke
    with pytest.raises(openai.InternalServerError):
        llm("hello", config={"callbacks": [handler]})
    (session,) = recorded()
    assert session["status"] == "FAILED"
    assert session["turns"][-1]["metadata"]["error"]["status"] == 500


def test_a_second_client_records_a_lone_call_after_a_first_one_shut_down(
    provenant_server: LocalServer, fake_provider: FakeProvider
) -> None:
    """Two clients in sequence in one process (a first records a chain and shuts down):
    the second's lone chat model call is a whole session, nothing dropped. The call's
    turns go out before its session's end, even when all three share one batch."""
    first = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_server.create_api_key()
    )
    first_handler = ProvenantCallbackHandler(provenant=first)
    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | make_llm("openai", fake_provider)
    chain.invoke({"q": "warm"}, config={"callbacks": [first_handler]})
    first_handler.close()
    first.shutdown()

    second = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_server.create_api_key()
    )
    second_handler = ProvenantCallbackHandler(provenant=second)
    try:
        make_llm("openai", fake_provider).invoke("hello", config={"callbacks": [second_handler]})
        delivered = second.flush(10)
        stats = second.stats()
        (listed,) = second.list_sessions()
        session = second.get_session(listed["id"])
    finally:
        second_handler.close()
        second.shutdown()
    assert delivered
    assert stats["dropped"] == {}
    assert summary(session) == [("USER", "hello"), ("ASSISTANT", "You said: hello")]
    assert session["status"] == "COMPLETED"


def test_a_fault_inside_the_handler_is_logged_and_the_run_goes_on(handler, fake_provider, recorded):
    """Callbacks the handler cannot read are counted and logged, never raised; the next
    run records as usual."""
    before = fault_counts()
    handler.on_chat_model_start(123, [[]], run_id=uuid.uuid4())  # type: ignore[arg-type]
    handler.on_tool_start(123, "", run_id=uuid.uuid4())  # type: ignore[arg-type]
    counts = fault_counts()
    for kind in ("chat-start", "tool-start"):
        name = f"langchain-{kind}"
        assert counts.get(name, 0) == before.get(name, 0) + 1

    make_llm("openai", fake_provider).invoke("hello", config={"callbacks": [handler]})

    (session,) = recorded()
    assert summary(session) == [("USER", "hello"), ("ASSISTANT", "You said: hello")]
