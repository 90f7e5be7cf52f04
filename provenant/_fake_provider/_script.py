"""What the fake provider answers: scripted replies, and the requests it received."""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any, Callable, Mapping, Optional, Sequence

__all__ = ["RecordedRequest", "Reply", "ToolCall", "echo_reply", "last_user_text"]

_ids = itertools.count(1)


def next_id(prefix: str) -> str:
    """Return a fresh, readable, process-unique id such as ``msg_000001``."""
    return f"{prefix}_{next(_ids):06d}"


@dataclasses.dataclass(frozen=True)
class ToolCall:
    """
    A tool call the scripted model makes.

    Args:
        name: The tool's name.
        arguments: The arguments, as a JSON object.
        id: The call id (one is generated when omitted).
    """

    name: str
    arguments: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    id: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Reply:
    """
    One scripted answer of the fake provider.

    Args:
        text: The assistant's text (split into word chunks when streamed).
        tool_calls: Tool calls made after the text.
        input_tokens: Reported input tokens outside any prompt cache (default: a count
            derived from the request).
        output_tokens: Reported output tokens (default: the number of chunks).
        cache_read_tokens: Input tokens read from the prompt cache.
        cache_creation_tokens: Input tokens written to the prompt cache. Each wire format
            reports the cache its own way: Anthropic beside ``input_tokens``, OpenAI
            within ``prompt_tokens`` / ``input_tokens`` (cached tokens being the reads).
        reasoning_tokens: OpenAI only: of the output tokens, those the model reasoned
            with (``completion_tokens_details`` / ``output_tokens_details``).
        thinking: What the model thought: an Anthropic ``thinking`` block before the
            text (streamed as ``thinking_delta`` events), or an OpenAI Responses
            ``reasoning`` item with this summary.
        server_tool_calls: Anthropic only: tools the provider ran itself (web search,
            code execution), as ``server_tool_use`` blocks before the text.
        stop_reason: Overrides the stop/finish reason (default: from the content).
        status: An HTTP error status (e.g. 500, 429) answered instead of a reply.
        error_message: The error's message when ``status`` is set.
        delay_s: Seconds to wait before answering (for timeouts).
        chunk_delay_s: Seconds to wait between streamed chunks.
        retry_after_s: ``retry-after`` header of a 429.
        model: The model name answered (default: the requested one).
        stream_error_after: Streams only: after this many events, send the provider's
            error event (Anthropic ``event: error``, OpenAI ``{"error": ...}``) and end.
    """

    text: str = "Hello from the fake model."
    tool_calls: Sequence[ToolCall] = ()
    input_tokens: Optional[int] = None
    output_tokens: Optional[int] = None
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    thinking: Optional[str] = None
    server_tool_calls: Sequence[ToolCall] = ()
    stop_reason: Optional[str] = None
    status: Optional[int] = None
    error_message: str = "The fake provider was told to fail."
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    retry_after_s: Optional[float] = None
    model: Optional[str] = None
    stream_error_after: Optional[int] = None

    def chunks(self) -> list[str]:
        """The text split into streamed pieces: words, each keeping its leading space."""
        words = self.text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)] if self.text else []

    def usage(self, request: RecordedRequest) -> tuple[int, int]:
        """Return ``(input_tokens, output_tokens)`` reported for ``request``."""
        input_tokens = self.input_tokens
        if input_tokens is None:
            input_tokens = 5 + len(json.dumps(request.body, sort_keys=True)) // 16
        output_tokens = self.output_tokens
        if output_tokens is None:
            output_tokens = max(1, len(self.chunks()) + 3 * len(self.tool_calls))
        return input_tokens, output_tokens


@dataclasses.dataclass
class RecordedRequest:
    """
    A request the fake provider received.

    Args:
        method: The HTTP method.
        path: The path, without the query string.
        headers: The headers, names lower-cased.
        body: The decoded JSON body (``None`` when absent or not JSON).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def api(self) -> str:
        """``"anthropic"``, ``"chat"``, ``"responses"`` or ``"gemini"`` (``"unknown"``
        otherwise)."""
        if self.path.endswith((":generateContent", ":streamGenerateContent")):
            return "gemini"  # .../models/<model>:generateContent, the Gemini API
        if self.path.endswith(("/messages", ":rawPredict", ":streamRawPredict")):
            # Vertex AI names the model in the path and the call after a colon.
            return "anthropic"
        if self.path.endswith("/chat/completions"):
            return "chat"
        if self.path.endswith("/responses"):
            return "responses"
        return "unknown"

    @property
    def stream(self) -> bool:
        """Whether the request asked for a streamed answer."""
        if self.path.endswith(":streamGenerateContent"):
            return True
        return isinstance(self.body, dict) and bool(self.body.get("stream"))


Responder = Callable[[RecordedRequest], Reply]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return " ".join(parts)
    return ""


def _gemini_user_text(contents: list[Any]) -> str:
    for content in reversed(contents):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            parts = content.get("parts")
            texts = [p["text"] for p in parts or () if isinstance(p, dict) and "text" in p]
            if texts:
                return " ".join(str(t) for t in texts)
    return ""


def last_user_text(request: RecordedRequest) -> str:
    """Return the text of the last user message of an Anthropic, Chat, Responses or
    Gemini request."""
    body = request.body if isinstance(request.body, dict) else {}
    if isinstance(body.get("contents"), list):
        return _gemini_user_text(body["contents"])
    messages = body.get("messages")
    if messages is None:
        messages = body.get("input")
    if isinstance(messages, str):
        return messages
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return _text_of(message.get("content"))
    return ""


def echo_reply(request: RecordedRequest) -> Reply:
    """The default answer when nothing is scripted: ``"You said: <last user text>"``."""
    return Reply(text=f"You said: {last_user_text(request)}")
