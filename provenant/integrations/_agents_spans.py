"""
How the OpenAI Agents SDK's span data reads as Provenant records: a span's name and kind,
a model call's request and reply, a failure the SDK reports on a span.

Used by :mod:`provenant.integrations.openai_agents` only.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Mapping, Optional

from agents.tracing import (
    AgentSpanData,
    FunctionSpanData,
    GuardrailSpanData,
    HandoffSpanData,
    ResponseSpanData,
)

from provenant.integrations._call import ApiSpec, LlmCall
from provenant.integrations._extract import ReplyInfo, parse_arguments
from provenant.integrations._openai_extract import read_chat_request, read_response

__all__ = [
    "GENERATION",
    "SpanFailure",
    "describe",
    "end_model_call",
    "end_status",
    "mcp_metadata",
    "new_exception",
    "read_generation_reply",
    "usage_reply",
]


def read_generation_reply(data: Any) -> ReplyInfo:
    """A chat-format generation (``GenerationSpanData``: LiteLLM and Chat Completions models)."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for message in data.output or ():
        if not isinstance(message, Mapping):
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {} if isinstance(call, Mapping) else {}
            calls.append(
                {
                    "id": call.get("id") if isinstance(call, Mapping) else None,
                    "name": function.get("name"),
                    "arguments": parse_arguments(function.get("arguments")),
                }
            )
    usage = data.usage or {}
    return ReplyInfo(
        text="".join(texts),
        tool_calls=calls,
        model=data.model,
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
    )


# Chat Completions and LiteLLM models report a generation span in the chat format.
GENERATION = ApiSpec(
    provider="openai",
    name="chat",
    read_request=read_chat_request,
    read_reply=read_generation_reply,
    make_accumulator=lambda hide: None,
    request_id_header="x-request-id",
)


def usage_reply(usage: Any) -> ReplyInfo:
    """A reply known only by its usage (the SDK keeps no content: sensitive data off)."""
    usage = usage if isinstance(usage, Mapping) else {}
    return ReplyInfo(
        input_tokens=usage.get("input_tokens"), output_tokens=usage.get("output_tokens")
    )


class SpanFailure(Exception):
    """A failure the SDK reported on a span without the exception itself."""

    def __init__(self, error: Any) -> None:
        message = error.get("message") if isinstance(error, Mapping) else None
        data = error.get("data") if isinstance(error, Mapping) else None
        detail = data.get("error") if isinstance(data, Mapping) else None
        text = str(message or "error")
        super().__init__(f"{text}: {detail}" if detail else text)
        self.message = str(self)


def new_exception(baseline: Optional[BaseException]) -> Optional[BaseException]:
    """The exception propagating now (a span or trace ended by it), unless it was already
    being handled when that span started (then it is not this span's)."""
    current = sys.exc_info()[1]
    return None if current is None or current is baseline else current


def end_status(error: Optional[BaseException]) -> str:
    if error is None:
        return "COMPLETED"
    if isinstance(error, GeneratorExit) or type(error).__name__ == "CancelledError":
        return "CANCELLED"
    return "FAILED"


def describe(data: Any) -> tuple[str, str, dict[str, Any]]:
    """The provenant span of an Agents SDK span: ``(name, kind, attributes)``."""
    if isinstance(data, AgentSpanData):
        return data.name, "agent", {"agent": data.name}
    if isinstance(data, FunctionSpanData):
        return data.name, "tool", {"tool_name": data.name}
    if isinstance(data, HandoffSpanData):
        return "handoff", "step", {"from_agent": data.from_agent}
    if isinstance(data, GuardrailSpanData):
        return f"guardrail {data.name}", "step", {"guardrail": data.name}
    name = getattr(data, "name", None)
    return (name if isinstance(name, str) and name else str(data.type)), "step", {}


def mcp_metadata(data: FunctionSpanData) -> Optional[dict[str, Any]]:
    return {"mcp": data.mcp_data} if data.mcp_data else None


def end_model_call(call: LlmCall, data: Any, error: Any, raised: Optional[BaseException]) -> None:
    """Give the model call its request and reply (or failure): its turns follow."""
    if isinstance(data, ResponseSpanData):
        response = data.response
        call.kwargs = {
            "model": getattr(response, "model", None),
            "input": data.input if data.input is not None else [],
            "instructions": getattr(response, "instructions", None),
        }
        reply: Any = (
            functools.partial(read_response, response)
            if response is not None
            else usage_reply(data.usage)
        )
    else:
        call.kwargs = {"model": data.model, "messages": list(data.input or ())}
        reply = functools.partial(read_generation_reply, data)
    if error is not None or raised is not None:
        call.fail(raised if raised is not None else SpanFailure(error))
    else:
        call.succeed(reply)
