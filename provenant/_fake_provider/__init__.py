"""
A scripted model server on 127.0.0.1 speaking the Anthropic Messages, OpenAI Chat
Completions and Responses, and Gemini ``generateContent`` wire formats, JSON and
Server-Sent Events.

Used by the tests, the examples and ``provenant demo``; standard library only::

    from provenant._fake_provider import Reply, ToolCall, start_fake_provider

    with start_fake_provider() as fake:
        fake.script(Reply(text="Hi!"), Reply(status=500))
        client = anthropic.Anthropic(base_url=fake.url, api_key="x")
        openai_client = openai.OpenAI(base_url=fake.openai_base_url, api_key="x")
        gemini = genai.Client(api_key="x", http_options={"base_url": fake.url})
        ...
        fake.requests  # what it received

Unscripted requests are answered ``"You said: <last user text>"``. OpenAI chat streams
carry a usage chunk only when the request sets ``stream_options.include_usage``.
"""

from __future__ import annotations

from provenant._fake_provider._script import (
    RecordedRequest,
    Reply,
    Responder,
    ToolCall,
    echo_reply,
    last_user_text,
)
from provenant._fake_provider._server import FakeProvider, start_fake_provider

__all__ = [
    "FakeProvider",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ToolCall",
    "echo_reply",
    "last_user_text",
    "start_fake_provider",
]
