"""
What ``instrument()`` patches on an Anthropic client (``Anthropic``, ``AsyncAnthropic``
and the clients sharing their ``messages`` resource, such as Bedrock and Vertex).

- ``client.messages.create(...)``, with and without ``stream=True``;
- ``client.messages.stream(...)``, the helper (``text_stream``, ``get_final_message()``,
  ``until_done()``): recorded when the stream it opens ends;
- ``client.messages.parse(...)`` (structured outputs), where the SDK has it;
- the same three on ``client.beta.messages`` (the beta features' wire format is the
  same), where the SDK has them.

``with_raw_response.create`` is recorded (its ``parse()`` is cached by the SDK);
``with_streaming_response`` passes through untouched.
"""

from __future__ import annotations

from provenant.integrations import _anthropic_extract as extract
from provenant.integrations._call import ApiSpec
from provenant.integrations._patch import Patch

__all__ = ["MESSAGES", "PATCHES", "PROVIDER"]

PROVIDER = "anthropic"

MESSAGES = ApiSpec(
    provider=PROVIDER,
    name="messages",
    read_request=extract.read_request,
    read_reply=extract.read_reply,
    make_accumulator=lambda hide_usage_chunk: extract.StreamAccumulator(),
    request_id_header="request-id",
    snapshot_request=extract.snapshot_request,
)

PATCHES = tuple(
    patch
    for resource in (("messages",), ("beta", "messages"))
    for patch in (
        Patch(resource=resource, method="create", api=MESSAGES),
        Patch(resource=resource, method="stream", api=MESSAGES, stream_helper=True),
        # parse() posts itself (it does not call create()): recorded once.
        Patch(resource=resource, method="parse", api=MESSAGES),
    )
)
