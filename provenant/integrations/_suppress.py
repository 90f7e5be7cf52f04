"""
"This LLM call is recorded by a framework integration": the instrumented clients skip it.

A framework integration (the OpenAI Agents SDK processor, the LangChain handler) records
a model call itself, with the framework's own structure (agents, nodes, tools). The
provider client underneath may be instrumented too (``instrument()``, or process-wide);
it checks :func:`suppressed` first and then records nothing, so the call is recorded once.

::

    token = suppress()          # the framework's model call starts (its callback)
    ...                         # the instrumented client calls through untraced
    restore(token)              # the model call ended (same context)

A context variable, so it holds for the model call's own task or thread only.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar, Token
from typing import Iterator, Optional

__all__ = ["recorded_by_framework", "restore", "suppress", "suppressed"]

_framework_records: ContextVar[bool] = ContextVar("provenant.framework_records", default=False)


def suppressed() -> bool:
    """True while a framework integration records the current LLM call."""
    return _framework_records.get()


def suppress() -> Token[bool]:
    """Mark the LLM calls of this context as recorded by a framework; undo with :func:`restore`."""
    return _framework_records.set(True)


def restore(token: Optional[Token[bool]]) -> None:
    """Undo :func:`suppress`; a token from another context is dropped (never raises)."""
    if token is None:
        return
    # A framework that ends its call in another context than it began it leaves its own
    # current-span variable set there too: nothing of ours to undo here.
    with contextlib.suppress(ValueError):
        _framework_records.reset(token)


@contextlib.contextmanager
def recorded_by_framework() -> Iterator[None]:
    """``with recorded_by_framework(): ...``: the instrumented clients record nothing inside."""
    token = suppress()
    try:
        yield
    finally:
        restore(token)
