"""
The spool: records for a REST API survive SIGKILL, outages and restarts, and reach
``provenant serve`` exactly once.

Recording processes are real interpreters (``spool_trial.py``) killed with SIGKILL; the
server sits behind the fault proxy (refused connections, 503s, a slow answer); each
scenario counts what was recorded against what the server holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
from fault_proxy import FaultProxy

from provenant.backends._spool import spool_path
from provenant.backends._spool_exporter import spool_status
from provenant.client import ProvenantClient
from provenant.config import resolve_settings
from provenant.server import LocalServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and flock")

_HERE = Path(__file__).parent
_TRIAL = str(_HERE / "spool_trial.py")


@pytest.fixture
def proxy(provenant_server: LocalServer) -> Iterator[FaultProxy]:
    port = int(provenant_server.url.rsplit(":", 1)[1])
    instance = FaultProxy(port)
    yield instance
    instance.close()


def _start(url: str, key: str, name: str, sessions: int, turns: int, mode: str) -> Any:
    return subprocess.Popen(
        [sys.executable, _TRIAL, url, key, name, str(sessions), str(turns), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _await_line(process: Any, expected: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    line = process.stdout.readline()
    assert line.strip() == expected, (line, process.stderr.read() if process.poll() else "")
    assert time.monotonic() < deadline


def _kill(process: Any) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    process.stdout.close()
    process.stderr.close()


def _stored(reader: ProvenantClient) -> dict[str, list[str]]:
    """Every stored session's turns by external id; a duplicate session fails here."""
    listed = reader.list_sessions()
    names = Counter(s["externalId"] for s in listed)
    assert all(count == 1 for count in names.values()), names.most_common(3)
    return {
        s["externalId"]: [t["content"] for t in reader.get_session(s["id"])["turns"]]
        for s in listed
    }


def _expect(name: str, sessions: int, turns: int) -> dict[str, list[str]]:
    return {f"{name}-{i}": [f"t{j}" for j in range(turns)] for i in range(sessions)}


def _await_count(reader: ProvenantClient, at_least: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = len(reader.list_sessions())
        if count >= at_least:
            return count
        time.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} sessions after {timeout} s")


def _drain(url: str, key: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "provenant",
            "spool",
            "drain",
            "--base-url",
            url,
            "--api-key",
            key,
            "--timeout",
            str(timeout),
        ],
        capture_output=True,
        text=True,
        timeout=timeout + 30,
    )


