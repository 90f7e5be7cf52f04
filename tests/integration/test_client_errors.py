"""Error classes from the real local server: 401, 404 across orgs, 422, 413, and closed clients."""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from provenant import ProvenantClient
from provenant import config as provenant_config
from provenant.errors import (
    AuthenticationError,
    ClientClosedError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from provenant.server import LocalServer

WRONG_KEY = "pk_live_feedfacefeedfacefeedfacefeedface"


@pytest.fixture
def http_client(provenant_server: LocalServer) -> Iterator[ProvenantClient]:
    client = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_server.create_api_key(), enabled=False
    )
    yield client
    client.shutdown()


def test_a_wrong_key_is_an_authentication_error(
    provenant_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    """An unknown key raises AuthenticationError naming its prefix, never the key."""
    caplog.set_level(logging.DEBUG)
    client = ProvenantClient(base_url=provenant_server.url, api_key=WRONG_KEY, enabled=False)
    with pytest.raises(AuthenticationError) as caught:
        client.list_agents()
    error = caught.value
    assert error.status_code == 401
    assert "pk_live_feed..." in str(error)
    assert "Invalid or expired API key" in str(error)
    for text in (str(error), repr(error), repr(client), repr(client.settings), caplog.text):
        assert WRONG_KEY not in text
        assert WRONG_KEY[12:] not in text
    client.shutdown()


def test_no_key_is_an_authentication_error(provenant_server: LocalServer) -> None:
    """An HTTP client without a key gets AuthenticationError saying no key was sent."""
    client = ProvenantClient(base_url=provenant_server.url, enabled=False)
    with pytest.raises(AuthenticationError, match="no API key was sent"):
        client.list_sessions()
    client.shutdown()


def test_two_orgs_never_see_each_other(provenant_server: LocalServer) -> None:
    """Every object of one org answers 404 to another org, which can neither read nor change it."""
    owner = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_server.create_api_key(), enabled=False
    )
    other = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_server.create_api_key(), enabled=False
    )
    agent_id = owner.get_or_create_agent("Private Bot")
    session_id = owner.create_session(agent_id, user_id="u1")["id"]
    owner.add_turn(session_id, "USER", "secret words")
    suite_id = owner.create_eval_suite("Private Suite")["id"]
    case_id = owner.add_eval_case(suite_id, "c", {"q": 1})["id"]
    run_id = owner.create_eval_run(suite_id, agent_id)["id"]

    attempts: list[Callable[[], Any]] = [
        lambda: other.get_agent(agent_id),
        lambda: other.create_session(agent_id),
        lambda: other.get_session(session_id),
        lambda: other.add_turn(session_id, "USER", "intrusion"),
        lambda: other.end_session(session_id, "FAILED"),
        lambda: other.delete_session(session_id),
        lambda: other.get_eval_suite(suite_id),
        lambda: other.add_eval_case(suite_id, "x", {"q": 2}),
        lambda: other.create_eval_run(suite_id, other.get_or_create_agent("Mine")),
        lambda: other.get_eval_run(run_id),
        lambda: other.submit_results(run_id, [{"caseId": case_id, "passed": True}]),
    ]
    for attempt in attempts:
        with pytest.raises(NotFoundError) as caught:
            attempt()
        assert caught.value.status_code == 404
        assert "secret" not in str(caught.value.body)

    assert [a["name"] for a in other.list_agents()] == ["Mine"]
    assert other.list_sessions() == []
    assert other.list_sessions(q="secret") == []
    assert other.list_eval_suites() == []
    assert other.list_eval_runs() == []
    # The owner's records are untouched by the other org's attempts.
    session = owner.get_session(session_id)
    assert session["status"] == "ACTIVE"
    assert [turn["content"] for turn in session["turns"]] == ["secret words"]
    assert owner.get_eval_run(run_id)["status"] == "QUEUED"
    assert len(owner.get_eval_suite(suite_id)["cases"]) == 1
    owner.shutdown()
    other.shutdown()


