"""
Provider-neutral pieces the extractors share: a call's request, its reply, and content parts.

The extractors read provider objects by duck typing (a field of a dict or an attribute
of a pydantic model), never by importing the provider SDK.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping, Optional, Sequence

from provenant.tracing._transcript import NormalizedMessage

__all__ = [
    "ReplyInfo",
    "RequestInfo",
    "copy_messages",
    "copy_parts",
    "copy_request",
    "copy_tree",
    "field",
    "items_of",
    "normalise_parts",
    "parse_arguments",
    "summarise_part",
]

_MISSING = object()


def field(obj: Any, name: str, default: Any = None) -> Any:
    """Read ``name`` from a mapping or an object, ``default`` when absent or ``None``."""
    value = obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)
    return default if value is None else value


@dataclasses.dataclass
class RequestInfo:
    """What a call sends: the system prompt, the messages, and how it asks."""

    model: Optional[str]
    system: Optional[Any]
    messages: list[NormalizedMessage]
    stream: bool
    # The Responses API's ``previous_response_id``: the input continues that response.
    root: Optional[str] = None
    # The Responses API's ``conversation``: the server keeps the history, every input is new.
    conversation: Optional[str] = None


@dataclasses.dataclass
class ReplyInfo:
    """What a call answered (or, for a stream, what arrived of it)."""

    text: str = ""
    tool_calls: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    model: Optional[str] = None
    response_id: Optional[str] = None
    stop_reason: Optional[str] = None
    # The whole prompt, cached tokens included (the OpenTelemetry conventions' count).
    input_tokens: Optional[int] = None
    output_tokens: Optional[int] = None
    # Of the input: tokens read from and written to the provider's prompt cache.
    cache_read_tokens: Optional[int] = None
    cache_creation_tokens: Optional[int] = None
    # Of the output: tokens the model reasoned with (OpenAI reports them).
    reasoning_tokens: Optional[int] = None
    # What the model thought before answering (Anthropic's thinking blocks, the summary
    # of an OpenAI Responses reasoning item).
    thinking: Optional[str] = None
    # How many choices the reply had (OpenAI ``n``); the first is the one recorded.
    choices: int = 1
    request_id: Optional[str] = None


_CONTAINERS = (dict, list, tuple)


def copy_tree(value: Any, depth: int = 4) -> Any:
    """
    A copy of the plain dicts and lists (tuples become lists) in ``value``, ``depth``
    levels down; text, numbers and other objects are shared, not copied.

    A request is read into turns later, on the exporter's worker: its snapshot, taken on
    the caller's thread, copies what the turns are read from, so that a message changed
    or a part dropped after the call (a large image removed from the history) does not
    change what is recorded as sent.
    """
    kind = type(value)
    if kind is dict:
        out = dict(value)
        if depth > 0:
            for key, item in value.items():
                if type(item) in _CONTAINERS:  # a value replaced in place: the size is kept
                    out[key] = copy_tree(item, depth - 1)
        return out
    if kind is list or kind is tuple:
        if depth <= 0:
            return list(value)
        return [copy_tree(item, depth - 1) if type(item) in _CONTAINERS else item for item in value]
    return value


def copy_parts(parts: Any) -> Any:
    """
    A message's content as sent: its list and each part's dict copied, with the dicts and
    lists a part holds (an image's source, a tool call's input, a tool result's parts)
    copied one level further; text as it is (nothing to copy).
    """
    if type(parts) is not list and type(parts) is not tuple:
        return parts
    copied = []
    for part in parts:
        if type(part) is dict:
            part = dict(part)
            for key, item in part.items():
                if type(item) in _CONTAINERS:
                    part[key] = copy_tree(item, 1)
        copied.append(part)
    return copied


def copy_messages(messages: Any, parts_keys: tuple[str, ...] = ("content",)) -> Any:
    """
    A request's messages as sent: the list and each message's dict copied, and the values
    under ``parts_keys`` (content parts, OpenAI tool calls) copied with :func:`copy_parts`.
    Message objects that are not dicts (pydantic models) are shared.
    """
    if type(messages) is not list and type(messages) is not tuple:
        return messages
    copied = []
    for message in messages:
        if type(message) is dict:
            message = dict(message)
            for key in parts_keys:
                parts = message.get(key)
                if type(parts) is list or type(parts) is tuple:
                    message[key] = copy_parts(parts)
        copied.append(message)
    return copied


def copy_request(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Every keyword argument of a call, copied with :func:`copy_tree`: the snapshot of an
    API that names no snapshot of its own (one that copies only what it reads is cheaper)."""
    return {key: copy_tree(value) for key, value in kwargs.items()}


def items_of(value: Any) -> Sequence[Any]:
    """``value`` when it is a list or tuple, else nothing: an iterator is never consumed."""
    return value if isinstance(value, (list, tuple)) else ()


def parse_arguments(arguments: Any) -> Any:
    """Decode tool-call arguments sent as a JSON string; anything else as it is."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return arguments
    return arguments


def _length_of_data(data: Any) -> Optional[int]:
    if isinstance(data, (str, bytes)):
        return len(data)
    return None


def summarise_part(part: Any) -> Any:
    """
    Return one content part as JSON, with media summarised (type, size), never inlined.

    Text parts keep their text; images, audio and documents keep their kind, media type,
    URL (unless a ``data:`` URL) and the length of inline data.
    """
    if isinstance(part, str):
        return {"type": "text", "text": part}
    kind = str(field(part, "type", "unknown"))
    if kind in ("text", "input_text", "output_text"):
        return {"type": "text", "text": field(part, "text", "")}
    summary: dict[str, Any] = {"type": kind}
    source = field(part, "source")
    if source is not None:  # Anthropic image / document blocks
        summary["sourceType"] = field(source, "type")
        media_type = field(source, "media_type")
        if media_type is not None:
            summary["mediaType"] = media_type
        url = field(source, "url")
        if isinstance(url, str):
            summary["url"] = url
        size = _length_of_data(field(source, "data"))
        if size is not None:
            summary["dataLength"] = size
        return summary
    image_url = field(part, "image_url")
    url = (
        field(image_url, "url")
        if image_url is not None and not isinstance(image_url, str)
        else image_url
    )
    if isinstance(url, str):  # OpenAI image_url / input_image
        if url.startswith("data:"):
            summary["mediaType"] = url[5:].split(";", 1)[0]
            summary["dataLength"] = len(url)
        else:
            summary["url"] = url
        return summary
    for name in ("file_id", "filename", "format"):
        value = field(part, name)
        if isinstance(value, str):
            summary[name] = value
    for name in ("data", "file_data"):
        size = _length_of_data(field(part, name))
        if size is not None:
            summary["dataLength"] = size
    audio = field(part, "input_audio")
    if audio is not None:
        summary["format"] = field(audio, "format")
        size = _length_of_data(field(audio, "data"))
        if size is not None:
            summary["dataLength"] = size
    return summary


def normalise_parts(content: Any) -> Any:
    """A message content as a string when it is only text, else a list of summarised parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, (list, tuple)):
        return f"<{type(content).__name__}>"  # never consume a caller's iterator
    parts = [summarise_part(part) for part in content]
    if all(p.get("type") == "text" for p in parts):
        return "".join(str(p.get("text", "")) for p in parts)
    return parts
