"""
Record OpenAI Agents SDK runs: a triage agent with a function tool and a handoff.

    python examples/run_offline.py examples/openai_agents_handoff.py

Each run is one session: the USER turn, the model's tool call, the tool's TOOL turn, and
for the second question the handoff (a TOOL turn in the span ``handoff to Refunds``)
and the Refunds agent's answer. The session's metadata holds the run's trace id and
workflow name.
"""

from __future__ import annotations

import asyncio

from agents import Agent, Runner, function_tool, set_trace_processors

import provenant as prov
from provenant.integrations import openai_agents

MODEL = "gpt-5.5-mini"


@function_tool
def get_weather(city: str) -> str:
    """Today's weather in a city."""
    return f"Sunny and 21 degrees in {city}"


refunds = Agent(name="Refunds", instructions="You handle refund requests.", model=MODEL)
triage = Agent(
    name="Triage",
    instructions="Answer weather questions; hand refund requests over.",
    tools=[get_weather],
    handoffs=[refunds],
    model=MODEL,
)


async def main() -> None:
    # One line: openai_agents.install() adds the processor beside the SDK's own exporter
    # to the OpenAI dashboard. This example runs offline, so it records to Provenant only.
    set_trace_processors([openai_agents.ProvenantTracingProcessor(agent_id="Support Desk")])
    for question in ("What is the weather in Paris?", "Can I get refunds for order 42?"):
        result = await Runner.run(triage, question)
        print(f"{question}\n  {result.last_agent.name}: {result.final_output}")
    prov.flush()


if __name__ == "__main__":
    asyncio.run(main())
