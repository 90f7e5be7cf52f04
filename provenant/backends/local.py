"""
The embedded local store: the REST contract answered in-process, no server needed.

``ProvenantClient()`` with no API key and no base URL records here (by default into
``.provenant/provenant.db``); ``provenant serve`` exposes the same file over HTTP.
Requests go through the very router the server mounts, as the store's own
organisation (an in-process identity, not a key: HTTP never accepts it), so every
process that opens the file sees the same records and every answer and error has the
same shape as over HTTP::

    backend = LocalBackend(".provenant/provenant.db")
    agent = backend.request("POST", "/api/agents/get-or-create", body={"name": "Bot"})

.. versionadded:: 0.1
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any, Mapping, Optional

from provenant.errors import ClientClosedError, ConfigurationError, error_from_response
from provenant.server._router import Router
from provenant.server._store import LOCAL_ORG_ID, Store

__all__ = ["LocalBackend", "open_store"]


class LocalBackend:
    """
    A :class:`~provenant.backends.Backend` over a local SQLite file.

    Args:
        db_path: The database file; its directory is created when missing.

    Raises:
        provenant.errors.ConfigurationError: The file cannot be opened or created (a
            read-only working directory, say); the message says how to record elsewhere.

    .. versionadded:: 0.1
    """

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self._store = open_store(db_path)
        self._router = Router(self._store)
        self._pid = os.getpid()
        self._org_id = LOCAL_ORG_ID
        self._closed = False
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Optional[Mapping[str, str]] = None,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
        retries: Optional[int] = None,
        decode: bool = True,
    ) -> Any:
        """
        Answer one request of the REST contract from the local store.

        ``timeout``, ``retries`` and ``decode`` are accepted for the :class:`Backend`
        protocol; an in-process call has nothing to wait for, retry or decode.

        Raises:
            provenant.errors.APIError: The store refused the request (same class and
                message as the HTTP server's answer would give).
            provenant.errors.ClientClosedError: The backend was closed.
        """
        if self._closed:
            raise ClientClosedError("this local backend was closed; build a new client.")
        if self._pid != os.getpid():
            self._reopen_after_fork()
        status, answer, headers = self._router.call_as_org(
            self._org_id, method, path, query, body, idempotency_key
        )
        if status >= 400:
            raise error_from_response(
                status,
                answer,
                method=method.upper(),
                path=path,
                headers=headers,
            )
        return answer

    def _reopen_after_fork(self) -> None:
        # SQLite connections must not cross a fork: the child opens its own and leaves
        # the parent's untouched (closing them here could disturb the parent's locks).
        with self._lock:
            if self._pid == os.getpid():
                return
            self._store = open_store(self.db_path)
            self._router = Router(self._store)
            self._pid = os.getpid()

    def close(self) -> None:
        """Close the database connections. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._router.close()
        self._store.close()

    def __repr__(self) -> str:
        return f"LocalBackend(db_path={self.db_path!r})"


def open_store(db_path: str) -> Store:
    """Open the store, or say in one line why not and how to record elsewhere."""
    try:
        return Store(db_path)
    except (OSError, sqlite3.Error) as exc:
        where = os.path.abspath(db_path)
        raise ConfigurationError(
            f"cannot open the local store at {where} ({type(exc).__name__}: {exc}); "
            "record to a writable place with PROVENANT_BASE_URL=sqlite:///path/to/provenant.db "
            "(or base_url=), or to an API with PROVENANT_BASE_URL and PROVENANT_API_KEY"
        ) from exc
