"""Read Anthropic Messages requests, replies and raw stream events into neutral records."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from provenant.integrations._extract import (
    ReplyInfo,
    RequestInfo,
    copy_messages,
    copy_parts,
    field,
    items_of,
    normalise_parts,
    parse_arguments,
)
from provenant.tracing._transcript import NormalizedMessage

__all__ = ["StreamAccumulator", "read_reply", "read_request", "snapshot_request"]


def _system_text(system: Any) -> Optional[Any]:
    if isinstance(system, str):
        return system
    if isinstance(system, (list, tuple)):
        return normalise_parts(system)
    return None  # absent, None, or the SDK's ``omit`` sentinel


def _assistant(content: Any) -> NormalizedMessage:
    if isinstance(content, str):
        return NormalizedMessage("ASSISTANT", content)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in items_of(content):
        kind = field(block, "type")
        if kind == "text":
            texts.append(str(field(block, "text", "")))
        elif kind in _TOOL_USE_BLOCKS:
            calls.append(_tool_call(block))
    return NormalizedMessage("ASSISTANT", "".join(texts), tool_calls=tuple(calls))


# A tool the caller runs, and one the provider ran itself (web search, code execution),
# marked ``"type": "server_tool_use"`` in the recorded tool calls.
_TOOL_USE_BLOCKS = ("tool_use", "server_tool_use")


def _tool_call(block: Any) -> dict[str, Any]:
    call = {
        "id": field(block, "id"),
        "name": field(block, "name"),
        "arguments": field(block, "input", {}),
    }
    if field(block, "type") == "server_tool_use":
        call["type"] = "server_tool_use"
    return call


def _thinking(content: Any) -> Optional[str]:
    """The text of a reply's thinking blocks (extended thinking), ``None`` without any."""
    texts = [
        str(field(block, "thinking", ""))
        for block in items_of(content)
        if field(block, "type") == "thinking"
    ]
    return "".join(texts) if texts else None


def _user(content: Any) -> list[NormalizedMessage]:
    if isinstance(content, str):
        return [NormalizedMessage("USER", content)]
    messages: list[NormalizedMessage] = []
    rest: list[Any] = []
    for block in items_of(content):
        if field(block, "type") == "tool_result":
            messages.append(
                NormalizedMessage(
                    "TOOL",
                    normalise_parts(field(block, "content", "")),
                    tool_call_id=field(block, "tool_use_id"),
                )
            )
        else:
            rest.append(block)
    if rest:
        messages.append(NormalizedMessage("USER", normalise_parts(rest)))
    return messages


def snapshot_request(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """What :func:`read_request` reads of ``messages.create(**kwargs)`` (model, system,
    messages), copied on the caller's thread: the request as it was sent."""
    return {
        "model": kwargs.get("model"),
        "system": copy_parts(kwargs.get("system")),
        "messages": copy_messages(kwargs.get("messages")),
    }


def read_request(kwargs: Mapping[str, Any], *, stream: bool) -> RequestInfo:
    """The neutral request of ``messages.create(**kwargs)`` (``messages`` already a list)."""
    messages: list[NormalizedMessage] = []
    for message in items_of(kwargs.get("messages")):
        role = field(message, "role")
        content = field(message, "content", "")
        if role == "assistant":
            messages.append(_assistant(content))
        else:
            messages.extend(_user(content))
    model = kwargs.get("model")
    return RequestInfo(
        model=model if isinstance(model, str) else None,
        system=_system_text(kwargs.get("system")),
        messages=messages,
        stream=stream,
    )


_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def _counts(usage: Any) -> dict[str, int]:
    """The token counts a ``Usage`` (or a stream event's usage) reports."""
    counts = {}
    for name in _USAGE_FIELDS:
        value = field(usage, name)
        if isinstance(value, int) and not isinstance(value, bool):
            counts[name] = value
    return counts


def _set_usage(reply: ReplyInfo, counts: Mapping[str, int]) -> None:
    """
    Anthropic counts cache reads and writes apart from ``input_tokens``; the reply's
    input is the whole prompt, as OpenAI counts it and the OpenTelemetry conventions
    define it, with the cache's share beside it.
    """
    uncached = counts.get("input_tokens")
    read = counts.get("cache_read_input_tokens")
    written = counts.get("cache_creation_input_tokens")
    if uncached is not None or read is not None or written is not None:
        reply.input_tokens = (uncached or 0) + (read or 0) + (written or 0)
    reply.output_tokens = counts.get("output_tokens")
    reply.cache_read_tokens = read
    reply.cache_creation_tokens = written


def read_reply(message: Any) -> ReplyInfo:
    """The neutral reply of an Anthropic ``Message``."""
    content = field(message, "content", ())
    reply = _assistant(content)
    info = ReplyInfo(
        text=reply.content,
        tool_calls=list(reply.tool_calls),
        thinking=_thinking(content),
        model=field(message, "model"),
        response_id=field(message, "id"),
        stop_reason=field(message, "stop_reason"),
        request_id=getattr(message, "_request_id", None),
    )
    _set_usage(info, _counts(field(message, "usage")))
    return info


class StreamAccumulator:
    """Builds the reply of an Anthropic raw event stream as the events pass by."""

    def __init__(self) -> None:
        self.reply = ReplyInfo()
        self.complete = False
        self.has_token = False
        self._texts: list[str] = []
        self._thoughts: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._json: dict[int, list[str]] = {}
        # message_start reports the input; message_delta the output (and, lately, the
        # final input counts again).
        self._counts: dict[str, int] = {}

    def observe(self, event: Any) -> bool:
        """Take one event into account; never asks to hide it (returns False)."""
        kind = field(event, "type")
        if kind == "content_block_delta":
            delta = field(event, "delta")
            delta_kind = field(delta, "type")
            if delta_kind == "text_delta":
                self._texts.append(str(field(delta, "text", "")))
                self.has_token = True
            elif delta_kind == "thinking_delta":
                self._thoughts.append(str(field(delta, "thinking", "")))
                self.has_token = True
            elif delta_kind == "input_json_delta":
                self._json.setdefault(field(event, "index", 0), []).append(
                    str(field(delta, "partial_json", ""))
                )
                self.has_token = True
        elif kind == "content_block_start":
            block = field(event, "content_block")
            if field(block, "type") == "thinking":
                self._thoughts.append(str(field(block, "thinking", "")))
            elif field(block, "type") in _TOOL_USE_BLOCKS:
                self._calls[field(event, "index", 0)] = _tool_call(block)
                self.has_token = True
        elif kind == "message_start":
            message = field(event, "message")
            self.reply.model = field(message, "model")
            self.reply.response_id = field(message, "id")
            self._counts = _counts(field(message, "usage"))
            _set_usage(self.reply, self._counts)
        elif kind == "message_delta":
            self.reply.stop_reason = field(field(event, "delta"), "stop_reason")
            self._counts.update(_counts(field(event, "usage")))
            _set_usage(self.reply, self._counts)
        elif kind == "message_stop":
            self.complete = True
        return False

    def result(self) -> ReplyInfo:
        """The reply so far."""
        self.reply.text = "".join(self._texts)
        if self._thoughts:
            self.reply.thinking = "".join(self._thoughts)
        calls = []
        for index in sorted(self._calls):
            call = dict(self._calls[index])
            if index in self._json:
                call["arguments"] = parse_arguments("".join(self._json[index]))
            calls.append(call)
        self.reply.tool_calls = calls
        return self.reply
