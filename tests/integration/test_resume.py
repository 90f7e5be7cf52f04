"""A session resumed by ``session_id=`` in a fresh client records no resent history again."""

from __future__ import annotations

import re
from typing import Any, Callable

import anthropic
import openai
import pytest

import provenant
from provenant._fake_provider import FakeProvider, Reply
from provenant.client import ProvenantClient
from provenant.server import LocalServer

SYSTEM = "You are terse."
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "aGk="}}
# One structured user message (text and an image): its stored form must fingerprint alike.
USER_CONTENTS: list[Any] = [
    "Hi",
    [{"type": "text", "text": "What is this?"}, IMAGE],
    "Thanks",
]
OPENAI_IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
OPENAI_USER_CONTENTS: list[Any] = [
    "Hi",
    [{"type": "text", "text": "What is this?"}, OPENAI_IMAGE],
    "Thanks",
]


def _anthropic_call(llm: Any, history: list[dict[str, Any]]) -> str:
    message = llm.messages.create(
        model="claude-test", max_tokens=50, system=SYSTEM, messages=history
    )
    return str(message.content[0].text)


def _openai_call(llm: Any, history: list[dict[str, Any]]) -> str:
    messages = [{"role": "system", "content": SYSTEM}, *history]
    completion = llm.chat.completions.create(model="gpt-test", messages=messages)
    return str(completion.choices[0].message.content)


def _anthropic(fake: FakeProvider) -> Any:
    return anthropic.Anthropic(base_url=fake.url, api_key="test-key", max_retries=0)


def _openai(fake: FakeProvider) -> Any:
    return openai.OpenAI(base_url=fake.openai_base_url, api_key="test-key", max_retries=0)


PROVIDERS = {
    "anthropic": (_anthropic, _anthropic_call, USER_CONTENTS),
    "openai": (_openai, _openai_call, OPENAI_USER_CONTENTS),
}


def _converse(
    llm: Any, call: Callable[[Any, list[dict[str, Any]]], str], contents: list[Any]
) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = []
    for content in contents:
        history.append({"role": "user", "content": content})
        history.append({"role": "assistant", "content": call(llm, history)})
    return history


def _record_conversation(
    recorder: ProvenantClient,
    llm: Any,
    call: Callable[[Any, list[dict[str, Any]]], str],
    contents: list[Any],
) -> tuple[str, list[dict[str, Any]]]:
    """Hold a conversation in a session started on ``recorder``; return the session's
    server id and the history so far, once delivered."""
    first = provenant.instrument(llm, provenant=recorder, agent_id="Bot")
    handle = recorder.start_session("Bot")
    with first, handle:
        history = _converse(first, call, contents)
    session_id = handle.id
    assert session_id is not None and recorder.flush(10)
    return session_id, history


def _ask_once_more(
    later: ProvenantClient,
    llm: Any,
    call: Callable[[Any, list[dict[str, Any]]], str],
    session_id: str,
    history: list[dict[str, Any]],
    text: str,
) -> None:
    """As if in another process: ``later`` knows only the session's id, resumes it and
    sends the whole history with one more user message; then it is shut down."""
    try:
        second = provenant.instrument(llm, provenant=later, agent_id="Bot")
        with second, later.start_session(session_id=session_id):
            history.append({"role": "user", "content": text})
            call(second, history)
        assert later.flush(10)
    finally:
        later.shutdown(timeout=10)


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_resumed_session_records_only_the_new_exchange(
    provider: str,
    fake_provider: FakeProvider,
    provenant_server: LocalServer,
    provenant_api_key: str,
    provenant_client: ProvenantClient,
) -> None:
    """3 exchanges, then a fresh client resumes by id: 1 new USER and 1 new ASSISTANT turn."""
    make, call, contents = PROVIDERS[provider]
    fake_provider.script(*(Reply(text=f"Answer {n}") for n in range(4)))
    session_id, history = _record_conversation(
        provenant_client, make(fake_provider), call, contents
    )
    later = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    _ask_once_more(later, make(fake_provider), call, session_id, history, "One more")

    turns = provenant_client.get_session(session_id)["turns"]
    roles = [turn["role"] for turn in turns]
    assert roles.count("SYSTEM") == 1
    assert (roles.count("USER"), roles.count("ASSISTANT")) == (4, 4)
    assert roles[-2:] == ["USER", "ASSISTANT"]
    assert turns[-2]["content"] == "One more"
    assert turns[-1]["content"] == "Answer 3"


def _digits_masked(value: Any) -> Any:
    return re.sub(r"[0-9]", "#", value) if isinstance(value, str) else value


# How an app may record: the server then stores a content other than the one resent.
RECORDING = {
    "masked": {"mask": _digits_masked},
    "cut": {"max_content_bytes": 1024},
    "not captured": {"capture_content": False},
}


@pytest.mark.parametrize("recording", sorted(RECORDING))
def test_resumed_session_recorded_in_another_form_records_only_the_new_exchange(
    recording: str,
    fake_provider: FakeProvider,
    provenant_server: LocalServer,
    provenant_api_key: str,
    provenant_client: ProvenantClient,
) -> None:
    """Content stored masked, cut or left out is still recognised when it is resent to a
    resumed session recorded the same way: only the new exchange is recorded."""

    def recorder() -> ProvenantClient:
        settings: dict[str, Any] = RECORDING[recording]
        return ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key, **settings)

    contents = ["My card is 4242 4242", "y" * 3000 + " (long)", "Thanks 1"]
    fake_provider.script(*(Reply(text=f"Answer {n}") for n in range(4)))
    before = recorder()
    try:
        session_id, history = _record_conversation(
            before, _anthropic(fake_provider), _anthropic_call, contents
        )
    finally:
        before.shutdown(timeout=10)

    _ask_once_more(
        recorder(), _anthropic(fake_provider), _anthropic_call, session_id, history, "One more 2"
    )

    roles = [turn["role"] for turn in provenant_client.get_session(session_id)["turns"]]
    assert roles.count("SYSTEM") == 1
    assert (roles.count("USER"), roles.count("ASSISTANT")) == (4, 4)


def test_resumed_session_whose_read_fails_still_records(
    fake_provider: FakeProvider,
    provenant_server: LocalServer,
    provenant_client: ProvenantClient,
) -> None:
    """A resumed session the server will not show (another org's id) records unseeded."""
    fake_provider.script(Reply(text="Answer 0"), Reply(text="Answer 1"))
    first = provenant.instrument(_anthropic(fake_provider), provenant=provenant_client)
    with first, provenant_client.session("Bot") as handle:
        history = _converse(first, _anthropic_call, ["Hi"])
    session_id = handle.id
    assert session_id is not None and provenant_client.flush(10)

    stranger = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_server.create_api_key()
    )
    try:
        second = provenant.instrument(_anthropic(fake_provider), provenant=stranger)
        with second, stranger.start_session(session_id=session_id) as resumed:
            history.append({"role": "user", "content": "One more"})
            assert _anthropic_call(second, history) == "Answer 1"
        # Unseeded: the resent history counts again (SYSTEM, 2 USER) beside the reply.
        assert resumed.usage["turns"] == 4
        stranger.flush(10)
    finally:
        stranger.shutdown(timeout=10)
    # The other org's turns were refused: the owner's session still has its 3 turns.
    assert len(provenant_client.get_session(session_id)["turns"]) == 3
