"""
The wire formats the fake provider speaks: Anthropic Messages, OpenAI Chat Completions
and OpenAI Responses, each as one JSON answer or as Server-Sent Events.

Each ``*_events`` function yields ``(event_name, data)`` pairs; the server writes them as
``event: name`` / ``data: json`` frames (OpenAI Chat frames carry no event name, and end
with ``data: [DONE]``).
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterable, Iterator, Optional, Tuple

from provenant._fake_provider._script import RecordedRequest, Reply, next_id

__all__ = [
    "anthropic_events",
    "anthropic_message",
    "chat_completion",
    "chat_events",
    "error_body",
    "response_events",
    "response_object",
]

Event = Tuple[Optional[str], Any]


def _model(reply: Reply, request: RecordedRequest) -> str:
    if reply.model:
        return reply.model
    body = request.body if isinstance(request.body, dict) else {}
    if not body.get("model") and "/models/" in request.path:
        # Vertex AI: .../publishers/anthropic/models/<model>:rawPredict
        return request.path.rsplit("/models/", 1)[1].split(":", 1)[0]
    return str(body.get("model") or "fake-model")


def _tool_call_ids(reply: Reply, prefix: str) -> list[str]:
    return [call.id or next_id(prefix) for call in reply.tool_calls]


def error_body(api: str, status: int, message: str) -> dict[str, Any]:
    """The provider's JSON error answer for ``status``."""
    if api == "anthropic":
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            404: "not_found_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    kind = {400: "invalid_request_error", 429: "rate_limit_exceeded"}.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


# -- Anthropic Messages -----------------------------------------------------------------


def _anthropic_stop(reply: Reply) -> str:
    return reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn")


def anthropic_message(reply: Reply, request: RecordedRequest) -> dict[str, Any]:
    """An Anthropic ``Message`` answer."""
    input_tokens, output_tokens = reply.usage(request)
    content: list[dict[str, Any]] = []
    if reply.thinking is not None:
        content.append(_thinking_block(reply.thinking))
    content.extend(_server_tool_blocks(reply))
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    for call, call_id in zip(reply.tool_calls, _tool_call_ids(reply, "toolu")):
        content.append(
            {"type": "tool_use", "id": call_id, "name": call.name, "input": dict(call.arguments)}
        )
    return {
        "id": next_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": _model(reply, request),
        "content": content,
        "stop_reason": _anthropic_stop(reply),
        "stop_sequence": None,
        "usage": _anthropic_usage(reply, input_tokens, output_tokens),
    }


def _server_tool_blocks(reply: Reply) -> list[dict[str, Any]]:
    return [
        {
            "type": "server_tool_use",
            "id": call.id or next_id("srvtoolu"),
            "name": call.name,
            "input": dict(call.arguments),
        }
        for call in reply.server_tool_calls
    ]


