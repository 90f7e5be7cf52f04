"""
Read LiteLLM calls: OpenAI-shaped requests and replies whichever provider answered, plus
the provider LiteLLM routed to (its ``_hidden_params``, the ``provider/`` prefix of the
model, an explicit ``custom_llm_provider``). Nothing here imports LiteLLM.
"""

from __future__ import annotations

import sys
from typing import Any, Mapping, Optional

from provenant.integrations import _openai_extract as openai_extract
from provenant.integrations._extract import ReplyInfo, RequestInfo, field

__all__ = ["StreamAccumulator", "read_error", "read_reply", "read_request"]


def _hidden(obj: Any, name: str) -> Any:
    hidden = getattr(obj, "_hidden_params", None)
    return hidden.get(name) if isinstance(hidden, dict) else None


def _known_provider(name: Any) -> Optional[str]:
    if not isinstance(name, str) or not name:
        return None
    litellm = sys.modules.get("litellm")
    providers = getattr(litellm, "provider_list", None) if litellm is not None else None
    if providers is None:
        return name
    known = {getattr(p, "value", p) for p in providers}
    return name if name in known else None


def read_request(kwargs: Mapping[str, Any], *, stream: bool) -> RequestInfo:
    """The neutral request of ``litellm.completion(**kwargs)`` (OpenAI's chat shape)."""
    request = openai_extract.read_chat_request(kwargs, stream=stream)
    provider = _known_provider(kwargs.get("custom_llm_provider"))
    if provider is None and request.model and "/" in request.model:
        provider = _known_provider(request.model.split("/", 1)[0])
    request.provider = provider
    return request


def read_reply(response: Any) -> ReplyInfo:
    """The neutral reply of a LiteLLM ``ModelResponse``."""
    reply = openai_extract.read_chat_reply(response)
    provider = _hidden(response, "custom_llm_provider")
    reply.provider = provider if isinstance(provider, str) else None
    return reply


class StreamAccumulator(openai_extract.ChatStreamAccumulator):
    """A LiteLLM ``CustomStreamWrapper``'s chunks: OpenAI's, the usage and provider
    sometimes only in their ``_hidden_params``."""

    def observe(self, chunk: Any) -> bool:
        """Take one chunk into account; never asks to hide it."""
        super().observe(chunk)
        if self.reply.provider is None:
            provider = _hidden(chunk, "custom_llm_provider")
            self.reply.provider = provider if isinstance(provider, str) else None
        usage = _hidden(chunk, "usage")
        if usage is not None and field(chunk, "usage") is None:
            openai_extract._set_usage(self.reply, usage, openai_extract._CHAT_USAGE)
        return False


def read_error(exc: BaseException) -> ReplyInfo:
    """What a LiteLLM exception tells of the call: the provider and the model."""
    provider = getattr(exc, "llm_provider", None)
    model = getattr(exc, "model", None)
    return ReplyInfo(
        provider=provider if isinstance(provider, str) and provider else None,
        model=model if isinstance(model, str) and model else None,
        request_id=getattr(exc, "request_id", None),
    )
