"""The module-level entry points on the default client."""

from __future__ import annotations

from typing import Any, Callable

import provenant

Sessions = Callable[[], "list[dict[str, Any]]"]


def test_module_level_session_trace_flush_stats_and_shutdown(
    db_url: str, recorded: Sessions
) -> None:
    """provenant.session/trace/flush/stats/shutdown work on the configured default client."""

    @provenant.trace(kind="tool")
    def lookup(term: str) -> str:
        return term.upper()

    provenant.configure(base_url=db_url, agent_id="Default Bot")
    try:
        with provenant.session() as session:
            assert provenant.current_session() is session
            assert lookup("x") == "X"
        assert provenant.flush(10)
        stats = provenant.stats()
        assert stats["delivered"] == stats["enqueued"] == 3
    finally:
        assert provenant.shutdown(10)
    [stored] = recorded()
    assert stored["agent"]["name"] == "Default Bot"
    assert [t["role"] for t in stored["turns"]] == ["TOOL"]


def test_start_session_on_the_default_client(db_url: str, recorded: Sessions) -> None:
    """provenant.start_session() returns a started handle that is not current."""
    provenant.configure(base_url=db_url, agent_id="Default Bot")
    try:
        handle = provenant.start_session(user_id="u9")
        assert provenant.current_session() is None
        handle.end()
    finally:
        provenant.shutdown(10)
    [stored] = recorded()
    assert stored["userId"] == "u9" and stored["status"] == "COMPLETED"
