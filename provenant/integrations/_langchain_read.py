"""
LangChain messages and results in the provider-neutral form: what a chat model call sent
(``on_chat_model_start``'s messages) and what it answered (``on_llm_end``'s ``LLMResult``).

Read by duck typing (``message.type``, ``message.tool_calls``...), on the exporter's
worker, like the provider extractors; langchain-core is never imported here.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping, Optional

from provenant.integrations._call import ApiSpec
from provenant.integrations._extract import ReplyInfo, RequestInfo, field, normalise_parts
from provenant.tracing._transcript import NormalizedMessage

__all__ = ["api_for", "read_reply", "read_request"]

_ROLES = {"human": "USER", "ai": "ASSISTANT", "tool": "TOOL", "function": "TOOL"}


def _text(content: Any) -> Any:
    """A message's content: text as it is; Anthropic-style blocks summarised."""
    return normalise_parts(content)


def _call(call: Any) -> dict[str, Any]:
    return {"id": field(call, "id"), "name": field(call, "name"), "arguments": field(call, "args")}


def read_request(kwargs: Mapping[str, Any], *, stream: bool) -> RequestInfo:
    """
    The neutral request of a chat model call.

    ``kwargs``: ``messages`` (the ``BaseMessage`` list of one prompt), or ``prompts``
    (a text LLM's strings); ``model``; ``skip_tool_ids``: tool results recorded already
    by their tool run (recognised by the call id, errors included), left out.
    """
    skip = kwargs.get("skip_tool_ids") or ()
    system: list[Any] = []
    messages: list[NormalizedMessage] = []
    for prompt in kwargs.get("prompts") or ():
        messages.append(NormalizedMessage("USER", str(prompt)))
    for message in kwargs.get("messages") or ():
        kind = field(message, "type", "human")
        content = _text(field(message, "content", ""))
        if kind == "system":
            system.append(content)
            continue
        role = _ROLES.get(str(kind), "USER")
        if role == "ASSISTANT":
            calls = tuple(_call(c) for c in field(message, "tool_calls", ()) or ())
            messages.append(NormalizedMessage("ASSISTANT", content, tool_calls=calls))
        elif role == "TOOL":
            call_id = field(message, "tool_call_id")
            if call_id is not None and call_id in skip:
                continue
            messages.append(
                NormalizedMessage(
                    "TOOL", content, tool_call_id=call_id, name=field(message, "name")
                )
            )
        else:
            messages.append(NormalizedMessage("USER", content))
    joined: Optional[Any] = None
    if len(system) == 1:
        joined = system[0]
    elif system:
        joined = "\n\n".join(s if isinstance(s, str) else str(s) for s in system)
    model = kwargs.get("model")
    return RequestInfo(model if isinstance(model, str) else None, joined, messages, stream)


def _first_generation(result: Any) -> Any:
    generations = field(result, "generations", ())
    first = generations[0] if generations else ()
    return first[0] if first else None


def read_reply(result: Any) -> ReplyInfo:
    """The neutral reply of an ``LLMResult`` (its first generation)."""
    generation = _first_generation(result)
    message = field(generation, "message")
    reply = ReplyInfo()
    if message is None:  # a text LLM
        reply.text = str(field(generation, "text", ""))
    else:
        content = field(message, "content", "")
        if isinstance(content, str):
            reply.text = content
        else:  # content blocks: their text
            reply.text = "".join(
                str(field(part, "text", ""))
                for part in content
                if isinstance(part, str) or field(part, "type") == "text"
            )
        reply.tool_calls = [_call(c) for c in field(message, "tool_calls", ()) or ()]
        usage = field(message, "usage_metadata")
        if usage is not None:
            reply.input_tokens = field(usage, "input_tokens")
            reply.output_tokens = field(usage, "output_tokens")
            details = field(usage, "input_token_details")
            reply.cache_read_tokens = field(details, "cache_read") if details else None
            out_details = field(usage, "output_token_details")
            reply.reasoning_tokens = field(out_details, "reasoning") if out_details else None
        metadata = field(message, "response_metadata", {}) or {}
        reply.model = field(metadata, "model_name") or field(metadata, "model")
        reply.stop_reason = field(metadata, "finish_reason") or field(metadata, "stop_reason")
        reply.response_id = field(metadata, "id")
    if reply.input_tokens is None:  # older integrations report usage in llm_output
        usage = field(field(result, "llm_output"), "token_usage")
        if usage is not None:
            reply.input_tokens = field(usage, "prompt_tokens")
            reply.output_tokens = field(usage, "completion_tokens")
    return reply


_BASE = ApiSpec(
    provider="langchain",
    name="chat",
    read_request=read_request,
    read_reply=read_reply,
    make_accumulator=lambda hide: None,
    request_id_header="x-request-id",
)


@functools.lru_cache(maxsize=64)
def api_for(provider: Optional[str]) -> ApiSpec:
    """The spec of a chat model of ``provider`` (LangChain's ``ls_provider``)."""
    return dataclasses.replace(_BASE, provider=provider or "langchain")
