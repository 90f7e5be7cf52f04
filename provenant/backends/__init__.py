"""
Where records go: the REST API over HTTP, or the embedded local store.

Use :func:`open_backend` to build the backend a :class:`~provenant.config.Settings`
names; both kinds satisfy :class:`Backend`.
"""

from __future__ import annotations

from provenant.backends._base import Backend
from provenant.config import Settings

__all__ = ["Backend", "backend_class", "open_backend"]


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
