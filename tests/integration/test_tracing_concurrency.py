"""Concurrency through the real local server: asyncio tasks, threads, and process-wide context."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from provenant.client import ProvenantClient
from provenant.server import LocalServer
from provenant.tracing import ThreadPoolExecutor, current_session, wrap_context


def _turn_contents(client: ProvenantClient, session_id: str) -> list[Any]:
    return [turn["content"] for turn in client.get_session(session_id)["turns"]]


def test_fifty_concurrent_asyncio_sessions_never_mix(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """50 concurrent asyncio sessions: every turn in its own session, in order, exactly once."""
    client = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    turns_each = 10

    async def conversation(index: int) -> str:
        async with client.session("Async Bot", external_id=f"conv-{index}") as session:
            for turn in range(turns_each):
                await asyncio.sleep(0)
                assert current_session() is session
                session.add_turn("USER", f"{index}:{turn}")
        return session.external_id

    async def main() -> list[str]:
        return await asyncio.gather(*(conversation(i) for i in range(50)))

    external_ids = asyncio.run(main())
    assert client.shutdown(timeout=30)
    reader = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    try:
        listed = {s["externalId"]: s for s in reader.list_sessions()}
        assert sorted(listed) == sorted(external_ids)
        for external_id, summary in listed.items():
            index = external_id.split("-")[1]
            assert _turn_contents(reader, summary["id"]) == [
                f"{index}:{n}" for n in range(turns_each)
            ]
            assert summary["status"] == "COMPLETED"
    finally:
        reader.shutdown()
    stats = client.stats()
    assert stats["dropped"] == {} and stats["delivered"] == 50 * (turns_each + 2)


def test_eight_threads_share_one_session(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """8 threads recording into one session: each thread's turns arrive in order, none lost."""
    client = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    per_thread = 25
    barrier = threading.Barrier(8)

    def worker(index: int) -> None:
        barrier.wait()
        for n in range(per_thread):
            session = current_session()
            assert session is not None
            session.add_turn("USER", f"{index}:{n}")

    with client.session("Threaded Bot") as session:
        threads = [threading.Thread(target=wrap_context(worker), args=(i,)) for i in range(4, 8)]
        for thread in threads:
            thread.start()
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(worker, i) for i in range(4)]
        for thread in threads:
            thread.join()
        for future in futures:
            future.result()
    server_id = session.id
    assert client.shutdown(timeout=30)
    assert server_id is not None
    reader = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    try:
        contents = _turn_contents(reader, server_id)
    finally:
        reader.shutdown()
    assert len(contents) == 8 * per_thread == len(set(contents))
    for index in range(8):
        mine = [c for c in contents if c.startswith(f"{index}:")]
        assert mine == [f"{index}:{n}" for n in range(per_thread)]


def test_threads_without_propagation_see_no_session(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """A plain thread does not inherit the session; wrap_context carries it (semantic 1)."""
    client = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    seen: dict[str, Any] = {}
    with client.session("Bot") as session:
        plain = threading.Thread(target=lambda: seen.update(plain=current_session()))
        wrapped = threading.Thread(
            target=wrap_context(lambda: seen.update(wrapped=current_session()))
        )
        for thread in (plain, wrapped):
            thread.start()
            thread.join()
    client.shutdown(timeout=10)
    assert seen == {"plain": None, "wrapped": session}
