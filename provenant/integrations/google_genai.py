"""
What ``instrument()`` patches on a Google GenAI client (``google.genai.Client`` and its
async twin ``client.aio``, a ``google.genai.client.AsyncClient``).

- ``client.models.generate_content(...)`` and ``generate_content_stream(...)``;
- ``client.aio.models.generate_content(...)`` and ``generate_content_stream(...)``;
- ``client.chats`` and ``client.aio.chats`` sessions, whose ``send_message`` and
  ``send_message_stream`` call the methods above on the same client.

A call with automatic function calling (Python functions given as tools) is recorded
as one call: the request, and the SDK's final reply.

Process-wide (``instrument()``), the same methods are wrapped on the SDK's ``Models``
and ``AsyncModels`` classes (:data:`TARGETS`), for every client.
"""

from __future__ import annotations

from provenant.integrations import _google_extract as extract
from provenant.integrations._call import ApiSpec
from provenant.integrations._global import Target
from provenant.integrations._patch import GOOGLE, Patch

__all__ = ["GENERATE", "PATCHES", "PATCHES_ASYNC", "PROVIDER", "TARGETS"]

PROVIDER = GOOGLE

GENERATE = ApiSpec(
    provider=PROVIDER,
    name="generate_content",
    read_request=extract.read_request,
    read_reply=extract.read_reply,
    make_accumulator=lambda hide_usage_chunk: extract.StreamAccumulator(),
    request_id_header="x-request-id",
)


def _patches(resource: tuple[str, ...], is_async: bool) -> tuple[Patch, ...]:
    return (
        Patch(resource=resource, method="generate_content", api=GENERATE, is_async=is_async),
        Patch(
            resource=resource,
            method="generate_content_stream",
            api=GENERATE,
            always_stream=True,
            is_async=is_async,
        ),
    )


# google.genai.Client: its own models, and its async twin's.
PATCHES = _patches(("models",), False) + _patches(("aio", "models"), True)
# google.genai.client.AsyncClient given on its own.
PATCHES_ASYNC = _patches(("models",), True)

TARGETS = tuple(
    Target(module="google.genai.models", owner=owner, patch=patch)
    for owner, is_async in (("Models", False), ("AsyncModels", True))
    for patch in _patches((), is_async)
)
