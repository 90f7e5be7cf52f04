"""Text UTF-8 cannot carry (lone surrogates, as os.listdir gives for a file name that is
not UTF-8) is recorded escaped, on both destinations, and costs no record."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from provenant import current_session
from provenant.client import ProvenantClient
from provenant.server import LocalServer

# What os.fsdecode() gives for the Latin-1 file name b"caf\xe9.txt" on a UTF-8 system.
NAME = b"caf\xe9.txt".decode("utf-8", "surrogateescape")
ESCAPED = "caf\\udce9.txt"


@pytest.fixture(params=["local server", "embedded store"])
def client(
    request: pytest.FixtureRequest, provenant_server: LocalServer, tmp_path: Path
) -> Iterator[ProvenantClient]:
    """A recording client of a fresh org on the local server, or of a fresh embedded store."""
    if request.param == "local server":
        url, key = provenant_server.url, provenant_server.create_api_key()
    else:
        url, key = f"sqlite:///{tmp_path / 'store.db'}", None
    recorder = ProvenantClient(base_url=url, api_key=key, agent_id="Files Bot")
    try:
        yield recorder
    finally:
        recorder.shutdown(timeout=10)


def _stored(client: ProvenantClient) -> list[dict[str, Any]]:
    """Every session the client recorded, with its turns, read back by a new client."""
    destination = client.settings.destination
    url = destination.url if destination.kind == "http" else f"sqlite:///{destination.db_path}"
    reader = ProvenantClient(base_url=url, api_key=client.settings.api_key, enabled=False)
    try:
        return [reader.get_session(s["id"]) for s in reader.list_sessions()]
    finally:
        reader.shutdown()


def test_a_turn_with_lone_surrogates_is_recorded_escaped(client: ProvenantClient) -> None:
    """A turn's content, metadata and tool calls, and the session's own fields, keep their
    text with each lone surrogate escaped; nothing is dropped."""
    with client.session(
        user_id=f"user {NAME}", tags=[NAME], metadata={NAME: NAME}, external_id=f"files {NAME}"
    ) as session:
        session.add_turn(
            "ASSISTANT",
            f"found {NAME}",
            metadata={"path": [NAME]},
            tool_calls=[{"id": "1", "name": "open", "arguments": {"path": NAME}}],
        )
    assert client.flush(10)
    assert client.stats()["dropped"] == {}
    [stored] = _stored(client)
    assert stored["userId"] == f"user {ESCAPED}"
    assert stored["externalId"] == f"files {ESCAPED}"
    assert stored["tags"] == [ESCAPED]
    assert stored["metadata"] == {ESCAPED: ESCAPED}
    [turn] = stored["turns"]
    assert turn["content"] == f"found {ESCAPED}"
    assert turn["metadata"] == {"path": [ESCAPED]}
    assert turn["toolCalls"] == [{"id": "1", "name": "open", "arguments": {"path": ESCAPED}}]


def test_a_traced_entry_point_given_lone_surrogates_records_its_session(
    client: ProvenantClient,
) -> None:
    """A traced entry point whose input holds lone surrogates creates its session (its
    input escaped) and records every turn in it."""

    @client.trace
    def list_files(directory: str) -> str:
        active = current_session()
        assert active is not None
        active.add_turn("USER", f"open {directory}")
        return directory

    assert list_files(NAME) == NAME
    assert client.flush(10)
    assert client.stats()["dropped"] == {}
    [stored] = _stored(client)
    assert stored["metadata"]["input"] == {"directory": ESCAPED}
    assert [t["content"] for t in stored["turns"]] == [f"open {ESCAPED}"]


@pytest.mark.parametrize("capture_content", [True, False])
def test_a_tool_named_with_lone_surrogates_is_recorded(
    provenant_server: LocalServer, capture_content: bool
) -> None:
    """Tool calls keep their id and name, escaped, with content capture on or off."""
    client = ProvenantClient(
        base_url=provenant_server.url,
        api_key=provenant_server.create_api_key(),
        agent_id="Files Bot",
        capture_content=capture_content,
    )
    try:
        with client.session() as session:
            session.add_turn("ASSISTANT", "", tool_calls=[{"id": NAME, "name": NAME}])
        assert client.flush(10)
        [stored] = _stored(client)
    finally:
        client.shutdown(10)
    assert stored["turns"][0]["toolCalls"] == [{"id": ESCAPED, "name": ESCAPED}]
