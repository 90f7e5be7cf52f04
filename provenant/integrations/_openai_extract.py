"""Read OpenAI Chat Completions and Responses requests, replies and stream events."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from provenant.integrations._extract import (
    ReplyInfo,
    RequestInfo,
    copy_messages,
    copy_tree,
    field,
    items_of,
    normalise_parts,
    parse_arguments,
)
from provenant.tracing._transcript import NormalizedMessage

__all__ = [
    "ChatStreamAccumulator",
    "ResponsesStreamAccumulator",
    "read_chat_reply",
    "read_chat_request",
    "read_response",
    "read_responses_request",
    "snapshot_chat_request",
    "snapshot_responses_request",
]

_SYSTEM_ROLES = ("system", "developer")


def _join_system(parts: list[Any]) -> Optional[Any]:
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, str) for p in parts):
        return "\n\n".join(parts)
    return parts


def _model(kwargs: Mapping[str, Any]) -> Optional[str]:
    model = kwargs.get("model")
    return model if isinstance(model, str) else None


def _call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "name": name, "arguments": parse_arguments(arguments)}


# -- Chat Completions -------------------------------------------------------------------


def snapshot_chat_request(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """What :func:`read_chat_request` reads (model, messages), copied on the caller's
    thread: the request as it was sent."""
    messages = copy_messages(kwargs.get("messages"), ("content", "tool_calls"))
    return {"model": kwargs.get("model"), "messages": messages}


def read_chat_request(kwargs: Mapping[str, Any], *, stream: bool) -> RequestInfo:
    """The neutral request of ``chat.completions.create(**kwargs)``."""
    system: list[Any] = []
    messages: list[NormalizedMessage] = []
    for message in items_of(kwargs.get("messages")):
        role = field(message, "role")
        content = normalise_parts(field(message, "content"))
        if role in _SYSTEM_ROLES:
            system.append(content)
        elif role == "assistant":
            calls = tuple(
                _call(
                    field(c, "id"),
                    field(field(c, "function"), "name"),
                    field(field(c, "function"), "arguments"),
                )
                for c in items_of(field(message, "tool_calls"))
            )
            messages.append(NormalizedMessage("ASSISTANT", content, tool_calls=calls))
        elif role in ("tool", "function"):
            messages.append(
                NormalizedMessage(
                    "TOOL",
                    content,
                    tool_call_id=field(message, "tool_call_id"),
                    name=field(message, "name"),
                )
            )
        else:
            messages.append(NormalizedMessage("USER", content))
    return RequestInfo(_model(kwargs), _join_system(system), messages, stream)


def _index(choice: Any) -> int:
    index = field(choice, "index", 0)
    return index if isinstance(index, int) else 0


def _first(choices: Sequence[Any]) -> Any:
    """The first choice (index 0) of a completion or chunk; ``None`` when it is not there
    (with ``n > 1`` a streamed chunk carries one choice, any of them)."""
    return next((choice for choice in choices if _index(choice) == 0), None)


def _set_usage(reply: ReplyInfo, usage: Any, names: tuple[str, str]) -> None:
    """
    Copy an OpenAI usage: ``names`` are its input and output counts. Their details say
    how much of the input was read from the prompt cache (``cached_tokens``) and how
    much of the output the model reasoned with (``reasoning_tokens``).
    """
    input_name, output_name = names
    reply.input_tokens = field(usage, input_name)
    reply.output_tokens = field(usage, output_name)
    cached = field(field(usage, f"{input_name}_details"), "cached_tokens")
    reply.cache_read_tokens = cached if isinstance(cached, int) else None
    reasoning = field(field(usage, f"{output_name}_details"), "reasoning_tokens")
    reply.reasoning_tokens = reasoning if isinstance(reasoning, int) else None


_CHAT_USAGE = ("prompt_tokens", "completion_tokens")
_RESPONSES_USAGE = ("input_tokens", "output_tokens")


def read_chat_reply(completion: Any) -> ReplyInfo:
    """The neutral reply of a ``ChatCompletion`` (first choice)."""
    choices = items_of(field(completion, "choices", ()))
    choice = _first(choices)
    message = field(choice, "message")
    reply = ReplyInfo(
        choices=max(1, len(choices)),
        text=str(field(message, "content", "") or field(message, "refusal", "")),
        tool_calls=[
            _call(
                field(c, "id"),
                field(field(c, "function"), "name"),
                field(field(c, "function"), "arguments"),
            )
            for c in items_of(field(message, "tool_calls"))
        ],
        model=field(completion, "model"),
        response_id=field(completion, "id"),
        stop_reason=field(choice, "finish_reason"),
        request_id=getattr(completion, "_request_id", None),
    )
    _set_usage(reply, field(completion, "usage"), _CHAT_USAGE)
    return reply


class ChatStreamAccumulator:
    """
    Builds the reply of a chat completion stream as the chunks pass by.

    Args:
        hide_usage_chunk: The SDK asked for usage itself, so the usage-only chunk is
            swallowed and the caller sees exactly the chunks it asked for.
    """

    def __init__(self, *, hide_usage_chunk: bool = False) -> None:
        self.reply = ReplyInfo()
        self.complete = False
        self.has_token = False
        self._hide_usage_chunk = hide_usage_chunk
        self._texts: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._arguments: dict[int, list[str]] = {}

    def observe(self, chunk: Any) -> bool:
        """Take one chunk into account; True when it is the usage chunk to hide."""
        reply = self.reply
        if reply.response_id is None:
            reply.response_id = field(chunk, "id")
            reply.model = field(chunk, "model")
        usage = field(chunk, "usage")
        if usage is not None:
            _set_usage(reply, usage, _CHAT_USAGE)
        choices = items_of(field(chunk, "choices", ()))
        if not choices:
            return self._hide_usage_chunk and usage is not None
        for other in choices:
            reply.choices = max(reply.choices, _index(other) + 1)
        choice = _first(choices)
        if choice is None:
            return False  # a chunk of another choice (n > 1): the first one is recorded
        delta = field(choice, "delta")
        text = field(delta, "content")
        if text:
            self._texts.append(str(text))
            self.has_token = True
        for call in field(delta, "tool_calls", ()):
            index = field(call, "index", 0)
            function = field(call, "function")
            entry = self._calls.setdefault(index, {"id": None, "name": None, "arguments": {}})
            if field(call, "id") is not None:
                entry["id"] = field(call, "id")
            if field(function, "name") is not None:
                entry["name"] = field(function, "name")
            self._arguments.setdefault(index, []).append(str(field(function, "arguments", "")))
            self.has_token = True
        finish = field(choice, "finish_reason")
        if finish is not None:
            reply.stop_reason = finish
            self.complete = True
        return False

    def result(self) -> ReplyInfo:
        """The reply so far."""
        self.reply.text = "".join(self._texts)
        calls = []
        for index in sorted(self._calls):
            call = dict(self._calls[index])
            call["arguments"] = parse_arguments("".join(self._arguments.get(index, ())))
            calls.append(call)
        self.reply.tool_calls = calls
        return self.reply


# -- Responses --------------------------------------------------------------------------


def snapshot_responses_request(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """What :func:`read_responses_request` reads (model, instructions, input, the
    previous response and the conversation), copied on the caller's thread."""
    return {
        "model": kwargs.get("model"),
        "instructions": kwargs.get("instructions"),
        "input": copy_messages(kwargs.get("input"), ("content", "output", "summary")),
        "previous_response_id": kwargs.get("previous_response_id"),
        "conversation": copy_tree(kwargs.get("conversation")),
    }


