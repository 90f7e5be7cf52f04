"""
What recording an agent framework's run costs the run: the OpenAI Agents SDK processor
and the LangChain callback handler, each beside the same run unrecorded.

Printed side by side, from the same run (median of interleaved rounds, milliseconds per
run):

* an Agents SDK run with one function tool (two model calls, one tool) with no trace
  processor, and with :class:`ProvenantTracingProcessor` as the only one;
* a LangChain prompt | chat model chain (one model call) without callbacks, and with
  :class:`ProvenantCallbackHandler`.

The model is Provenant's fake provider on 127.0.0.1 (a thread of this process); records
are delivered to a live local server in a child process, as the tracing benchmark does.
The figures include the frameworks' own work and the local HTTP round trips, so the
difference is the integration's cost on the run's thread and what its background
delivery takes from the same two cores. The machine is shared: expect noise of a few
percent between runs::

    python benchmarks/bench_frameworks.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import warnings
from typing import Any, Callable

from bench_tracing import live_server

from provenant import ProvenantClient
from provenant._fake_provider import RecordedRequest, Reply, ToolCall, start_fake_provider

ROUNDS = 15
RUNS_PER_ROUND = 20

# Seconds spent inside the integrations' callbacks (on the run's own thread), per label.
inside: dict[str, float] = {}


def timed(cls: type[Any], label: str, methods: tuple[str, ...]) -> type[Any]:
    """A subclass of ``cls`` adding the time each of ``methods`` takes to ``inside``."""

    def wrap(name: str) -> Callable[..., Any]:
        original = getattr(cls, name)

        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                inside[label] = inside.get(label, 0.0) + time.perf_counter() - start

        return method

    return type(f"Timed{cls.__name__}", (cls,), {name: wrap(name) for name in methods})


def _model(request: RecordedRequest) -> Reply:
    """Call the tool once, then answer."""
    body = request.body if isinstance(request.body, dict) else {}
    items = body.get("input") or body.get("messages") or []
    last = items[-1] if isinstance(items, list) and items else {}
    if body.get("tools") and last.get("type") != "function_call_output":
        return Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"})])
    return Reply(text="It is sunny.")


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def _interleaved(candidates: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, measure in candidates.items():
            samples[name].append(measure())
    return {name: _median_ms(values) for name, values in samples.items()}


def _agents_candidates(fake_url: str, recorder: ProvenantClient) -> dict[str, Callable[[], float]]:
    import openai
    from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_trace_processors

    from provenant.integrations.openai_agents import ProvenantTracingProcessor

    @function_tool
    def get_weather(city: str) -> str:
        """The weather of a city."""
        return f"Sunny in {city}"

    loop = asyncio.new_event_loop()
    client = openai.AsyncOpenAI(base_url=fake_url, api_key="k", max_retries=0)
    agent = Agent(
        name="Bench", tools=[get_weather], model=OpenAIResponsesModel("gpt-bench", client)
    )
    processor = timed(
        ProvenantTracingProcessor,
        "agents",
        ("on_trace_start", "on_trace_end", "on_span_start", "on_span_end"),
    )(provenant=recorder, agent_id="Bench")

    def runs(processors: list[Any]) -> float:
        set_trace_processors(processors)

        async def body() -> None:
            for _ in range(RUNS_PER_ROUND):
                await Runner.run(agent, "Weather in Paris?")

        start = time.perf_counter()
        loop.run_until_complete(body())
        return (time.perf_counter() - start) / RUNS_PER_ROUND

    return {
        "agents run, unrecorded": lambda: runs([]),
        "agents run, processor": lambda: runs([processor]),
    }


def _langchain_candidates(
    fake_url: str, recorder: ProvenantClient
) -> dict[str, Callable[[], float]]:
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI

    from provenant.integrations.langchain import ProvenantCallbackHandler

    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | ChatOpenAI(
        model="gpt-bench", base_url=fake_url, api_key="k", max_retries=0
    )
    handler = timed(
        ProvenantCallbackHandler,
        "langchain",
        ("on_chain_start", "on_chain_end", "on_chat_model_start", "on_llm_end"),
    )(provenant=recorder, agent_id="Bench")

    def runs(config: Any) -> float:
        start = time.perf_counter()
        for _ in range(RUNS_PER_ROUND):
            chain.invoke({"q": "Weather in Paris?"}, config=config)
        return (time.perf_counter() - start) / RUNS_PER_ROUND

    return {
        "langchain invoke, unrecorded": lambda: runs(None),
        "langchain invoke, handler": lambda: runs({"callbacks": [handler]}),
    }


def main() -> int:
    warnings.simplefilter("ignore", DeprecationWarning)
    with start_fake_provider() as fake, live_server() as (url, key):
        fake.set_responder(_model)
        recorder = ProvenantClient(base_url=url, api_key=key)
        try:
            for label, key, candidates in (
                ("OpenAI Agents SDK", "agents", _agents_candidates(fake.openai_base_url, recorder)),
                ("LangChain", "langchain", _langchain_candidates(fake.openai_base_url, recorder)),
            ):
                for measure in candidates.values():  # warm up: imports, connections
                    measure()
                inside.clear()
                figures = _interleaved(candidates, ROUNDS)
                callbacks_ms = inside.get(key, 0.0) * 1000.0 / (ROUNDS * RUNS_PER_ROUND)
                base, recorded = figures.values()
                print(f"{label} (median of {ROUNDS} rounds of {RUNS_PER_ROUND} runs)")
                for name, value in figures.items():
                    print(f"  {name:<32} {value:8.2f} ms/run")
                print(f"  {'recording adds':<32} {recorded - base:8.2f} ms/run")
                print(f"  {'of which in its callbacks':<32} {callbacks_ms:8.2f} ms/run (mean)")
            assert recorder.flush(60)
            stats = recorder.stats()
            print(f"delivered {stats['delivered']} records, dropped {stats['dropped']}")
        finally:
            recorder.shutdown(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
