"""
``provenant serve``: the REST contract over a local SQLite store.

Start one in code (tests, notebooks, scripts)::

    from provenant.server import start_server

    with start_server("/tmp/provenant.db") as server:
        client = ProvenantClient(base_url=server.url, api_key=server.api_keys[0])
        ...

The same router answers the embedded backend (``ProvenantClient()`` with no
configuration), so either destination answers the same shape.

.. versionadded:: 0.1
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Iterable, Optional, Sequence

from provenant.server._http import ProvenantHTTPServer
from provenant.server._router import Response, Router
from provenant.server._search_indexer import SearchIndexer
from provenant.server._store import LOCAL_ORG_ID, Store
from provenant.server._viewer import Viewer

__all__ = [
    "LOCAL_ORG_ID",
    "LocalServer",
    "Response",
    "Router",
    "Store",
    "start_server",
]


class LocalServer:
    """
    A running local Provenant server (see :func:`start_server`).

    Attributes:
        url: ``http://HOST:PORT``.
        host: The bound address.
        port: The bound port.
        api_keys: The keys it was started with (one generated when none was given).
        store: The :class:`~provenant.server._store.Store` it serves.
        router: The :class:`~provenant.server._router.Router` it mounts.

    .. versionadded:: 0.1
    """

    def __init__(self, store: Store, httpd: ProvenantHTTPServer, api_keys: list[str]) -> None:
        self.store = store
        self._search_indexer = SearchIndexer(store)
        self._viewer = httpd.viewer
        self.router = httpd.router
        self._httpd = httpd
        host, port = httpd.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self.url = f"http://{self.host}:{self.port}"
        self.api_keys = api_keys
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"provenant-server-{self.port}",
            daemon=True,
        )
        self._stopped = False
        self._lock = threading.Lock()

    def _start(self) -> None:
        self._search_indexer.start()
        self._thread.start()

    def create_api_key(
        self, org_name: Optional[str] = None, *, org_id: Optional[str] = None
    ) -> str:
        """
        Create a fresh API key of a fresh organisation, or of an existing one.

        Args:
            org_name: Put the key in the org of this name (created when missing).
            org_id: Put the key in this org, e.g. :data:`LOCAL_ORG_ID`, the org that
                holds what the embedded client (``ProvenantClient()`` with nothing
                configured) recorded in this store.

        Returns:
            The key, ``pk_live_`` followed by 32 hex characters.

        .. versionadded:: 0.1
        .. versionchanged:: 0.2 ``org_id``.
        """
        key, _ = self.store.create_api_key(org_name, org_id=org_id)
        return key

    def login_link(self, api_key: Optional[str] = None) -> str:
        """
        A one-time link that opens the web viewer logged in (valid for an hour).

        Args:
            api_key: The key the page uses, so the org it shows (default: ``api_keys[0]``).

        Returns:
            ``http://HOST:PORT/#login=<token>``; the token is in the fragment, which the
            browser never sends to the server.

        Raises:
            RuntimeError: The server was started with ``viewer=False``.

        .. versionadded:: 0.2
        """
        if self._viewer is None:
            raise RuntimeError("this server was started without the viewer")
        return self._viewer.login_link(self.url, api_key or self.api_keys[0])

    def wait(self, timeout: Optional[float] = None) -> bool:
        """
        Block until the server is stopped; ``True`` when it stopped within ``timeout``.

        .. versionadded:: 0.1
        """
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        """
        Stop serving, end open event streams and close the store. Idempotent.

        .. versionadded:: 0.1
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.router.close()
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        self._thread.join(timeout=5)
        self._search_indexer.stop()
        self.store.close()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalServer(url={self.url!r}, db_path={self.store.db_path!r})"


def start_server(
    db_path: str,
    host: str = "127.0.0.1",
    port: int = 0,
    api_keys: Optional[Sequence[str]] = None,
    allowed_hosts: Iterable[str] = (),
    viewer: bool = True,
) -> LocalServer:
    """
    Serve the REST contract over the store at ``db_path`` in a background thread.

    Args:
        db_path: The SQLite file (created with its directory when missing).
        host: The address to bind.
        port: The port (``0``: an ephemeral one, read it from ``server.url``).
        api_keys: Keys to accept; each one not yet registered becomes its own org.
            ``None`` or empty: one fresh key of a fresh org is generated.
        allowed_hosts: ``Host`` names to answer besides loopback names and the bound
            address (``"*"``: any). Other names are refused with 400, so a web page
            cannot reach the server through a name it controls (DNS rebinding).
        viewer: Serve the web viewer at ``/`` (see :meth:`LocalServer.login_link`).

    Returns:
        The running :class:`LocalServer`; call ``stop()`` (or use it as a context
        manager) when done.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 ``allowed_hosts``.
    """
    store = Store(db_path, background_checkpoints=True)
    try:
        keys = [store.create_api_key(key=key)[0] for key in api_keys or ()]
        if not keys:
            keys.append(store.create_api_key()[0])
        httpd = ProvenantHTTPServer(
            (host, port), Router(store), allowed_hosts, Viewer() if viewer else None
        )
    except BaseException:
        store.close()
        raise
    server = LocalServer(store, httpd, keys)
    server._start()
    return server
