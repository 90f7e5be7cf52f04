"""instrument() with no client, or a client class: every client in the process records."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, Iterator

import anthropic
import openai
import pytest
import wrapt
from provider_clients import anthropic_client, closed_after_test

import provenant
from provenant._fake_provider import FakeProvider
from provenant.integrations._suppress import suppress_provider_recording

MODEL = "claude-test"


@pytest.fixture(autouse=True)
def _uninstrument_after() -> Iterator[None]:
    yield
    provenant.uninstrument()


def ask(client: Any, text: str, **options: Any) -> Any:
    messages = [{"role": "user", "content": text}]
    return client.messages.create(model=MODEL, max_tokens=9, messages=messages, **options)


def openai_client(fake: FakeProvider) -> Any:
    return closed_after_test(
        openai.OpenAI(base_url=fake.openai_base_url, api_key="k", max_retries=0)
    )


def test_langchain_chat_models_built_by_user_code_are_recorded(
    fake_provider, provenant_client, recorded, h
):
    """ChatOpenAI and ChatAnthropic, whose provider clients the user never sees, record
    their calls (plain and streamed) into the active session once instrument() is on."""
    # langchain-openai needs Python 3.11 (the dev extra installs it only there).
    ChatAnthropic = pytest.importorskip("langchain_anthropic").ChatAnthropic
    ChatOpenAI = pytest.importorskip("langchain_openai").ChatOpenAI

    provenant.instrument(provenant=provenant_client, agent_id="Fallback")
    gpt = ChatOpenAI(model="gpt-test", base_url=fake_provider.openai_base_url, api_key="k")
    claude = ChatAnthropic(model=MODEL, base_url=fake_provider.url, api_key="k", max_retries=0)
    with provenant_client.session("LangChain Bot"):
        assert gpt.invoke("Hello GPT").content == "You said: Hello GPT"
        assert claude.invoke("Hello Claude").content == "You said: Hello Claude"
        streamed = "".join(str(chunk.content) for chunk in claude.stream("Stream Claude"))
        assert streamed == "You said: Stream Claude"
        assert "".join(str(c.content) for c in gpt.stream("Stream GPT")) == "You said: Stream GPT"
    (session,) = recorded()
    assert session["agent"]["name"] == "LangChain Bot"
    assert h.roles(session) == ["USER", "ASSISTANT"] * 4
    replies = h.assistant_turns(session)
    assert [t["content"] for t in replies] == [
        "You said: Hello GPT",
        "You said: Hello Claude",
        "You said: Stream Claude",
        "You said: Stream GPT",
    ]
    assert [t["metadata"]["provider"] for t in replies] == [
        "openai",
        "anthropic",
        "anthropic",
        "openai",
    ]
    assert [t["metadata"]["stream"] for t in replies] == [False, False, True, True]


def test_clients_created_before_and_after_are_recorded(fake_provider, provenant_client, recorded):
    """A client that existed before instrument() and one created after both record."""
    before = anthropic_client(fake_provider)
    provenant.instrument(provenant=provenant_client, agent_id="Bot")
    after = anthropic_client(fake_provider)
    ask(before, "before")
    ask(after, "after")
    ask(after.with_options(timeout=5), "copy")
    assert [s["turns"][0]["content"] for s in recorded()] == ["before", "after", "copy"]


def test_a_client_instrumented_on_its_own_is_recorded_once_with_its_settings(
    fake_provider, provenant_client, recorded
):
    """Process-wide and per-instance instrumentation compose: one record per call, the
    per-instance settings winning, whichever was turned on first."""
    early = provenant.instrument(
        anthropic_client(fake_provider), provenant=provenant_client, agent_id="Own"
    )
    provenant.instrument(provenant=provenant_client, agent_id="Everyone")
    late = provenant.instrument(
        anthropic_client(fake_provider), provenant=provenant_client, agent_id="Own"
    )
    other = anthropic_client(fake_provider)
    ask(early, "early")
    ask(late, "late")
    ask(other, "other")
    with early.messages.stream(
        model=MODEL, max_tokens=9, messages=[{"role": "user", "content": "s"}]
    ) as s:
        s.until_done()
    sessions = recorded()
    assert [s["agent"]["name"] for s in sessions] == ["Own", "Own", "Everyone", "Own"]
    assert all(len(s["turns"]) == 2 for s in sessions)
    assert len(fake_provider.received()) == 4


def test_instrument_is_idempotent_and_uninstrument_reverts(
    fake_provider, provenant_client, recorded, h
):
    """A second instrument() changes nothing; uninstrument() restores the providers'
    classes, and calls are no longer recorded."""
    from anthropic.resources.messages import Messages

    original = vars(Messages)["create"]
    provenant.instrument(provenant=provenant_client, agent_id="Bot")
    provenant.instrument(provenant=provenant_client, agent_id="Other")
    assert isinstance(vars(Messages)["create"], wrapt.FunctionWrapper)
    client = anthropic_client(fake_provider)
    ask(client, "recorded once")
    provenant.uninstrument()
    assert vars(Messages)["create"] is original
    ask(client, "not recorded")
    (session,) = recorded()
    assert session["agent"]["name"] == "Bot"
    assert h.roles(session) == ["USER", "ASSISTANT"]
    assert session["turns"][0]["content"] == "recorded once"


def test_a_client_class_records_only_its_clients(fake_provider, provenant_client, recorded):
    """instrument(anthropic.Anthropic) records Anthropic clients, not OpenAI ones."""
    provenant.instrument(anthropic.Anthropic, provenant=provenant_client, agent_id="Claude")
    ask(anthropic_client(fake_provider), "claude")
    openai_client(fake_provider).chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "gpt"}]
    )
    (session,) = recorded()
    assert session["turns"][0]["content"] == "claude"
    provenant.uninstrument(anthropic.Anthropic)
    ask(anthropic_client(fake_provider), "no more")
    assert len(recorded()) == 1


def test_raw_and_streaming_responses_are_recorded_and_returned_as_they_are(
    fake_provider, provenant_client, recorded, h
):
    """with_raw_response (streamed too) and with_streaming_response calls are recorded;
    the caller gets the SDK's raw response objects, which work as without the SDK."""
    provenant.instrument(provenant=provenant_client, agent_id="Raw")
    client = anthropic_client(fake_provider)
    gpt = openai_client(fake_provider)
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=9, messages=[{"role": "user", "content": "raw"}]
    )
    # The SDK's own raw response class (LegacyAPIResponse on older releases).
    assert type(raw).__module__.startswith("anthropic.")
    assert type(raw).__name__.endswith("APIResponse")
    assert raw.parse().content[0].text == "You said: raw"
    raw_stream = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=9, messages=[{"role": "user", "content": "raw stream"}], stream=True
    )
    events = list(raw_stream.parse())
    assert events[-1].type == "message_stop"
    with client.messages.with_streaming_response.create(
        model=MODEL, max_tokens=9, messages=[{"role": "user", "content": "streaming"}]
    ) as response:
        assert response.http_request.url.path == "/v1/messages"
        assert response.parse().content[0].text == "You said: streaming"
    with gpt.chat.completions.with_streaming_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "lines"}], stream=True
    ) as response:
        assert any(line.startswith("data:") for line in response.iter_lines())
    with gpt.chat.completions.with_streaming_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "json"}]
    ) as response:
        assert response.json()["choices"][0]["message"]["content"] == "You said: json"
    sessions = recorded()
    replies = [h.assistant_turns(s)[0] for s in sessions]
    assert [t["content"] for t in replies] == [
        "You said: raw",
        "You said: raw stream",
        "You said: streaming",
        "",
        "You said: json",
    ]
    assert replies[1]["metadata"]["stream"] is True
    assert replies[1]["metadata"]["incomplete"] is False
    assert replies[3]["metadata"]["incomplete"] is True  # read as lines: not ours to parse


def test_a_call_a_framework_records_itself_is_not_recorded_again(
    fake_provider, provenant_client, recorded
):
    """Inside suppress_provider_recording(), instrumented clients record nothing."""
    provenant.instrument(provenant=provenant_client, agent_id="Bot")
    own = provenant.instrument(
        anthropic_client(fake_provider), provenant=provenant_client, agent_id="Own"
    )
    with suppress_provider_recording():
        ask(anthropic_client(fake_provider), "framework")
        ask(own, "framework too")
    ask(own, "mine")
    assert [s["turns"][0]["content"] for s in recorded()] == ["mine"]


def test_no_provider_package_is_imported_until_the_program_imports_it():
    """instrument() imports no provider package; one imported later is patched then."""
    code = """
import sys
import provenant
provenant.instrument()
names = ("anthropic", "openai", "google.genai", "litellm", "langchain_core")
print(sorted(name for name in names if name in sys.modules))
import anthropic.resources.messages as messages
print(type(vars(messages.Messages)["create"]).__name__)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "FunctionWrapper"
