"""The exporter's lifecycle: exit without flush, fork, refusals, a full queue, and stats."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from typing import Iterator

import pytest

from provenant.client import ProvenantClient
from provenant.server import LocalServer


def _closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _run_script(code: str, env: dict[str, str], timeout: float = 60) -> float:
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr
    return time.monotonic() - started


def test_a_process_that_exits_without_flush_delivers_everything(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """A script that records a session and just exits: the atexit flush delivers all of it."""
    _run_script(
        """
        import provenant

        with provenant.session("Exiting Bot", external_id="exit-test") as session:
            for n in range(20):
                session.add_turn("USER", f"turn {n}")
        """,
        {
            "PROVENANT_BASE_URL": provenant_server.url,
            "PROVENANT_API_KEY": provenant_api_key,
        },
    )
    reader = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    try:
        [summary] = reader.list_sessions()
        stored = reader.get_session(summary["id"])
    finally:
        reader.shutdown()
    assert stored["externalId"] == "exit-test" and stored["status"] == "COMPLETED"
    assert [t["content"] for t in stored["turns"]] == [f"turn {n}" for n in range(20)]


@contextlib.contextmanager
def _stalled_server_url() -> Iterator[str]:
    """A URL on 127.0.0.1 whose server accepts connections, reads forever, never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    connections: list[socket.socket] = []

    def read_forever(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(conn)
            threading.Thread(target=read_forever, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        for conn in connections:
            conn.close()


def _exit_seconds(url: str, flush_timeout: float) -> float:
    """Seconds from the end of a script that recorded a session to its process's exit."""
    script = """
        import time
        import provenant

        provenant.configure(timeout=60, max_delivery_attempts=1000, agent_id="Stuck Bot")
        with provenant.session() as session:
            session.add_turn("USER", "never delivered")
        print(time.monotonic(), flush=True)
        """
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={
            **os.environ,
            "PROVENANT_BASE_URL": url,
            "PROVENANT_API_KEY": "pk_live_" + "0" * 32,
            "PROVENANT_FLUSH_TIMEOUT": str(flush_timeout),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    exited = time.monotonic()  # CLOCK_MONOTONIC is system-wide: comparable across processes
    assert completed.returncode == 0, completed.stderr
    return exited - float(completed.stdout.split()[-1])


@pytest.mark.skipif(sys.platform != "linux", reason="compares monotonic clocks across processes")
def test_the_exit_flush_is_bounded_by_the_flush_timeout() -> None:
    """With the server stalled (a 60 s read timeout, 1000 attempts), exit takes about
    PROVENANT_FLUSH_TIMEOUT=1, and a larger flush timeout makes it take longer."""
    with _stalled_server_url() as url:
        bounded = _exit_seconds(url, flush_timeout=1)
        longer = _exit_seconds(url, flush_timeout=3)
    assert 0.9 <= bounded < 2.5
    assert longer >= 2.9 and longer - bounded >= 1.5


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is not available")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_forked_child_gets_a_fresh_worker_and_an_empty_queue(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """After fork the child starts with an empty queue and records its own sessions."""
    client = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_api_key, agent_id="Forking Bot"
    )
    with client.session(external_id="parent-before") as session:
        session.add_turn("USER", "parent")
    assert client.flush(10)
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        status = 1
        try:
            fresh = client.stats()
            with client.session(external_id="child") as session:
                session.add_turn("USER", "child")
            delivered = client.flush(10)
            if fresh["enqueued"] == 0 and fresh["queue_depth"] == 0 and delivered:
                status = 0
        finally:
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    with client.session(external_id="parent-after") as session:
        session.add_turn("USER", "parent again")
    assert client.shutdown(timeout=10)
    assert os.waitstatus_to_exitcode(wait_status) == 0
    reader = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    try:
        stored = {s["externalId"]: reader.get_session(s["id"]) for s in reader.list_sessions()}
    finally:
        reader.shutdown()
    assert sorted(stored) == ["child", "parent-after", "parent-before"]
    assert [t["content"] for t in stored["child"]["turns"]] == ["child"]
    assert [t["content"] for t in stored["parent-after"]["turns"]] == ["parent again"]


@pytest.mark.usefixtures("in_memory_queue")
def test_a_refused_key_is_logged_once_naming_its_prefix(
    provenant_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A 401 drops the events with a counted reason and logs one loud line naming the key prefix."""
    bad_key = "pk_live_deadbeef" + "0" * 24
    client = ProvenantClient(base_url=provenant_server.url, api_key=bad_key, agent_id="Bot")
    with caplog.at_level(logging.ERROR, logger="provenant"):
        for _ in range(3):
            with client.session() as session:
                session.add_turn("USER", "x")
        client.shutdown(timeout=10)
    stats = client.stats()
    assert stats["dropped"]["unauthorized"] == 3
    assert stats["dropped"]["session_not_created"] == 6
    lines = [r.getMessage() for r in caplog.records if "401" in r.getMessage()]
    assert len(lines) == 1 and "pk_live_dead" in lines[0] and bad_key not in lines[0]


@pytest.mark.usefixtures("in_memory_queue")
def test_a_refused_event_is_dropped_with_its_status_as_reason(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """A 4xx other than 401 drops that event (counted by status), never retried."""
    client = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    with client.session(session_id="00000000-0000-4000-8000-000000000000") as session:
        session.add_turn("USER", "to nowhere")
    client.shutdown(timeout=10)
    stats = client.stats()
    assert stats["dropped"] == {"rejected_404": 1} and stats["retried"] == 0


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        ("drop_newest", "queue_full"),
        ("drop_oldest", "queue_full_oldest"),
        ("block", "queue_full_timeout"),
    ],
)
@pytest.mark.usefixtures("in_memory_queue")
def test_a_full_queue_applies_its_policy_and_counts_every_drop(policy: str, reason: str) -> None:
    """With the server down and the queue full, the policy drops events and counts each one."""
    client = ProvenantClient(
        base_url=_closed_port_url(),
        api_key="pk_live_" + "0" * 32,
        agent_id="Bot",
        max_queue_size=5,
        on_queue_full=policy,
        queue_block_timeout=0.02,
        max_delivery_attempts=1000,
        exporter_workers=1,
    )
    started = time.monotonic()
    with client.session() as session:
        for n in range(30):
            session.add_turn("USER", str(n))
    elapsed = time.monotonic() - started
    stats = client.stats()
    assert stats["queue_depth"] <= 5
    assert stats["dropped"][reason] > 0
    produced = 32  # create, 30 turns, end
    if policy == "drop_oldest":
        assert stats["enqueued"] == produced
    else:
        assert stats["enqueued"] + stats["dropped"][reason] == produced
    if policy == "block":
        assert elapsed >= 0.02 * stats["dropped"][reason] * 0.9
    delivered = client.shutdown(timeout=0.1)
    if policy != "drop_oldest":  # the create is stuck retrying: not everything went out
        assert not delivered
    final = client.stats()
    accounted = final["delivered"] + sum(final["dropped"].values())
    assert accounted == produced and final["queue_depth"] == 0


def test_flush_answers_whether_everything_was_delivered(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """flush() is True once delivered, and False when its timeout passes first."""
    down = ProvenantClient(
        base_url=_closed_port_url(), api_key="pk_live_" + "0" * 32, agent_id="Bot"
    )
    with down.session() as session:
        session.add_turn("USER", "stuck")
    assert not down.flush(0.2)
    down.shutdown(timeout=0.1)
    up = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key, agent_id="Bot")
    with up.session() as session:
        session.add_turn("USER", "fine")
    assert up.flush(10)
    up.shutdown()
    stats = up.stats()
    assert set(stats) >= {"enqueued", "delivered", "retried", "dropped", "queue_depth"}
    assert stats["enqueued"] == stats["delivered"] == 3 and stats["queue_depth"] == 0


@pytest.mark.usefixtures("in_memory_queue")
def test_exporter_threads_are_named_and_stop_on_shutdown(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """The first worker, provenant-exporter-0, starts with the first event; the others
    only when it falls behind (never, here); all are gone after shutdown."""
    import threading

    def workers() -> set[str]:
        return {t.name for t in threading.enumerate() if t.name.startswith("provenant-exporter")}

    before = workers()
    client = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_api_key, agent_id="Bot", exporter_workers=3
    )
    for _ in range(5):
        with client.session():
            pass
    assert client.flush(10)
    started = workers() - before
    client.shutdown(timeout=10)
    assert started == {"provenant-exporter-0"}
    time.sleep(0.05)
    exporter = client._tracer._processor
    assert exporter is not None
    assert all(lane.thread is None or not lane.thread.is_alive() for lane in exporter._lanes)


@pytest.mark.usefixtures("in_memory_queue")
def test_a_steady_stream_of_sessions_stays_on_the_first_worker(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """While the first worker keeps up, every new session is its: the other workers stay
    asleep instead of taking turns at the process's CPU."""
    client = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_api_key, agent_id="Bot", exporter_workers=4
    )
    shards = []
    for index in range(10):
        with client.session() as session:
            session.add_turn("USER", f"question {index}")
        shards.append(session.shard)
        assert client.flush(10)
    client.shutdown(timeout=10)
    assert shards == [0] * 10