def _thinking_block(thinking: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": thinking, "signature": "sig-" + next_id("think")}


def _anthropic_usage(reply: Reply, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    # Anthropic counts cache reads and writes apart from input_tokens.
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": reply.cache_read_tokens,
        "cache_creation_input_tokens": reply.cache_creation_tokens,
    }


def _block_events(
    index: int, block: dict[str, Any], deltas: Iterable[dict[str, Any]], *, ping: bool = False
) -> Iterator[Event]:
    """One content block of a streamed Anthropic message: its start, deltas and stop."""
    yield (
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )
    if ping:
        yield "ping", {"type": "ping"}
    for delta in deltas:
        yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    yield "content_block_stop", {"type": "content_block_stop", "index": index}


def _json_deltas(*parts: str) -> list[dict[str, Any]]:
    return [{"type": "input_json_delta", "partial_json": part} for part in parts]


def anthropic_events(reply: Reply, request: RecordedRequest) -> Iterator[Event]:
    """The SSE events of a streamed Anthropic message."""
    input_tokens, output_tokens = reply.usage(request)
    start = anthropic_message(reply, request)
    start.update(content=[], stop_reason=None)
    start["usage"] = _anthropic_usage(reply, input_tokens, 1)
    yield "message_start", {"type": "message_start", "message": start}
    # (block as started, its deltas, whether a ping follows the start), in content order
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]], bool]] = []
    if reply.thinking is not None:
        thinking = _thinking_block(reply.thinking)
        deltas = [
            {"type": "thinking_delta", "thinking": reply.thinking},
            {"type": "signature_delta", "signature": thinking["signature"]},
        ]
        blocks.append((dict(thinking, thinking="", signature=""), deltas, False))
    for server_block in _server_tool_blocks(reply):
        arguments = json.dumps(server_block["input"])
        blocks.append((dict(server_block, input={}), _json_deltas(arguments), False))
    if reply.text:
        texts = [{"type": "text_delta", "text": piece} for piece in reply.chunks()]
        blocks.append(({"type": "text", "text": ""}, texts, True))
    for call, call_id in zip(reply.tool_calls, _tool_call_ids(reply, "toolu")):
        tool_block = {"type": "tool_use", "id": call_id, "name": call.name, "input": {}}
        arguments = json.dumps(dict(call.arguments))
        half = len(arguments) // 2
        blocks.append((tool_block, _json_deltas(arguments[:half], arguments[half:]), False))
    for index, (block, deltas, ping) in enumerate(blocks):
        yield from _block_events(index, block, deltas, ping=ping)
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": _anthropic_stop(reply), "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
    )
    yield "message_stop", {"type": "message_stop"}


# -- OpenAI Chat Completions ------------------------------------------------------------


def _chat_finish(reply: Reply) -> str:
    return reply.stop_reason or ("tool_calls" if reply.tool_calls else "stop")


def _openai_input_tokens(reply: Reply, request: RecordedRequest) -> tuple[int, int]:
    """``(input, output)`` as OpenAI counts them: the input includes the cached tokens."""
    input_tokens, output_tokens = reply.usage(request)
    return input_tokens + reply.cache_read_tokens + reply.cache_creation_tokens, output_tokens


def _chat_usage(reply: Reply, request: RecordedRequest) -> dict[str, Any]:
    input_tokens, output_tokens = _openai_input_tokens(reply, request)
    return {
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
    }


def _choices(request: RecordedRequest) -> int:
    """How many choices the request asks for (``n``, 1 by default)."""
    body = request.body if isinstance(request.body, dict) else {}
    n = body.get("n")
    return n if isinstance(n, int) and n > 1 else 1


def _choice_text(reply: Reply, index: int) -> str:
    """The text of choice ``index``: the scripted text, numbered after the first."""
    return reply.text if index == 0 or not reply.text else f"{reply.text} ({index + 1})"


