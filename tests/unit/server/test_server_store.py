"""The SQLite store: keys, atomic writes and grouped commits."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Iterator

import pytest

from provenant.server import LOCAL_ORG_ID, Store
from provenant.server._store import hash_key, key_prefix


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(str(tmp_path / "s.db"))
    yield opened
    opened.close()


def test_keys_are_stored_hashed_with_prefix(store: Store) -> None:
    """Only the SHA-256 of a key and its 8-char prefix are kept; the key resolves to its org."""
    key, org = store.create_api_key()
    assert key.startswith("pk_live_") and len(key) == 40
    with store.read() as conn:
        rows = conn.execute("SELECT key_hash, key_prefix FROM api_keys").fetchall()
    assert (hash_key(key), key[8:16]) in rows
    assert all(key not in row for row in rows)
    assert key_prefix(key) == key[8:16]
    assert store.org_for_key(key) == org
    assert store.org_for_key("pk_live_" + "f" * 32) is None
    local_key, local_org = store.create_api_key(org_id=LOCAL_ORG_ID)
    assert local_org == LOCAL_ORG_ID and store.org_for_key(local_key) == LOCAL_ORG_ID


def test_each_fresh_key_gets_a_fresh_org(store: Store) -> None:
    """create_api_key() without an org makes a new org; a registered key keeps its org."""
    key_a, org_a = store.create_api_key()
    _, org_b = store.create_api_key()
    assert org_a != org_b
    assert store.create_api_key(key=key_a) == (key_a, org_a)


def test_failed_write_leaves_nothing(store: Store) -> None:
    """A write block that raises is rolled back entirely."""
    with pytest.raises(RuntimeError), store.write() as conn:
        conn.execute("INSERT INTO orgs (id, name, created_at) VALUES ('x', 'half', 'now')")
        raise RuntimeError("boom")
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM orgs WHERE id = 'x'").fetchone()[0] == 0


def test_concurrent_writes_commit_all_and_isolate_failures(store: Store) -> None:
    """Grouped commits keep every good write of many threads and drop only the failing ones."""
    errors: list[BaseException] = []

    def write(thread: int) -> None:
        for index in range(50):
            name = f"{thread}-{index}"
            try:
                with store.write() as conn:
                    conn.execute(
                        "INSERT INTO orgs (id, name, created_at) VALUES (?, ?, 'now')",
                        (name, name),
                    )
                    if index % 10 == 9:
                        raise ValueError("refused")
            except ValueError:
                pass
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    other = sqlite3.connect(store.db_path)
    try:
        names = {row[0] for row in other.execute("SELECT name FROM orgs WHERE created_at = 'now'")}
    finally:
        other.close()
    assert names == {f"{t}-{i}" for t in range(8) for i in range(50) if i % 10 != 9}


def _committed_orgs(store: Store, name: str) -> int:
    other = sqlite3.connect(store.db_path)
    try:
        return int(other.execute("SELECT COUNT(*) FROM orgs WHERE name = ?", (name,)).fetchone()[0])
    finally:
        other.close()


def test_a_withdrawn_announcement_commits_the_waiting_group(store: Store) -> None:
    """A write that waits for an announced writer is committed when that writer withdraws."""
    store.announce_write()
    done = threading.Event()

    def write() -> None:
        with store.write() as conn:
            conn.execute("INSERT INTO orgs (id, name, created_at) VALUES ('w1', 'grouped', 'now')")
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    store.withdraw_write()
    thread.join(5)
    assert done.is_set()
    assert _committed_orgs(store, "grouped") == 1


def test_an_announced_writer_that_never_comes_does_not_hold_the_group(store: Store) -> None:
    """A write waiting for an announced writer commits by itself after a short bound."""
    store.announce_write()
    try:
        with store.write() as conn:
            conn.execute("INSERT INTO orgs (id, name, created_at) VALUES ('w2', 'alone', 'now')")
        assert _committed_orgs(store, "alone") == 1
    finally:
        store.withdraw_write()


def test_an_older_store_learns_which_session_each_idempotency_record_wrote(
    tmp_path: Path,
) -> None:
    """Opening a version-1 store fills in the session of its idempotency records."""
    path = str(tmp_path / "v1.db")
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE idempotency (hash INTEGER PRIMARY KEY, org_id TEXT NOT NULL,"
        " key TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,"
        " status INTEGER NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL);"
        "INSERT INTO idempotency VALUES (1, 'o', 'k1', 'POST', '/api/sessions/s-1/turns',"
        " 201, '{}', 0);"
        "INSERT INTO idempotency VALUES (2, 'o', 'k2', 'POST', '/api/sessions',"
        ' 201, \'{"id": "s-2"}\', 0);'
        "INSERT INTO idempotency VALUES (3, 'o', 'k3', 'POST', '/api/agents', 201, '{}', 0);"
        "PRAGMA user_version=1;"
    )
    conn.close()
    store = Store(path)
    try:
        with store.read() as read:
            rows = read.execute("SELECT hash, object_id FROM idempotency ORDER BY hash").fetchall()
    finally:
        store.close()
    assert rows == [(1, "s-1"), (2, "s-2"), (3, None)]