def test_validation_errors_carry_issues(http_client: ProvenantClient) -> None:
    """A body of the wrong shape raises ValidationError with the server's issues."""
    with pytest.raises(ValidationError) as caught:
        http_client.create_eval_suite("")
    assert caught.value.status_code == 422
    assert caught.value.issues
    assert "Validation error" in str(caught.value)


@pytest.mark.parametrize("destination", ["server", "embedded store"])
def test_a_body_json_cannot_hold_is_a_type_error_before_anything_is_sent(
    destination: str, provenant_server: LocalServer, tmp_path: Path
) -> None:
    """NaN or bytes in a REST call's body raise TypeError naming the request, on both
    backends, instead of a 400 "Malformed JSON body"; nothing reaches the store."""
    if destination == "server":
        client = ProvenantClient(
            base_url=provenant_server.url, api_key=provenant_server.create_api_key()
        )
    else:
        client = ProvenantClient(base_url="sqlite:///" + str(tmp_path / "p.db"))
    suite_id = client.create_eval_suite("odd inputs")["id"]
    for bad in (float("nan"), b"raw"):
        with pytest.raises(TypeError, match=f"^POST /api/evals/suites/{suite_id}/cases: "):
            client.add_eval_case(suite_id, name="bad", input={"x": bad})
    assert client.get_eval_suite(suite_id)["cases"] == []
    client.shutdown()


def test_a_body_over_5_mb_is_payload_too_large(http_client: ProvenantClient) -> None:
    """A turn over 5 MB raises PayloadTooLargeError and the client keeps working."""
    session_id = http_client.create_session("Bot")["id"]
    with pytest.raises(PayloadTooLargeError) as caught:
        http_client.add_turn(session_id, "USER", "x" * (5 * 1024 * 1024 + 1))
    assert caught.value.status_code == 413
    http_client.add_turn(session_id, "USER", "small")
    assert [t["content"] for t in http_client.get_session(session_id)["turns"]] == ["small"]


def test_one_connection_serves_a_client(http_client: ProvenantClient) -> None:
    """Many explicit calls of one client travel over one kept-alive connection."""
    session_id = http_client.create_session("Bot")["id"]
    for index in range(50):
        http_client.add_turn(session_id, "USER", f"m{index}")
    assert len(http_client.get_session(session_id)["turns"]) == 50
    backend: Any = http_client._backend
    assert backend.connections_opened == 1


def test_a_closed_client_raises_client_closed_error(http_client: ProvenantClient) -> None:
    """A REST call after shutdown raises ClientClosedError, a RuntimeError."""
    http_client.list_agents()
    http_client.shutdown()
    with pytest.raises(ClientClosedError):
        http_client.list_agents()
    with pytest.raises(RuntimeError):
        http_client.get_or_create_agent("Late")


def test_the_default_destination_is_the_embedded_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With no key and no base URL the client uses .provenant/provenant.db and says so once."""
    for name in list(os.environ):
        if name.startswith("PROVENANT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(provenant_config, "_implicit_notice_given", False)
    caplog.set_level(logging.INFO, logger="provenant")
    first = ProvenantClient(enabled=False)
    second = ProvenantClient(enabled=False)
    assert first.settings.destination.kind == "local"
    agent_id = first.get_or_create_agent("Offline Bot")
    assert second.get_or_create_agent("Offline Bot") == agent_id
    first.shutdown()
    second.shutdown()
    assert (tmp_path / ".provenant" / "provenant.db").is_file()
    notices = [r.getMessage() for r in caplog.records if ".provenant" in r.getMessage()]
    assert len(notices) == 1
    assert "no API key or base URL" in notices[0]


def test_unknown_ids_are_not_found_on_the_embedded_store(tmp_path: Path) -> None:
    """The embedded store raises the same NotFoundError as the server for an unknown id."""
    client = ProvenantClient(base_url=f"sqlite:///{tmp_path / 'x.db'}", enabled=False)
    with pytest.raises(NotFoundError, match="GET /api/sessions/"):
        client.get_session(str(uuid.uuid4()))
    client.shutdown()
