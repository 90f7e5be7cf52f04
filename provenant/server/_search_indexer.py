"""
The thread that fills the session list's full-text index of turn content, off the writes.

``provenant serve`` starts one per store (:class:`SearchIndexer`); the index itself and
what it indexes are :mod:`provenant.server._session_index`'s.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Optional

from provenant.server._session_index import fts_available, index_pending_turns
from provenant.server._store import Store

__all__ = ["SearchIndexer"]

logger = logging.getLogger("provenant.server")

_INDEX_INTERVAL_S = 0.5


class SearchIndexer:
    """
    A daemon thread that keeps the full-text index caught up with the store's turns.

    It wakes when the store commits (at most every half second), indexes new turns in
    batches of 1,000 (each one short write transaction, so writers wait little), and
    stops with :meth:`stop`.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(
            target=self._loop, name="provenant-search-index", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (before the store closes)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def catch_up(self) -> int:
        """Index every pending turn now; returns how many (tests and benchmarks)."""
        total = 0
        while self._pending():
            with self._store.write() as conn:
                total += index_pending_turns(conn)
        return total

    def _pending(self) -> bool:
        with self._store.read() as conn:
            if not fts_available(conn):
                return False
            row = conn.execute(
                "SELECT (SELECT indexed_seq FROM turns_fts_state WHERE id = 1),"
                " (SELECT MAX(seq) FROM turns)"
            ).fetchone()
        return row[1] is not None and int(row[1]) > int(row[0])

    def _loop(self) -> None:
        seen = -1
        while not self._stop.is_set():
            version = self._store.version
            if version != seen:
                seen = version
                try:
                    while not self._stop.is_set() and self._pending():
                        with self._store.write() as conn:
                            index_pending_turns(conn)
                except RuntimeError:
                    return  # the store was closed
                except sqlite3.Error:
                    logger.warning("provenant server: search index update failed", exc_info=True)
            self._stop.wait(_INDEX_INTERVAL_S)
