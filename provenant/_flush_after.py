"""
``@provenant.flush_after``: flush at the end of each invocation of a handler.

A serverless function's process is frozen (or ended) as soon as its handler returns,
before background threads deliver anything. Decorate the handler, sync or async::

    @provenant.flush_after
    def handler(event, context): ...

    @provenant.flush_after(timeout=2.0)
    async def handler(event, context): ...

Each invocation ends with :func:`provenant.flush` (the default client; or the given
``client``): it waits, at most ``timeout`` seconds, until the invocation's records
reached the API. An async handler's flush runs in a worker thread, so the event loop
is never blocked. A failure of the flush never reaches the handler's caller; what is
left stays in the spool (``stats()["spool"]``) for the next invocation.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import Any, Callable, Optional, TypeVar, Union, overload

from provenant._logging import log_fault

__all__ = ["flush_after"]

F = TypeVar("F", bound=Callable[..., Any])

_DEFAULT_TIMEOUT_S = 5.0


@overload
def flush_after(func: F) -> F: ...


@overload
def flush_after(
    func: None = None, *, timeout: float = _DEFAULT_TIMEOUT_S, client: Any = None
) -> Callable[[F], F]: ...


def flush_after(
    func: Optional[F] = None, *, timeout: float = _DEFAULT_TIMEOUT_S, client: Any = None
) -> Union[F, Callable[[F], F]]:
    """
    Flush recorded events at the end of each call of ``func`` (see the module's docstring).

    Args:
        func: The handler, sync or async.
        timeout: Seconds each flush may wait at most.
        client: The :class:`~provenant.ProvenantClient` to flush (default: the default
            client).

    .. versionadded:: 0.2
    """

    def flush_now() -> None:
        try:
            if client is not None:
                client.flush(timeout)
            else:
                from provenant._default import flush

                flush(timeout)
        except Exception as exc:  # never let our flush fail the handler
            log_fault("flush-after", "flushing at the end of a handler failed", exc)

    def decorate(target: F) -> F:
        if inspect.iscoroutinefunction(target):

            @functools.wraps(target)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await target(*args, **kwargs)
                finally:
                    await asyncio.get_running_loop().run_in_executor(None, flush_now)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(target)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return target(*args, **kwargs)
            finally:
                flush_now()

        return wrapper  # type: ignore[return-value]

    if func is not None:
        return decorate(func)
    return decorate