def chat_completion(reply: Reply, request: RecordedRequest) -> dict[str, Any]:
    """An OpenAI ``ChatCompletion`` answer (``n`` choices; tool calls in the first)."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments))},
            }
            for call, call_id in zip(reply.tool_calls, _tool_call_ids(reply, "call"))
        ]
    return {
        "id": next_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _model(reply, request),
        "choices": [
            {"index": 0, "message": message, "finish_reason": _chat_finish(reply), "logprobs": None}
        ]
        + [
            {
                "index": index,
                "message": dict(message, content=_choice_text(reply, index), tool_calls=None),
                "finish_reason": "stop",
                "logprobs": None,
            }
            for index in range(1, _choices(request))
        ],
        "usage": _chat_usage(reply, request),
    }


def chat_events(reply: Reply, request: RecordedRequest) -> Iterator[Event]:
    """The SSE chunks of a streamed chat completion (usage only when asked for)."""
    body = request.body if isinstance(request.body, dict) else {}
    options = body.get("stream_options") or {}
    include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    base = {
        "id": next_id("chatcmpl"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": _model(reply, request),
    }

    def chunk(
        delta: dict[str, Any], finish: Optional[str] = None, choice: int = 0
    ) -> dict[str, Any]:
        frame = dict(base, choices=[{"index": choice, "delta": delta, "finish_reason": finish}])
        if include_usage:
            frame["usage"] = None
        return frame

    others = range(1, _choices(request))
    for choice in (0, *others):
        yield None, chunk({"role": "assistant", "content": ""}, choice=choice)
    # With n > 1 the choices' chunks come interleaved, as the API sends them.
    for position, piece in enumerate(reply.chunks()):
        yield None, chunk({"content": piece})
        for choice in others:
            last = position == len(reply.chunks()) - 1
            extra = _choice_text(reply, choice)[len(reply.text) :] if last else ""
            yield None, chunk({"content": piece + extra}, choice=choice)
    for choice in others:
        yield None, chunk({}, "stop", choice=choice)
    for index, (call, call_id) in enumerate(zip(reply.tool_calls, _tool_call_ids(reply, "call"))):
        head = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        yield None, chunk({"tool_calls": [head]})
        arguments = json.dumps(dict(call.arguments))
        yield None, chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})
    yield None, chunk({}, _chat_finish(reply))
    if include_usage:
        yield None, dict(base, choices=[], usage=_chat_usage(reply, request))


# -- OpenAI Responses -------------------------------------------------------------------


def _response_items(reply: Reply) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reply.thinking is not None:
        items.append(
            {
                "type": "reasoning",
                "id": next_id("rs"),
                "summary": [{"type": "summary_text", "text": reply.thinking}],
            }
        )
    if reply.text:
        items.append(
            {
                "type": "message",
                "id": next_id("msg"),
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
            }
        )
    for call, call_id in zip(reply.tool_calls, _tool_call_ids(reply, "call")):
        items.append(
            {
                "type": "function_call",
                "id": next_id("fc"),
                "call_id": call_id,
                "name": call.name,
                "arguments": json.dumps(dict(call.arguments)),
                "status": "completed",
            }
        )
    return items


def response_object(
    reply: Reply,
    request: RecordedRequest,
    *,
    items: Optional[list[dict[str, Any]]] = None,
    status: str = "completed",
) -> dict[str, Any]:
    """An OpenAI ``Response`` answer (``items`` reuses already generated output items)."""
    body = request.body if isinstance(request.body, dict) else {}
    input_tokens, output_tokens = _openai_input_tokens(reply, request)
    return {
        "id": next_id("resp"),
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": _model(reply, request),
        "output": _response_items(reply) if items is None else items,
        "instructions": body.get("instructions"),
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": 1.0,
        "top_p": 1.0,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "input_tokens_details": {"cached_tokens": reply.cache_read_tokens},
            "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        },
    }


def response_events(reply: Reply, request: RecordedRequest) -> Iterator[Event]:
    """The SSE events of a streamed response."""
    items = _response_items(reply)
    final = response_object(reply, request, items=items)
    pending = dict(final, status="in_progress", output=[], usage=None)
    sequence = iter(range(1_000_000))

    def event(kind: str, **fields: Any) -> Event:
        return kind, dict(type=kind, sequence_number=next(sequence), **fields)

    yield event("response.created", response=pending)
    yield event("response.in_progress", response=pending)
    for index, item in enumerate(items):
        if item["type"] == "message":
            yield event(
                "response.output_item.added",
                output_index=index,
                item=dict(item, status="in_progress", content=[]),
            )
            part = {"type": "output_text", "text": "", "annotations": []}
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            yield event("response.content_part.added", part=part, **where)
            for piece in reply.chunks():
                yield event("response.output_text.delta", delta=piece, logprobs=[], **where)
            yield event("response.output_text.done", text=reply.text, logprobs=[], **where)
            yield event("response.content_part.done", part=item["content"][0], **where)
        elif item["type"] == "reasoning":
            added = dict(item, summary=[])
            yield event("response.output_item.added", output_index=index, item=added)
        else:
            yield event(
                "response.output_item.added",
                output_index=index,
                item=dict(item, status="in_progress", arguments=""),
            )
            where = {"item_id": item["id"], "output_index": index}
            yield event("response.function_call_arguments.delta", delta=item["arguments"], **where)
            yield event(
                "response.function_call_arguments.done", arguments=item["arguments"], **where
            )
        yield event("response.output_item.done", output_index=index, item=item)
    yield event("response.completed", response=final)
