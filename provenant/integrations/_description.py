"""
:class:`CallDescription`: one LLM call described once, and the two records made from it.

An instrumented call is recorded twice: as the ASSISTANT turn of its session (metadata
in the contract's camelCase) and, when observers exist, as the attributes of its span
(the snake_case names of the tracing seam, which the OpenTelemetry export maps to
``gen_ai.*``). Both come from this one description, so a new fact of a call is
described here once and each record says whether it carries it::

    described = CallDescription(api.provider, request, reply, stream=False)
    described.turn_metadata()          # {"model": ..., "provider": ..., "stream": ...}
    described.span_attributes(capture_content=True, time_to_first_token_ms=None)
    request_attributes(api.provider, request, stream=False, capture_content=True)
"""

from __future__ import annotations

from typing import Any

from provenant.integrations._extract import ReplyInfo, RequestInfo

__all__ = ["CallDescription", "request_attributes"]


def request_attributes(
    provider: str, request: RequestInfo, *, stream: bool, capture_content: bool
) -> dict[str, Any]:
    """The attributes a call's span starts with: what the request says of the call."""
    attributes: dict[str, Any] = {
        "provider": provider,
        "operation": "chat",
        "request_model": request.model,
        "stream": stream,
    }
    if capture_content:
        attributes["input_messages"] = _span_messages(request)
    return attributes


def _span_messages(request: RequestInfo) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if request.system is not None:
        messages.append({"role": "system", "content": request.system})
    for message in request.messages:
        messages.append({"role": message.role.lower(), "content": message.content})
    return messages


class CallDescription:
    """
    What one LLM call was: the instrumented provider, the request and the reply.

    Args:
        provider: The provider the integration instruments (``"anthropic"``,
            ``"litellm"``...).
        request: What the call sent.
        reply: What it answered (or what arrived of a stream).
        stream: Whether it streamed.

    Attributes:
        model: The model that answered, else the one asked for.
        provider: The provider that answered (a gateway's choice, when one routed it).
        gateway: The instrumented provider when it routed to another (LiteLLM), or None.
    """

    __slots__ = ("gateway", "model", "provider", "reply", "request", "stream")

    def __init__(
        self, provider: str, request: RequestInfo, reply: ReplyInfo, *, stream: bool
    ) -> None:
        self.request = request
        self.reply = reply
        self.stream = stream
        self.model = reply.model or request.model
        self.provider = reply.provider or request.provider or provider
        self.gateway = provider if self.provider != provider else None

    def turn_metadata(self) -> dict[str, Any]:
        """The ASSISTANT turn's metadata of the call, in the contract's spelling (the
        caller adds its price, thinking, a stream's timings and an error after these)."""
        reply = self.reply
        metadata: dict[str, Any] = {
            "model": self.model,
            "provider": self.provider,
            "stream": self.stream,
        }
        if self.gateway is not None:
            metadata["gateway"] = self.gateway  # LiteLLM: the provider it routed to
        if reply.stop_reason is not None:
            metadata["stopReason"] = reply.stop_reason
        if reply.request_id is not None:
            metadata["requestId"] = reply.request_id
        if reply.response_id is not None:
            metadata["responseId"] = reply.response_id
        if reply.cache_read_tokens:
            metadata["cacheReadTokens"] = reply.cache_read_tokens
        if reply.cache_creation_tokens:
            metadata["cacheCreationTokens"] = reply.cache_creation_tokens
        if reply.reasoning_tokens:
            metadata["reasoningTokens"] = reply.reasoning_tokens
        if reply.choices > 1:
            metadata["choices"] = reply.choices
        return metadata

    def span_attributes(
        self, *, capture_content: bool, time_to_first_token_ms: Any = None
    ) -> dict[str, Any]:
        """The attributes the call's span ends with (the tracing seam's names; ``None``
        values left out): the reply's model, id, finish reason, usage and tool calls."""
        reply = self.reply
        attributes: dict[str, Any] = {
            "response_model": reply.model,
            "response_id": reply.response_id,
            "finish_reasons": [reply.stop_reason] if reply.stop_reason else [],
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "cache_read_tokens": reply.cache_read_tokens or None,
            "cache_creation_tokens": reply.cache_creation_tokens or None,
            "tool_calls": [
                {"id": c.get("id"), "name": c.get("name"), "arguments": c.get("arguments")}
                for c in reply.tool_calls
            ],
        }
        if time_to_first_token_ms is not None:
            attributes["time_to_first_token_ms"] = time_to_first_token_ms
        if capture_content:
            content: Any = reply.text
            if reply.thinking:  # a reasoning part before the answer's text
                content = [
                    {"type": "thinking", "thinking": reply.thinking},
                    {"type": "text", "text": reply.text},
                ]
            attributes["output_messages"] = [{"role": "assistant", "content": content}]
        return {key: value for key, value in attributes.items() if value is not None}