def read_responses_request(kwargs: Mapping[str, Any], *, stream: bool) -> RequestInfo:
    """The neutral request of ``responses.create(**kwargs)``."""
    instructions = kwargs.get("instructions")
    system: list[Any] = [instructions] if isinstance(instructions, str) else []
    messages: list[NormalizedMessage] = []
    items = kwargs.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    for item in items if isinstance(items, (list, tuple)) else ():
        kind = field(item, "type", "message")
        if kind == "message":
            role = field(item, "role")
            content = normalise_parts(field(item, "content"))
            if role in _SYSTEM_ROLES:
                system.append(content)
            elif role == "assistant":
                messages.append(NormalizedMessage("ASSISTANT", content))
            else:
                messages.append(NormalizedMessage("USER", content))
        elif kind == "function_call":
            call = _call(field(item, "call_id"), field(item, "name"), field(item, "arguments"))
            messages.append(NormalizedMessage("ASSISTANT", "", tool_calls=(call,)))
        elif kind == "function_call_output":
            output = field(item, "output", "")
            messages.append(
                NormalizedMessage(
                    "TOOL", normalise_parts(output), tool_call_id=field(item, "call_id")
                )
            )
    previous = kwargs.get("previous_response_id")
    conversation = kwargs.get("conversation")  # an id, or {"id": ...}
    if not isinstance(conversation, str):
        conversation = field(conversation, "id")
    return RequestInfo(
        _model(kwargs),
        _join_system(system),
        messages,
        stream,
        root=previous if isinstance(previous, str) else None,
        conversation=conversation if isinstance(conversation, str) else None,
    )


