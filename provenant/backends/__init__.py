"""
Where records go: the REST API over HTTP, or the embedded local store.

Use :func:`open_backend` to build the backend a :class:`~provenant.config.Settings`
names; both kinds satisfy :class:`Backend`.
"""

from __future__ import annotations

from typing import Callable

from provenant.backends._agents import AgentDirectory
from provenant.backends._base import Backend
from provenant.backends._records import Exporter
from provenant.config import Settings

__all__ = ["Backend", "agent_slug", "backend_class", "open_backend", "open_exporter"]


def backend_class(settings: Settings) -> type[Backend]:
    """
    Import the backend class for the settings' destination (its modules are loaded once,
    here, so that a background thread building it later never imports).

    Args:
        settings: The resolved client settings.
    """
    if settings.destination.kind == "http":
        from provenant.backends.http import HttpBackend

        return HttpBackend
    from provenant.backends.local import LocalBackend

    return LocalBackend


def open_backend(settings: Settings) -> Backend:
    """
    Build the backend for the settings' destination.

    Args:
        settings: The resolved client settings.

    Returns:
        An :class:`~provenant.backends.http.HttpBackend` for ``http(s)://`` URLs,
        a :class:`~provenant.backends.local.LocalBackend` for the embedded store.
    """
    dest = settings.destination
    if dest.kind == "http":
        from provenant.backends.http import HttpBackend

        assert dest.url is not None
        return HttpBackend(dest.url, api_key=settings.api_key, timeout=settings.timeout)
    from provenant.backends.local import LocalBackend

    assert dest.db_path is not None
    return LocalBackend(dest.db_path)


def open_exporter(
    settings: Settings, agents: AgentDirectory, new_key: Callable[[], str]
) -> Exporter:
    """
    Build the exporter of recorded sessions for the settings' destination (its modules
    imported here, on the caller's thread; nothing is opened until the first batch).

    Args:
        settings: The resolved client settings.
        agents: The agent directory shared with the client.
        new_key: Makes each record's ``Idempotency-Key`` (REST API only).

    Returns:
        A :class:`~provenant.backends._spool_exporter.SpoolExporter` for ``http(s)://``
        URLs (an :class:`~provenant.backends._http_exporter.HttpExporter`, records held
        in memory, where no spool can be written or ``spool=False``), a
        :class:`~provenant.backends._store_exporter.StoreExporter` for the embedded store.
    """
    dest = settings.destination
    if dest.kind == "http":
        from provenant.backends._http_exporter import HttpExporter
        from provenant.backends._spool_exporter import SpoolExporter, spool_file
        from provenant.backends.http import HttpBackend

        assert dest.url is not None
        path = spool_file(settings) if settings.spool else None
        if path is not None:
            return SpoolExporter(settings, new_key, path, settings.spool_max_bytes)
        backend = HttpBackend(dest.url, api_key=settings.api_key, timeout=settings.timeout)
        return HttpExporter(
            backend,
            agents,
            max_attempts=settings.max_delivery_attempts,
            key_prefix=settings.key_prefix,
            new_key=new_key,
            destination=dest.describe(),
        )
    from provenant.backends._store_exporter import StoreExporter

    assert dest.db_path is not None
    return StoreExporter(dest.db_path, agents)


def agent_slug(name: str) -> str:
    """
    The slug the server derives from an agent's name: the server's one slug rule, which
    the client uses to create an agent by name.

    Args:
        name: The agent's display name.
    """
    from provenant.server._slug import slugify

    return slugify(name)
