"""What was sent is what is recorded: a request's messages changed by the caller after
the call (say, a large image dropped from the history) are recorded as they were sent."""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

import anthropic
import openai
import pytest

import provenant
from provenant._fake_provider import FakeProvider, Reply
from provenant.client import ProvenantClient

IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}


@contextlib.contextmanager
def worker_held(session: Any) -> Iterator[None]:
    """Hold the exporter's worker on a record of the session's until the block ends, so
    that the calls made meanwhile are read after the caller changed their messages."""
    release = threading.Event()

    def hold() -> list[dict[str, Any]]:
        release.wait(10)
        return []

    session.add_deferred(hold)
    try:
        yield
    finally:
        release.set()


def _anthropic(fake: FakeProvider, recorder: ProvenantClient) -> Any:
    raw = anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0)
    return provenant.instrument(raw, provenant=recorder, agent_id="Bot")


def _openai(fake: FakeProvider, recorder: ProvenantClient) -> Any:
    raw = openai.OpenAI(base_url=f"{fake.url}/v1", api_key="k", max_retries=0)
    return provenant.instrument(raw, provenant=recorder, agent_id="Bot")


def _anthropic_create(client: Any, stream: bool) -> None:
    text = {"type": "text", "text": "What is in this picture?"}
    messages: list[dict[str, Any]] = [{"role": "user", "content": [text, dict(IMAGE)]}]
    result = client.messages.create(model="m", max_tokens=9, messages=messages, stream=stream)
    messages[0]["content"].pop()  # what an app does to its history: the image dropped
    text["text"] = "(edited)"
    messages.append({"role": "assistant", "content": "later"})
    if stream:
        list(result)


def _chat_create(client: Any, stream: bool) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is in this picture?"},
    ]
    result = client.chat.completions.create(model="m", messages=messages, stream=stream)
    messages[1]["content"] = "(edited)"
    messages[0]["content"] = "(edited system)"
    if stream:
        list(result)


def _responses_create(client: Any, stream: bool) -> None:
    items: list[dict[str, Any]] = [{"role": "user", "content": "What is in this picture?"}]
    result = client.responses.create(
        model="m", instructions="Be brief.", input=items, stream=stream
    )
    items[0]["content"] = "(edited)"
    items.append({"role": "user", "content": "another"})
    if stream:
        list(result)


CASES = {
    "anthropic messages": (_anthropic, _anthropic_create),
    "openai chat": (_openai, _chat_create),
    "openai responses": (_openai, _responses_create),
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_messages_changed_after_the_call_are_recorded_as_sent(
    case: str,
    stream: bool,
    fake_provider: FakeProvider,
    provenant_client: ProvenantClient,
    recorded: Any,
) -> None:
    """The USER (and SYSTEM) turns show the request as sent, whatever the caller does to
    its message dicts and lists after the call returns."""
    make_client, create = CASES[case]
    client = make_client(fake_provider, provenant_client)
    fake_provider.script(Reply(text="A cat."))
    with provenant_client.session("Bot") as session, worker_held(session):
        create(client, stream)
    client.close()
    [stored] = recorded()
    contents = {turn["role"]: turn["content"] for turn in stored["turns"]}
    if case == "anthropic messages":
        assert contents["USER"] == [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image", "sourceType": "base64", "mediaType": "image/png", "dataLength": 4},
        ]
    else:
        assert contents["USER"] == "What is in this picture?"
        assert contents["SYSTEM"] == "Be brief."
    assert contents["ASSISTANT"] == "A cat."
    assert [turn["role"] for turn in stored["turns"]].count("USER") == 1
