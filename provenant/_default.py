"""
The process-wide default client behind ``provenant.session``, ``provenant.trace`` and friends.

It is built lazily from the environment on first use, or explicitly by
:func:`configure`. Building it does no network I/O and starts no thread.
"""

from __future__ import annotations

import threading
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Mapping,
    Optional,
    Sequence,
    TypeVar,
    Union,
    overload,
)

from provenant.client import ProvenantClient

if TYPE_CHECKING:
    from provenant.tracing._session import Session
    from provenant.tracing._trace import TraceKind

__all__ = [
    "configure",
    "flush",
    "get_client",
    "session",
    "shutdown",
    "start_session",
    "stats",
    "trace",
]

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_client: Optional[ProvenantClient] = None


def configure(**settings: Any) -> ProvenantClient:
    """
    Build the default client from these settings and use it from now on.

    Args:
        **settings: Any keyword argument of :class:`~provenant.ProvenantClient`.

    Returns:
        The new default client. The previous one, if any, is flushed and shut down.

    .. versionadded:: 0.1
    """
    global _client
    new_client = ProvenantClient(**settings)
    with _lock:
        previous, _client = _client, new_client
    if previous is not None:
        previous.shutdown()
    return new_client


def get_client() -> ProvenantClient:
    """
    Return the default client, building it from ``PROVENANT_*`` variables on first use.

    .. versionadded:: 0.1
    """
    global _client
    client = _client
    if client is None:
        with _lock:
            client = _client
            if client is None:
                client = ProvenantClient()
                _client = client
    return client


# -- module-level entry points on the default client ------------------------------------


def session(
    agent_id: Optional[str] = None,
    *,
    session_id: Optional[str] = None,
    user_id: Optional[str] = None,
    external_id: Optional[str] = None,
    agent_version_id: Optional[str] = None,
    environment_id: Optional[str] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    tags: Optional[Sequence[str]] = None,
) -> Session:
    """
    Open a traced session on the default client, for ``with`` or ``async with``.

    See :meth:`provenant.ProvenantClient.session`.

    .. versionadded:: 0.1
    """
    return get_client().session(
        agent_id,
        session_id=session_id,
        user_id=user_id,
        external_id=external_id,
        agent_version_id=agent_version_id,
        environment_id=environment_id,
        metadata=metadata,
        tags=tags,
    )


def start_session(
    agent_id: Optional[str] = None,
    *,
    session_id: Optional[str] = None,
    user_id: Optional[str] = None,
    external_id: Optional[str] = None,
    agent_version_id: Optional[str] = None,
    environment_id: Optional[str] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    tags: Optional[Sequence[str]] = None,
) -> Session:
    """
    Start a session on the default client without making it current; end it with ``.end()``.

    See :meth:`provenant.ProvenantClient.start_session`.

    .. versionadded:: 0.1
    """
    return get_client().start_session(
        agent_id,
        session_id=session_id,
        user_id=user_id,
        external_id=external_id,
        agent_version_id=agent_version_id,
        environment_id=environment_id,
        metadata=metadata,
        tags=tags,
    )


@overload
def trace(func: F) -> F: ...


@overload
def trace(
    func: None = None,
    *,
    name: Optional[str] = None,
    kind: TraceKind = "agent",
    agent_id: Optional[str] = None,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Callable[[F], F]: ...


def trace(
    func: Optional[F] = None,
    *,
    name: Optional[str] = None,
    kind: TraceKind = "agent",
    agent_id: Optional[str] = None,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Union[F, Callable[[F], F]]:
    """
    Trace a function, generator or coroutine on the default client.

    Bare (``@provenant.trace``) or with options. The call opens a session when none is
    active and joins the active one otherwise; ``kind="tool"`` records it as a TOOL turn.
    The default client is looked up when the function is called, not when it is
    decorated, so decorating at import time configures nothing.

    Args:
        func: The function to trace (when used bare).
        name: The span's name (default: the function's qualified name).
        kind: ``"agent"`` (default), ``"step"`` or ``"tool"``.
        agent_id: Agent of the session opened when none is active.
        capture_input: Record the bound arguments.
        capture_output: Record the return value.

    .. versionadded:: 0.1
    """
    from provenant.tracing._trace import make_trace_decorator

    decorator = make_trace_decorator(
        get_client,
        name=name,
        kind=kind,
        agent_id=agent_id,
        capture_input=capture_input,
        capture_output=capture_output,
    )
    if func is not None:
        return decorator(func)
    return decorator


def flush(timeout: Optional[float] = None) -> bool:
    """
    Wait until the default client's events are delivered; True when all were.

    .. versionadded:: 0.1
    """
    client = _client
    return True if client is None else client.flush(timeout)


def shutdown(timeout: Optional[float] = None) -> bool:
    """
    Flush and stop the default client; the next use builds a fresh one.

    .. versionadded:: 0.1
    """
    global _client
    with _lock:
        client, _client = _client, None
    return True if client is None else client.shutdown(timeout)


def stats() -> dict[str, Any]:
    """
    Delivery counters of the default client (see :meth:`ProvenantClient.stats`).

    .. versionadded:: 0.1
    """
    return get_client().stats()