def test_records_on_disk_within_100ms_survive_sigkill_and_drain(
    proxy: FaultProxy, provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """Killed 100 ms after its last call, during an outage: `spool drain` delivers all."""
    proxy.refuse()
    process = _start(proxy.url, provenant_api_key, "A", 12, 3, "hang")
    _await_line(process, "spooled")
    _kill(process)
    settings = resolve_settings(base_url=proxy.url, api_key=provenant_api_key)
    assert spool_status(settings)["records"] == 12 * 5  # create, 3 turns, end

    proxy.restore()
    drained = _drain(proxy.url, provenant_api_key)
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert "The spool is empty" in drained.stdout
    reader = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    try:
        assert _stored(reader) == _expect("A", 12, 3)
    finally:
        reader.shutdown()
    assert spool_status(settings)["records"] == 0


def test_sigkill_in_the_middle_of_delivery_then_restart_delivers_the_rest_once(
    proxy: FaultProxy, provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """A process killed mid-delivery: the next one with the same configuration sends
    the rest; the record in flight is resent with its key, so nothing is twice."""
    proxy.delay_s = 0.01
    reader = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    try:
        first = _start(proxy.url, provenant_api_key, "A", 30, 4, "hang")
        _await_line(first, "spooled")
        partial = _await_count(reader, 3)
        _kill(first)
        assert partial < 30, "delivered everything before the kill: nothing was tested"

        second = _start(proxy.url, provenant_api_key, "B", 5, 2, "flush")
        out, err = second.communicate(timeout=120)
        report = json.loads(out.strip().splitlines()[-1])
        assert report["delivered"], err
        assert report["stats"]["spool"]["records"] == 0
        expected = _expect("A", 30, 4)
        expected.update(_expect("B", 5, 2))
        assert _stored(reader) == expected
    finally:
        reader.shutdown()


def test_an_outage_then_recovery_delivers_everything_once(
    proxy: FaultProxy, provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """Refused connections, then a 503 storm: records wait in the spool, flush says what
    is left, and once the server answers every record arrives once."""
    proxy.refuse()
    client = ProvenantClient(base_url=proxy.url, api_key=provenant_api_key, agent_id="Bot")
    reader = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    try:
        for index in range(6):
            with client.session(external_id=f"A-{index}") as session:
                session.add_turn("USER", "t0")
                session.add_turn("ASSISTANT", "t1")
        assert client.flush(1.0) is False
        spool = client.stats()["spool"]
        assert spool["records"] == 6 * 4 and spool["sessions"] == 6
        assert spool["last_error"] and spool["next_retry_at"] is not None
        assert client.stats()["dropped"] == {}

        proxy.plan = ["503"] * 6
        proxy.restore()
        assert client.flush(60.0) is True
        assert client.stats()["spool"]["records"] == 0
        stored = _stored(reader)
        assert stored == {f"A-{i}": ["t0", "t1"] for i in range(6)}
        assert proxy.faults_done == 6
    finally:
        client.shutdown(5)
        reader.shutdown()


def test_session_id_arrives_once_the_forwarder_created_it(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    client = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_api_key, agent_id="Bot"
    )
    try:
        with client.session(external_id="with-id") as session:
            session.add_turn("USER", "hello")
        session_id: Optional[str] = session.id
        assert session_id is not None
        assert client.flush(10)
        assert client.get_session(session_id)["externalId"] == "with-id"
    finally:
        client.shutdown(5)


def test_two_processes_share_one_spool_and_one_forwarder_with_takeover(
    proxy: FaultProxy, provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """Two recording processes with one URL and key: one forwarder delivers for both;
    killing it, the other takes over and delivers the rest, each record once."""
    proxy.delay_s = 0.01
    settings = resolve_settings(base_url=proxy.url, api_key=provenant_api_key)
    first = _start(proxy.url, provenant_api_key, "A", 25, 3, "hang")
    second = _start(proxy.url, provenant_api_key, "B", 25, 3, "hang")
    reader = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    try:
        _await_line(first, "spooled")
        _await_line(second, "spooled")
        deadline = time.monotonic() + 10
        holder = None
        while time.monotonic() < deadline and holder is None:
            holder = spool_status(settings).get("holder_pid")
            time.sleep(0.05)
        assert holder in (first.pid, second.pid)
        _await_count(reader, 3)
        victim, survivor = (first, second) if holder == first.pid else (second, first)
        _kill(victim)
        assert len(reader.list_sessions()) < 50, "everything was delivered before the kill"

        deadline = time.monotonic() + 60
        while spool_status(settings)["records"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert spool_status(settings)["records"] == 0
        assert spool_status(settings)["holder_pid"] == survivor.pid
        expected = _expect("A", 25, 3)
        expected.update(_expect("B", 25, 3))
        assert _stored(reader) == expected
    finally:
        for process in (first, second):
            if process.poll() is None:
                _kill(process)
        reader.shutdown()


def test_the_size_cap_drops_new_records_counted(
    provenant_api_key: str,
    monkeypatch: pytest.MonkeyPatch,
    proxy: FaultProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Past spool_max_bytes, new records are dropped as spool_full (counted, logged),
    with the rest of their sessions; what was spooled stays."""
    monkeypatch.setenv("PROVENANT_SPOOL_MAX_BYTES", str(256 * 1024))
    proxy.refuse()
    client = ProvenantClient(base_url=proxy.url, api_key=provenant_api_key, agent_id="Bot")
    try:
        for index in range(40):
            with client.session(external_id=f"A-{index}") as session:
                session.add_turn("USER", "x" * 20_000)
        client.flush(0.5)
        stats = client.stats()
        assert stats["dropped"].get("spool_full", 0) > 0
        assert 0 < stats["spool"]["records"] < 40 * 3
        assert any("is full" in r.getMessage() for r in caplog.records)
        assert os.path.getsize(spool_path(proxy.url, provenant_api_key)) < 2 * 256 * 1024
    finally:
        client.shutdown(0.5)


def test_no_writable_directory_falls_back_to_memory_and_says_why(
    provenant_server: LocalServer,
    provenant_api_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No spool can be made (here its directory would sit under a file, which fails even
    for root, as a read-only file system does): records go through the in-memory
    queue, and the log says why, once."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("PROVENANT_SPOOL_DIR", str(blocker / "spool"))
    import provenant.backends._spool_exporter as spool_exporter

    monkeypatch.setattr(spool_exporter, "_fallback_logged", False)
    client = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    try:
        with client.session("Bot", external_id="in-memory") as session:
            session.add_turn("USER", "hi")
        assert client.flush(10)
        assert "spool" not in client.stats()
        assert client.list_sessions()[0]["externalId"] == "in-memory"
    finally:
        client.shutdown(5)
    assert sum("no spool can be written" in r.getMessage() for r in caplog.records) == 1


def test_flush_after_delivers_each_invocation_before_it_returns(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """A serverless handler, sync or async: its records are at the API when it returns."""
    import asyncio

    import provenant

    client = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_api_key, agent_id="Bot"
    )
    reader = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)

    @provenant.flush_after(client=client)
    def handler(name: str) -> str:
        with client.session(external_id=name) as session:
            session.add_turn("USER", "t0")
        return name

    @provenant.flush_after(client=client, timeout=10)
    async def async_handler(name: str) -> str:
        with client.session(external_id=name) as session:
            session.add_turn("USER", "t0")
        await asyncio.sleep(0)
        return name

    try:
        assert handler("sync-1") == "sync-1"
        assert client.stats()["spool"]["pending_here"] == 0
        assert _stored(reader) == {"sync-1": ["t0"]}
        assert asyncio.run(async_handler("async-1")) == "async-1"
        assert client.stats()["spool"]["pending_here"] == 0
        assert _stored(reader) == {"sync-1": ["t0"], "async-1": ["t0"]}
    finally:
        client.shutdown(5)
        reader.shutdown()


def test_an_old_backlog_is_logged_once_not_per_record(
    proxy: FaultProxy,
    provenant_api_key: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A backlog older than the threshold (five minutes; 0.2 s here) is one log line."""
    import provenant.backends._forwarder as forwarder

    monkeypatch.setattr(forwarder, "OLD_BACKLOG_S", 0.2)
    monkeypatch.setattr(forwarder, "_BACKLOG_EVERY_S", 0.05)
    monkeypatch.setattr(forwarder, "_STATUS_EVERY_S", 0.05)
    proxy.refuse()
    client = ProvenantClient(base_url=proxy.url, api_key=provenant_api_key, agent_id="Bot")
    try:
        for index in range(5):
            with client.session(external_id=f"A-{index}") as session:
                session.add_turn("USER", "t0")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            "the oldest for" in r.getMessage() for r in caplog.records
        ):
            time.sleep(0.05)
        time.sleep(1.0)
        lines = [r.getMessage() for r in caplog.records if "the oldest for" in r.getMessage()]
        assert len(lines) == 1 and "15 records of 5 sessions" in lines[0]
    finally:
        client.shutdown(0.2)


def test_the_embedded_store_has_every_record_100ms_after_the_last_call(tmp_path: Path) -> None:
    """No API: the records are in the store file 100 ms after the call, whatever kills
    the process then."""
    import sqlite3

    db = tmp_path / "provenant.db"
    process = _start(f"sqlite:///{db}", "-", "L", 15, 3, "hang")
    _await_line(process, "spooled")
    _kill(process)
    conn = sqlite3.connect(str(db))
    try:
        sessions = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        turns = conn.execute("SELECT count(*) FROM turns").fetchone()[0]
        ended = conn.execute("SELECT count(*) FROM sessions WHERE status = 'COMPLETED'")
        assert (sessions, turns, ended.fetchone()[0]) == (15, 45, 15)
    finally:
        conn.close()


def test_spool_status_prints_the_backlog_and_the_last_error(
    proxy: FaultProxy, provenant_api_key: str
) -> None:
    proxy.refuse()
    client = ProvenantClient(base_url=proxy.url, api_key=provenant_api_key, agent_id="Bot")
    try:
        with client.session(external_id="A-0") as session:
            session.add_turn("USER", "t0")
        assert client.flush(1.5) is False
        base = [sys.executable, "-m", "provenant", "spool", "status", "--base-url", proxy.url]
        base += ["--api-key", provenant_api_key]
        shown = subprocess.run([*base, "--json"], capture_output=True, text=True, timeout=60)
        numbers = json.loads(shown.stdout)
        assert numbers["records"] == 3 and numbers["sessions"] == 1
        assert numbers["forwarder_running"] is True
        assert "Connection refused" in numbers["last_error"]
        assert numbers["next_retry_at"] is not None
        text = subprocess.run(base, capture_output=True, text=True, timeout=60).stdout
        assert "backlog:        3 records in 1 sessions" in text
        assert "last error:     ConnectionRefusedError" in text
    finally:
        client.shutdown(0.2)
