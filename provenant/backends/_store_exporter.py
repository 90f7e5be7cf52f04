"""
The embedded store's exporter: a whole batch of records in one SQLite transaction.

::

    exporter = StoreExporter(".provenant/provenant.db", AgentDirectory())
    result = exporter.export(records)      # one BEGIN IMMEDIATE ... COMMIT
    exporter.shutdown()

Records go straight into :class:`provenant.server._store.Store` through
:func:`provenant.server._batch.write_batch`: the same validators and route handlers as
``provenant serve``'s REST routes, so the rows, ids and refusals are theirs, without a
JSON request per event. An agent name is resolved once (the agent directory) by the
``get-or-create`` route. A transaction that fails (another process holding the file
past SQLite's busy timeout, a full disk) is tried again as a whole, then its records are
dropped with the reason ``store_error`` (logged).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from typing import Any, Dict, List, Optional, Sequence

from provenant._logging import log_fault
from provenant.backends._agents import AgentDirectory
from provenant.backends._records import (
    ExportResult,
    Record,
    SessionEnd,
    SessionStart,
    TurnRecord,
    wire_body,
)
from provenant.backends.local import open_store
from provenant.errors import ConfigurationError, error_from_response
from provenant.server._batch import SessionWrite, write_batch
from provenant.server._router import Router
from provenant.server._store import LOCAL_ORG_ID, Store

__all__ = ["StoreExporter"]

_ATTEMPTS = 3
_RETRY_WAIT_S = 0.2


class StoreExporter:
    """
    :class:`~provenant.backends._records.Exporter` into the embedded SQLite store.

    Args:
        db_path: The database file (its directory is created when missing).
        agents: The agent directory shared with the client.
        stop: Set on shutdown: a failed transaction is not tried again then.
    """

    def __init__(
        self, db_path: str, agents: AgentDirectory, stop: Optional[threading.Event] = None
    ) -> None:
        self.db_path = db_path
        self._agents = agents
        self._stop = stop if stop is not None else threading.Event()
        self._store: Optional[Store] = None
        self._router: Optional[Router] = None
        self._pid = os.getpid()
        self._session_ids: Dict[str, str] = {}
        self._open_lock = threading.Lock()

    #: Writes are short and local: the processor keeps its fork gate meanwhile.
    network = False
    #: How long a worker lets events gather before it writes them: a transaction costs
    #: about as much as a hundred records written in it (see bench_process_cpu.py).
    batch_interval_s = 0.05

    def _open(self) -> Store:
        # Opened by the first batch, in the worker (never on the caller's thread); a
        # forked child opens its own connections and leaves its parent's alone.
        store = self._store
        if store is not None and self._pid == os.getpid():
            return store
        if self._pid != os.getpid():
            self._open_lock = threading.Lock()  # a worker of the parent may have held it
        with self._open_lock:
            if self._store is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._store = open_store(self.db_path)
                self._router = Router(self._store)
            return self._store

    def export(self, records: Sequence[Record]) -> ExportResult:
        """Write ``records`` in one transaction; see :class:`ExportResult`."""
        outcomes: List[Optional[str]] = [None] * len(records)
        tally = [0]
        try:
            store = self._open()
        except ConfigurationError as exc:  # the store cannot be opened: say why, and how
            log_fault("exporter-destination", str(exc), level=logging.ERROR)
            # A session never created drops its turns and end as the REST path would.
            return ExportResult([_unavailable(record) for record in records], {})
        org = LOCAL_ORG_ID
        writes: List[SessionWrite] = []
        places: List[int] = []
        for index, record in enumerate(records):
            if self._parent_pending(record, records, places):
                # The parent is created in this very batch: commit it first, so that
                # its id is known for the child's metadata (nested sessions only).
                self._write(store, org, writes, places, outcomes, tally)
                writes, places = [], []
            write = self._write_of(record, outcomes, index)
            if write is not None:
                writes.append(write)
                places.append(index)
        self._write(store, org, writes, places, outcomes, tally)
        created = {
            record.key: self._session_ids[record.key]
            for record, outcome in zip(records, outcomes)
            if isinstance(record, SessionStart) and outcome is None
        }
        for record in records:
            if isinstance(record, SessionEnd):
                self._session_ids.pop(record.key, None)  # nothing follows an end
        return ExportResult(outcomes, created, tally[0])

    def _parent_pending(self, record: Record, records: Sequence[Record], places: List[int]) -> bool:
        """Whether ``record`` starts a session whose parent's create is not written yet."""
        if not isinstance(record, SessionStart) or record.parent_key is None:
            return False
        if record.parent_id is not None or record.parent_key in self._session_ids:
            return False
        return any(
            isinstance(records[i], SessionStart) and records[i].key == record.parent_key
            for i in places
        )

    def _write_of(
        self, record: Record, outcomes: List[Optional[str]], index: int
    ) -> Optional[SessionWrite]:
        if isinstance(record, TurnRecord):
            return SessionWrite("addTurn", record.key, wire_body(record), record.session_id)
        if isinstance(record, SessionEnd):
            return SessionWrite("endSession", record.key, wire_body(record), record.session_id)
        try:
            agent_id = self._agents.resolve(record.agent, self._get_or_create_agent)
        except Exception as exc:
            log_fault("store-agent", "could not resolve a session's agent; not recorded", exc)
            outcomes[index] = "agent_unresolved"
            return None
        if record.parent_id is None and record.parent_key is not None:
            record.parent_id = self._session_ids.get(record.parent_key)
        return SessionWrite("createSession", record.key, wire_body(record, agent_id))

    def _get_or_create_agent(self, name: str) -> str:
        answer = self._call("POST", "/api/agents/get-or-create", {"name": name})
        return str(answer["id"])

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        """One request of the contract through the router (as the embedded org)."""
        self._open()
        router = self._router
        assert router is not None
        status, answer, headers = router.call_as_org(LOCAL_ORG_ID, method, path, None, body, None)
        if status >= 400:
            raise error_from_response(
                status,
                answer,
                method=method,
                path=path,
                headers=headers,
            )
        return answer

    def read(self, path: str) -> Any:
        """``GET`` one route from the store."""
        return self._call("GET", path)

    def interrupt(self) -> None:
        """Stop waiting before another try of a failed transaction (shutdown)."""
        self._stop.set()

    def _write(
        self,
        store: Store,
        org_id: str,
        writes: List[SessionWrite],
        places: List[int],
        outcomes: List[Optional[str]],
        tally: List[int],
    ) -> None:
        if not writes:
            return
        for attempt in range(_ATTEMPTS):
            try:
                answers = write_batch(store, org_id, writes, self._session_ids)
                break
            except (sqlite3.Error, RuntimeError) as exc:
                if attempt + 1 >= _ATTEMPTS or self._stop.wait(_RETRY_WAIT_S * (attempt + 1)):
                    log_fault(
                        "store-write", f"could not write {len(writes)} records to the store", exc
                    )
                    for index in places:
                        outcomes[index] = "store_error"
                    return
                tally[0] += 1
        for index, write, (status, _) in zip(places, writes, answers):
            if status < 300:
                continue
            if status == 404 and write.route != "createSession":
                outcomes[index] = "session_not_created"
            else:
                outcomes[index] = f"rejected_{status}"

    def shutdown(self) -> None:
        """Close the store's connections. Idempotent."""
        store, self._store = self._store, None
        router, self._router = self._router, None
        if router is not None:
            router.close()
        if store is not None and self._pid == os.getpid():
            store.close()


def _unavailable(record: Record) -> str:
    """Why ``record`` is dropped when the store cannot be opened."""
    if isinstance(record, SessionStart) or record.session_id is not None:
        return "destination_unavailable"
    return "session_not_created"
