"""
Carrying the tracing context into threads.

asyncio tasks copy the context by themselves; threads do not. Wrap a callable, or use
the executor, and the code in the thread records into the submitter's session::

    with provenant.session("Support Bot"):
        with provenant.ThreadPoolExecutor() as pool:
            pool.submit(call_the_model)          # recorded in that session

Both carry the whole :mod:`contextvars` context, so they work whichever client opened
the session.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
from typing import Any, Callable, TypeVar

from typing_extensions import ParamSpec

__all__ = ["ThreadPoolExecutor", "wrap_context"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def wrap_context(fn: Callable[P, R]) -> Callable[P, R]:
    """
    Bind ``fn`` to the current context: wherever it is called, it runs in a copy of it.

    Args:
        fn: Any callable.

    Returns:
        A callable with the same signature that runs ``fn`` in a copy of the context
        current now (a fresh copy per call, so concurrent calls never clash).

    .. versionadded:: 0.1
    """
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def in_context(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.copy().run(fn, *args, **kwargs)

    return in_context


class ThreadPoolExecutor(concurrent.futures.ThreadPoolExecutor):
    """
    A :class:`concurrent.futures.ThreadPoolExecutor` that runs each task in the submitter's context.

    A drop-in replacement: ``submit`` and ``map`` behave as the standard ones do, and the
    task sees the session and span current where it was submitted.

    .. versionadded:: 0.1
    """

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        """
        Schedule ``fn(*args, **kwargs)`` in a copy of the current context.

        .. versionadded:: 0.1
        """
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)
