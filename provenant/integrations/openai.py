"""
What ``instrument()`` patches on an OpenAI client (``OpenAI``, ``AsyncOpenAI`` and their
subclasses such as ``AzureOpenAI``).

- ``client.chat.completions.create(...)``, with and without ``stream=True``;
- ``client.chat.completions.parse(...)``;
- ``client.responses.create(...)``, with and without ``stream=True``;
- ``client.responses.parse(...)``, where the SDK has it;
- ``client.beta.chat.completions.create(...)`` and ``parse(...)``, where the SDK has them
  on a resource of their own.

The ``stream(...)`` helpers of chat completions and responses open their stream with
``create(stream=True)``, so they are recorded through it.

``with_raw_response`` variants are recorded (their ``parse()`` is cached by the SDK);
``with_streaming_response`` passes through untouched.
"""

from __future__ import annotations

from provenant.integrations import _openai_extract as extract
from provenant.integrations._call import ApiSpec
from provenant.integrations._patch import Patch

__all__ = ["CHAT", "PATCHES", "PROVIDER", "RESPONSES"]

PROVIDER = "openai"

CHAT = ApiSpec(
    provider=PROVIDER,
    name="chat",
    read_request=extract.read_chat_request,
    read_reply=extract.read_chat_reply,
    make_accumulator=lambda hide_usage_chunk: extract.ChatStreamAccumulator(
        hide_usage_chunk=hide_usage_chunk
    ),
    request_id_header="x-request-id",
    snapshot_request=extract.snapshot_chat_request,
)

RESPONSES = ApiSpec(
    provider=PROVIDER,
    name="responses",
    read_request=extract.read_responses_request,
    read_reply=extract.read_response,
    make_accumulator=lambda hide_usage_chunk: extract.ResponsesStreamAccumulator(),
    request_id_header="x-request-id",
    snapshot_request=extract.snapshot_responses_request,
)

PATCHES = (
    Patch(resource=("chat", "completions"), method="create", api=CHAT),
    Patch(resource=("chat", "completions"), method="parse", api=CHAT),
    Patch(resource=("beta", "chat", "completions"), method="create", api=CHAT),
    Patch(resource=("beta", "chat", "completions"), method="parse", api=CHAT),
    Patch(resource=("responses",), method="create", api=RESPONSES),
    Patch(resource=("responses",), method="parse", api=RESPONSES),
)
