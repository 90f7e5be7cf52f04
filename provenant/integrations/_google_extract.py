"""
Read Google GenAI (Gemini) ``generate_content`` requests, replies and stream chunks.

The SDK takes ``contents`` in many shapes (a string, parts, ``Content`` objects, dicts,
lists of any of these) and its pydantic models name fields in snake_case while dicts may
use the wire's camelCase: both are read. Nothing here imports the SDK.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from provenant.integrations._extract import (
    ReplyInfo,
    RequestInfo,
    field,
    items_of,
)
from provenant.tracing._transcript import NormalizedMessage

__all__ = ["StreamAccumulator", "read_reply", "read_request"]


def _get(obj: Any, snake: str, camel: Optional[str] = None) -> Any:
    value = field(obj, snake)
    if value is None and camel is not None:
        value = field(obj, camel)
    return value


def _is_content(item: Any) -> bool:
    """A ``Content`` (role and parts) rather than a single part."""
    if isinstance(item, dict):
        return "parts" in item or "role" in item
    return hasattr(item, "parts") and hasattr(item, "role")


def _part_summary(part: Any) -> Any:
    """A non-text part as JSON, media summarised (never inlined)."""
    if isinstance(part, str):
        return {"type": "text", "text": part}
    text = _get(part, "text")
    if isinstance(text, str):
        return {"type": "text", "text": text}
    inline = _get(part, "inline_data", "inlineData")
    if inline is not None:
        summary: dict[str, Any] = {"type": "inline_data"}
        mime = _get(inline, "mime_type", "mimeType")
        if mime is not None:
            summary["mediaType"] = mime
        data = _get(inline, "data")
        if isinstance(data, (str, bytes)):
            summary["dataLength"] = len(data)
        return summary
    file_data = _get(part, "file_data", "fileData")
    if file_data is not None:
        return {
            "type": "file_data",
            "url": _get(file_data, "file_uri", "fileUri"),
            "mediaType": _get(file_data, "mime_type", "mimeType"),
        }
    return {"type": type(part).__name__ if not isinstance(part, dict) else "part"}


def _joined(summaries: list[Any]) -> Any:
    """Parts as one string when they are all text, else the list of their summaries."""
    if all(p.get("type") == "text" for p in summaries):
        return "".join(str(p.get("text", "")) for p in summaries)
    return summaries


def _call(function_call: Any) -> dict[str, Any]:
    args = _get(function_call, "args")
    return {
        "id": _get(function_call, "id"),
        "name": _get(function_call, "name"),
        "arguments": dict(args) if isinstance(args, Mapping) else (args or {}),
    }


def _model_message(parts: Any) -> NormalizedMessage:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in items_of(parts):
        function_call = _get(part, "function_call", "functionCall")
        if function_call is not None:
            calls.append(_call(function_call))
            continue
        text = _get(part, "text")
        if isinstance(text, str) and not _get(part, "thought"):
            texts.append(text)
    return NormalizedMessage("ASSISTANT", "".join(texts), tool_calls=tuple(calls))


def _user_messages(parts: Any) -> list[NormalizedMessage]:
    messages: list[NormalizedMessage] = []
    rest: list[Any] = []
    for part in items_of(parts):
        response = _get(part, "function_response", "functionResponse")
        if response is None:
            rest.append(_part_summary(part))
            continue
        output = _get(response, "response")
        messages.append(
            NormalizedMessage(
                "TOOL",
                dict(output) if isinstance(output, Mapping) else output,
                tool_call_id=_get(response, "id"),
                name=_get(response, "name"),
            )
        )
    if rest:
        messages.append(NormalizedMessage("USER", _joined(rest)))
    return messages


def _content_messages(content: Any) -> list[NormalizedMessage]:
    parts = _get(content, "parts")
    if _get(content, "role") == "model":
        return [_model_message(parts)]
    return _user_messages(parts)


def _messages(contents: Any) -> list[NormalizedMessage]:
    if contents is None:
        return []
    items = contents if isinstance(contents, (list, tuple)) else [contents]
    messages: list[NormalizedMessage] = []
    loose: list[Any] = []  # parts given without a Content: one user message, as the SDK sends
    for item in items:
        if _is_content(item):
            if loose:
                messages.extend(_user_messages(loose))
                loose = []
            messages.extend(_content_messages(item))
        else:
            loose.append(item)
    if loose:
        messages.extend(_user_messages(loose))
    return messages


def _system(config: Any) -> Optional[Any]:
    instruction = _get(config, "system_instruction", "systemInstruction")
    if instruction is None:
        return None
    if isinstance(instruction, str):
        return instruction
    parts = _get(instruction, "parts") if _is_content(instruction) else instruction
    if not isinstance(parts, (list, tuple)):
        parts = [parts]
    return _joined([_part_summary(part) for part in parts])


def read_request(kwargs: Mapping[str, Any], *, stream: bool) -> RequestInfo:
    """The neutral request of ``models.generate_content(model=, contents=, config=)``."""
    model = kwargs.get("model")
    return RequestInfo(
        model=model if isinstance(model, str) else None,
        system=_system(kwargs.get("config")),
        messages=_messages(kwargs.get("contents")),
        stream=stream,
    )


def _enum_text(value: Any) -> Optional[str]:
    value = getattr(value, "value", value)
    return value if isinstance(value, str) else None


def _int(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _set_usage(reply: ReplyInfo, usage: Any) -> None:
    """
    Gemini counts the thinking apart from the answer (``thoughtsTokenCount``): the
    output is both, as OpenAI counts it, with the thinking's share beside it. Cached
    tokens are part of the prompt's count.
    """
    if usage is None:
        return
    prompt = _int(_get(usage, "prompt_token_count", "promptTokenCount"))
    answer = _int(_get(usage, "candidates_token_count", "candidatesTokenCount"))
    thoughts = _int(_get(usage, "thoughts_token_count", "thoughtsTokenCount"))
    cached = _int(_get(usage, "cached_content_token_count", "cachedContentTokenCount"))
    reply.input_tokens = prompt
    if answer is not None or thoughts is not None:
        reply.output_tokens = (answer or 0) + (thoughts or 0)
    reply.reasoning_tokens = thoughts
    reply.cache_read_tokens = cached


def _thoughts(parts: Any) -> list[str]:
    return [
        str(_get(part, "text") or "")
        for part in items_of(parts)
        if _get(part, "thought") and isinstance(_get(part, "text"), str)
    ]


def read_reply(response: Any) -> ReplyInfo:
    """The neutral reply of a ``GenerateContentResponse`` (first candidate)."""
    candidates = items_of(_get(response, "candidates"))
    candidate = candidates[0] if candidates else None
    parts = _get(_get(candidate, "content"), "parts")
    message = _model_message(parts)
    thoughts = _thoughts(parts)
    reply = ReplyInfo(
        text=message.content,
        tool_calls=list(message.tool_calls),
        thinking="".join(thoughts) if thoughts else None,
        model=_get(response, "model_version", "modelVersion"),
        response_id=_get(response, "response_id", "responseId"),
        stop_reason=_enum_text(_get(candidate, "finish_reason", "finishReason")),
        choices=max(1, len(candidates)),
    )
    _set_usage(reply, _get(response, "usage_metadata", "usageMetadata"))
    return reply


class StreamAccumulator:
    """Builds the reply of a ``generate_content_stream`` as its chunks pass by."""

    def __init__(self) -> None:
        self.reply = ReplyInfo()
        self.complete = False
        self.has_token = False
        self._texts: list[str] = []
        self._thoughts: list[str] = []
        self._calls: list[dict[str, Any]] = []

    def observe(self, chunk: Any) -> bool:
        """Take one chunk into account; never asks to hide it (returns False)."""
        reply = self.reply
        if reply.response_id is None:
            reply.response_id = _get(chunk, "response_id", "responseId")
        if reply.model is None:
            reply.model = _get(chunk, "model_version", "modelVersion")
        _set_usage(reply, _get(chunk, "usage_metadata", "usageMetadata"))
        candidates = items_of(_get(chunk, "candidates"))
        if not candidates:
            return False
        candidate = candidates[0]
        for part in items_of(_get(_get(candidate, "content"), "parts")):
            function_call = _get(part, "function_call", "functionCall")
            text = _get(part, "text")
            if function_call is not None:
                self._calls.append(_call(function_call))
                self.has_token = True
            elif isinstance(text, str):
                (self._thoughts if _get(part, "thought") else self._texts).append(text)
                self.has_token = self.has_token or bool(text)
        finish = _enum_text(_get(candidate, "finish_reason", "finishReason"))
        if finish is not None:
            reply.stop_reason = finish
            self.complete = True
        return False

    def result(self) -> ReplyInfo:
        """The reply so far."""
        self.reply.text = "".join(self._texts)
        self.reply.tool_calls = list(self._calls)
        if self._thoughts:
            self.reply.thinking = "".join(self._thoughts)
        return self.reply