def read_response(response: Any) -> ReplyInfo:
    """The neutral reply of a ``Response``."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in field(response, "output", ()):
        kind = field(item, "type")
        if kind == "reasoning":  # the summary of the model's reasoning, when asked for
            for part in items_of(field(item, "summary")):
                thoughts.append(str(field(part, "text", "")))
        elif kind == "message":
            for part in field(item, "content", ()):
                if field(part, "type") == "output_text":
                    texts.append(str(field(part, "text", "")))
                elif field(part, "type") == "refusal":
                    texts.append(str(field(part, "refusal", "")))
        elif kind == "function_call":
            calls.append(
                _call(field(item, "call_id"), field(item, "name"), field(item, "arguments"))
            )
    incomplete = field(field(response, "incomplete_details"), "reason")
    reply = ReplyInfo(
        text="".join(texts),
        tool_calls=calls,
        model=field(response, "model"),
        response_id=field(response, "id"),
        stop_reason=incomplete or field(response, "status"),
        thinking="\n\n".join(thoughts) if thoughts else None,
        request_id=getattr(response, "_request_id", None),
    )
    _set_usage(reply, field(response, "usage"), _RESPONSES_USAGE)
    return reply


_TERMINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


class ResponsesStreamAccumulator:
    """Builds the reply of a Responses event stream as the events pass by."""

    def __init__(self) -> None:
        self.reply = ReplyInfo()
        self.complete = False
        self.has_token = False
        self._final: Optional[ReplyInfo] = None
        self._texts: list[str] = []
        self._calls: dict[Any, dict[str, Any]] = {}

    def observe(self, event: Any) -> bool:
        """Take one event into account; never asks to hide it (returns False)."""
        kind = field(event, "type")
        if kind == "response.output_text.delta":
            self._texts.append(str(field(event, "delta", "")))
            self.has_token = True
        elif kind == "response.output_item.done" or kind == "response.output_item.added":
            item = field(event, "item")
            if field(item, "type") == "function_call":
                self._calls[field(event, "output_index", 0)] = _call(
                    field(item, "call_id"), field(item, "name"), field(item, "arguments")
                )
                self.has_token = True
        elif kind == "response.created":
            response = field(event, "response")
            self.reply.response_id = field(response, "id")
            self.reply.model = field(response, "model")
        elif kind in _TERMINAL_EVENTS:
            self._final = read_response(field(event, "response"))
            self.complete = True
        return False

    def result(self) -> ReplyInfo:
        """The reply so far (the final response's own account once it arrived)."""
        if self._final is not None:
            return self._final
        self.reply.text = "".join(self._texts)
        self.reply.tool_calls = [self._calls[i] for i in sorted(self._calls)]
        return self.reply
