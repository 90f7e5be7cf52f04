"""
Run an example offline: against a scripted model on 127.0.0.1, recording locally.

    python examples/run_offline.py examples/multi_turn_session.py

It starts Provenant's fake provider (a scripted model speaking the Anthropic, OpenAI and
Gemini wire formats), points the provider SDKs at it through ``ANTHROPIC_BASE_URL``,
``OPENAI_BASE_URL`` and ``GOOGLE_GEMINI_BASE_URL`` with dummy keys, and runs the example
in a subprocess. Records go where ``PROVENANT_BASE_URL`` says, by default the local store
``.provenant/provenant.db``.
The tests run every example this way.

The scripted model answers the way the examples need: it calls the tool the request
offers when the question is about it, answers a tool result with what the tool said,
knows the answers of the evaluation example, and otherwise repeats what it was told.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any, Optional

# A test helper of the provenant package, not a public API: fine for running examples.
from provenant._fake_provider import (
    RecordedRequest,
    Reply,
    ToolCall,
    last_user_text,
    start_fake_provider,
)

__all__ = ["examples_model", "main"]

DUMMY_KEY = "offline-example-key"

# What the scripted model knows (the questions of examples/evaluation_run.py).
KNOWN_ANSWERS = {
    "capital of france": "The capital of France is Paris.",
    "2 + 2": "4",
    "as json": '{"order_id": "A1234", "status": "shipped"}',
}


def _body(request: RecordedRequest) -> dict[str, Any]:
    return request.body if isinstance(request.body, dict) else {}


def _tool_result_text(request: RecordedRequest) -> Optional[str]:
    """The tool result the request ends with, in any of the three wire formats."""
    body = _body(request)
    items = body.get("messages")
    if items is None:
        items = body.get("input")
    if not isinstance(items, list) or not items or not isinstance(items[-1], dict):
        return None
    last = items[-1]
    if last.get("role") == "tool" or last.get("type") == "function_call_output":
        output = last.get("content", last.get("output"))
        return output if isinstance(output, str) else json.dumps(output)
    content = last.get("content")
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                value = block.get("content")
                return value if isinstance(value, str) else json.dumps(value)
    return None


def _tool_of(tool: dict[str, Any]) -> tuple[str, list[str]]:
    """A tool's name and required parameters, whichever format declared it."""
    function = tool.get("function") if isinstance(tool.get("function"), dict) else tool
    schema = function.get("input_schema") or function.get("parameters") or {}
    return str(function.get("name")), list(schema.get("required") or [])


def _tool_call(request: RecordedRequest, question: str) -> Optional[ToolCall]:
    """Call the offered tool whose name the question mentions, with the question's last word."""
    for tool in _body(request).get("tools") or []:
        if not isinstance(tool, dict):
            continue
        name, required = _tool_of(tool)
        topic = name.split("_")[-1]
        handoff = name.startswith("transfer_to_")  # an Agents SDK handoff: no arguments
        if topic in question.lower() and (required or handoff):
            words = re.findall(r"[\w-]+", question)
            arguments = {required[0]: words[-1] if words else ""} if required else {}
            return ToolCall(name, arguments)
    return None


def examples_model(request: RecordedRequest) -> Reply:
    """Answer one request of an example, the way a cooperative model would."""
    result = _tool_result_text(request)
    if result is not None and not result.startswith('{"assistant"'):  # not a handoff's
        return Reply(text=f"Here is what I found: {result}")
    question = last_user_text(request)
    call = _tool_call(request, question)
    if call is not None:
        return Reply(text="Let me check.", tool_calls=(call,))
    for clue, answer in KNOWN_ANSWERS.items():
        if clue in question.lower():
            return Reply(text=answer)
    return Reply(text=f"You said: {question}")


def main(argv: Optional[list[str]] = None) -> int:
    """Run ``argv[0]`` (an example script) offline; return its exit status."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python examples/run_offline.py EXAMPLE.py [ARGS...]", file=sys.stderr)
        return 2
    with start_fake_provider() as fake:
        fake.set_responder(examples_model)
        env = dict(os.environ)
        env.update(
            ANTHROPIC_BASE_URL=fake.url,
            ANTHROPIC_API_KEY=DUMMY_KEY,
            OPENAI_BASE_URL=fake.openai_base_url,
            OPENAI_API_KEY=DUMMY_KEY,
            GOOGLE_GEMINI_BASE_URL=fake.url,
            GEMINI_API_KEY=DUMMY_KEY,
            # LiteLLM: its price list from the package, not fetched at import.
            LITELLM_LOCAL_MODEL_COST_MAP="True",
        )
        env.setdefault("PROVENANT_BASE_URL", "local")
        return subprocess.run([sys.executable, *args], env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
