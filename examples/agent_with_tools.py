"""
A decorated agent with a tool: `@prov.trace` opens a session per call, and
`@prov.trace(kind="tool")` records each tool call as a TOOL turn.

    python examples/run_offline.py examples/agent_with_tools.py

Each question records USER, ASSISTANT (with the tool call), TOOL, ASSISTANT: the tool's
result, sent back to the model, is not recorded a second time.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic

import provenant as prov

MODEL = "claude-sonnet-5-5"
TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "Today's weather in a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]

client = prov.instrument(anthropic.Anthropic())


@prov.trace(kind="tool")
def get_weather(city: str) -> dict[str, Any]:
    """Look the weather up (a real agent would call a weather API here)."""
    return {"city": city, "sky": "sunny", "temperature_c": 21}


@prov.trace(kind="step")
def ask_model(messages: list[Any]) -> Any:
    """One model call; its turns carry this step's name in metadata.span."""
    return client.messages.create(model=MODEL, max_tokens=512, tools=TOOLS, messages=messages)


@prov.trace(agent_id="Weather Bot")
def answer(question: str) -> str:
    """Answer a question, calling tools as long as the model asks for them."""
    messages: list[Any] = [{"role": "user", "content": question}]
    while True:
        reply = ask_model(messages)
        calls = [block for block in reply.content if block.type == "tool_use"]
        if not calls:
            return "".join(block.text for block in reply.content if block.type == "text")
        messages.append({"role": "assistant", "content": reply.content})
        results = [
            {
                "type": "tool_result",
                "tool_use_id": call.id,
                "content": json.dumps(get_weather(**call.input)),
            }
            for call in calls
        ]
        messages.append({"role": "user", "content": results})


def main() -> None:
    with client:  # closes the client's connections at the end
        for question in ("What is the weather in Paris?", "And what is the weather in Oslo?"):
            print(f"{question}\n  {answer(question)}")
    prov.flush()


if __name__ == "__main__":
    main()
