"""
The one seam between the SDK and where records go.

A backend answers the REST contract of ``shared/provenant-api.md``: a method, a
path under ``/api`` (or ``/health``), an optional JSON body and query, and it
returns the decoded JSON answer exactly as the server sends it (its JSON columns
in whichever form that server sends them: ``decode_record`` reads both) or raises
a :class:`provenant.errors.ProvenantError`.
Both :class:`~provenant.backends.http.HttpBackend` (the REST API over HTTP) and
:class:`~provenant.backends.local.LocalBackend` (the embedded SQLite store,
served in-process by the very router ``provenant serve`` uses) satisfy it.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from typing_extensions import Protocol, runtime_checkable

__all__ = ["Backend"]


@runtime_checkable
class Backend(Protocol):
    """Deliver one request of the REST contract and return its decoded answer."""

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
        Send one request and return the decoded JSON body of a 2xx answer.

        Args:
            method: ``GET``, ``POST``, ``PATCH`` or ``DELETE``.
            path: The route, e.g. ``/api/sessions/123/turns`` (query string not included).
            body: A JSON-serialisable body, or ``None`` for no body.
            query: Query parameters; ``None`` values are left out by the caller.
            idempotency_key: Sent as the ``Idempotency-Key`` header on writes.
            timeout: Overrides the backend's timeout (seconds) for this request.
            retries: How many times to retry a transient failure; ``None`` means the
                backend's default for explicit calls (safe requests only), ``0`` means
                never (the exporter retries on its own schedule).
            decode: ``False`` when nobody reads a 2xx answer: it may be left undecoded
                and ``None`` returned.

        Raises:
            provenant.errors.APIError: The server answered 4xx/5xx (subclass by status).
            provenant.errors.TransportError: No answer (connection or timeout).
        """
        ...

    def close(self) -> None:
        """Release connections and files. Idempotent."""
        ...
