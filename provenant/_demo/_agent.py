"""
The demo's support agent: ordinary agent code on the real ``anthropic`` client,
recorded by Provenant with one ``instrument()`` line, a session and a traced tool.
"""

from __future__ import annotations

import json
from typing import Any, Callable, TextIO

import provenant as prov

__all__ = ["AGENT", "MODEL", "QUESTIONS", "SYSTEM", "lookup_order", "run_conversation"]

AGENT = "Support Bot (demo)"
MODEL = "claude-sonnet-5-5"
SYSTEM = "You are the support agent of an online shop. Be brief and precise."
QUESTIONS = (
    "Hi! Where is my order A1234?",
    "Thanks. Can I still change the delivery address?",
)

TOOLS = [
    {
        "name": "lookup_order",
        "description": "Look an order up by its number.",
        "input_schema": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    }
]


@prov.trace(kind="tool")
def lookup_order(order_id: str) -> dict[str, str]:
    """Find an order in the shop's (pretend) order system."""
    return {
        "order_id": order_id,
        "status": "shipped",
        "carrier": "ParcelCo",
        "shipped_on": "24 November",
        "arrives_on": "28 November",
        "tracking": "PC-88231",
    }


_TOOL_FUNCTIONS: dict[str, Callable[..., Any]] = {"lookup_order": lookup_order}


def _say(out: TextIO, who: str, text: str) -> None:
    out.write(f"  {who:<10} {text}\n")


def run_conversation(client: Any, out: TextIO) -> None:
    """
    Hold the demo conversation on an ``anthropic.Anthropic`` client, printing it live.

    Each question goes to the model with the whole history, as chat APIs need. When the
    model asks for a tool, the traced tool runs, its result goes back, and the model's
    answer is streamed word by word.
    """
    history: list[dict[str, Any]] = []
    for question in QUESTIONS:
        _say(out, "user", question)
        history.append({"role": "user", "content": question})
        message = client.messages.create(
            model=MODEL, max_tokens=512, system=SYSTEM, tools=TOOLS, messages=history
        )
        calls = [block for block in message.content if block.type == "tool_use"]
        text = "".join(block.text for block in message.content if block.type == "text")
        _say(out, "assistant", text)
        if not calls:
            history.append({"role": "assistant", "content": text})
            continue
        history.append({"role": "assistant", "content": [b.model_dump() for b in message.content]})
        results = []
        for call in calls:
            _say(out, "tool", f"{call.name}({json.dumps(call.input)})")
            result = _TOOL_FUNCTIONS[call.name](**call.input)
            results.append(
                {"type": "tool_result", "tool_use_id": call.id, "content": json.dumps(result)}
            )
        history.append({"role": "user", "content": results})
        out.write(f"  {'assistant':<10} ")
        with client.messages.stream(
            model=MODEL, max_tokens=512, system=SYSTEM, tools=TOOLS, messages=history
        ) as stream:
            for piece in stream.text_stream:
                out.write(piece)
                out.flush()
            final = stream.get_final_message()
        out.write("  (streamed)\n")
        answer = "".join(block.text for block in final.content if block.type == "text")
        history.append({"role": "assistant", "content": answer})
