"""
The Gemini API's wire format (``models/<model>:generateContent`` and
``:streamGenerateContent?alt=sse``), as the fake provider answers it.

A streamed answer is a series of ``GenerateContentResponse`` chunks as ``data:`` frames,
the text split in words; the last chunk carries the function calls, the finish reason
and the usage. Function calls carry an ``id`` only when the script gives one (the Gemini
API mostly sends none).
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

from provenant._fake_provider._script import RecordedRequest, Reply, next_id

__all__ = ["gemini_error", "gemini_events", "gemini_response"]

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def gemini_error(status: int, message: str) -> dict[str, Any]:
    """The Gemini API's JSON error answer."""
    return {
        "error": {
            "code": status,
            "message": message,
            "status": _STATUS_NAMES.get(status, "INTERNAL"),
        }
    }


def _model(reply: Reply, request: RecordedRequest) -> str:
    if reply.model:
        return reply.model
    return request.path.rsplit("/models/", 1)[-1].split(":", 1)[0] or "fake-gemini"


def _usage(reply: Reply, request: RecordedRequest) -> dict[str, Any]:
    # Gemini's prompt count includes the cached tokens; the thinking is counted apart.
    input_tokens, output_tokens = reply.usage(request)
    prompt = input_tokens + reply.cache_read_tokens
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": prompt + output_tokens + reply.reasoning_tokens,
    }
    if reply.cache_read_tokens:
        usage["cachedContentTokenCount"] = reply.cache_read_tokens
    if reply.reasoning_tokens:
        usage["thoughtsTokenCount"] = reply.reasoning_tokens
    return usage


def _call_parts(reply: Reply) -> list[dict[str, Any]]:
    parts = []
    for call in reply.tool_calls:
        function_call: dict[str, Any] = {"name": call.name, "args": dict(call.arguments)}
        if call.id is not None:
            function_call["id"] = call.id
        parts.append({"functionCall": function_call})
    return parts


def _chunk(
    reply: Reply,
    request: RecordedRequest,
    response_id: str,
    parts: list[dict[str, Any]],
    finish: Optional[str],
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    chunk: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": _model(reply, request),
        "responseId": response_id,
    }
    if finish is not None:
        candidate["finishReason"] = finish
        chunk["usageMetadata"] = _usage(reply, request)
    return chunk


def gemini_response(reply: Reply, request: RecordedRequest) -> dict[str, Any]:
    """A ``GenerateContentResponse`` answer."""
    parts: list[dict[str, Any]] = []
    if reply.thinking is not None:
        parts.append({"text": reply.thinking, "thought": True})
    if reply.text:
        parts.append({"text": reply.text})
    parts.extend(_call_parts(reply))
    return _chunk(reply, request, next_id("resp"), parts, reply.stop_reason or "STOP")


def gemini_events(reply: Reply, request: RecordedRequest) -> Iterator[tuple[None, Any]]:
    """The chunks of a streamed answer (``data:`` frames without event names)."""
    response_id = next_id("resp")
    if reply.thinking is not None:
        thought = [{"text": reply.thinking, "thought": True}]
        yield None, _chunk(reply, request, response_id, thought, None)
    pieces = reply.chunks()
    for piece in pieces[:-1]:
        yield None, _chunk(reply, request, response_id, [{"text": piece}], None)
    last = [{"text": pieces[-1]}] if pieces else []
    finish = reply.stop_reason or "STOP"
    yield None, _chunk(reply, request, response_id, last + _call_parts(reply), finish)
