"""
What ``instrument()`` patches for LiteLLM: process-wide only (LiteLLM has no client
object), its entry points, each call recorded once whichever provider it routes to:

- ``litellm.completion(...)`` and ``litellm.acompletion(...)``, with and without
  ``stream=True``;
- ``litellm.Router``'s ``completion(...)`` and ``acompletion(...)``: one call however
  many attempts, retries and fallbacks it makes (those run through the functions above,
  with recording suppressed).

The turns name the provider LiteLLM routed to and the model that answered
(``metadata.provider``, ``metadata.model``), and ``metadata.gateway: "litellm"``. A
provider SDK LiteLLM calls inside (``openai``) records nothing of its own.

LiteLLM's callback interface (``litellm.callbacks``) is not used: it reports a stream
only once it is read to its end, so a stream broken off early would be lost, and it
reports from LiteLLM's own threads, where the caller's session is not current.

A module that did ``from litellm import completion`` before ``instrument()`` keeps the
function it imported: call ``instrument()`` first, or call ``litellm.completion``.
"""

from __future__ import annotations

from provenant.integrations import _litellm_extract as extract
from provenant.integrations._call import ApiSpec
from provenant.integrations._global import Target
from provenant.integrations._patch import Patch

__all__ = ["COMPLETION", "PROVIDER", "TARGETS"]

PROVIDER = "litellm"

COMPLETION = ApiSpec(
    provider=PROVIDER,
    name="completion",
    read_request=extract.read_request,
    read_reply=extract.read_reply,
    make_accumulator=lambda hide_usage_chunk: extract.StreamAccumulator(),
    request_id_header="x-request-id",
    read_error=extract.read_error,
)

_POSITIONAL = ("model", "messages")

TARGETS = tuple(
    Target(
        module=module,
        owner=owner,
        patch=Patch(resource=(), method=method, api=COMPLETION, is_async=method.startswith("a")),
        positional=_POSITIONAL,
    )
    for module, owner in (("litellm", ""), ("litellm.router", "Router"))
    for method in ("completion", "acompletion")
)
