"""
A call already recorded by someone else: provider clients then pass it through unrecorded.

Two kinds of code record an LLM call above the provider client:

- our own wrappers: a per-instance ``instrument(client)`` wraps the class-level wrapper
  of process-wide instrumentation, and LiteLLM's entry points call provider SDKs inside;
- framework integrations (the OpenAI Agents SDK, LangChain callbacks), which record the
  call with what the framework knows, while the provider client it calls underneath may
  be instrumented process-wide.

Each wraps the call it records in :func:`suppress_provider_recording` (or, where the call
starts and ends in two callbacks, :func:`suppress` and :func:`restore`); every provider
wrapper checks :func:`provider_recording_suppressed` first and, when set, calls the
provider untouched. The flag is a :class:`contextvars.ContextVar`, so it follows asyncio
tasks and never leaks into a concurrent call on another thread or task.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator, Optional

__all__ = [
    "provider_recording_suppressed",
    "restore",
    "suppress",
    "suppress_provider_recording",
]

_SUPPRESSED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "provenant_provider_recording_suppressed", default=False
)


@contextlib.contextmanager
def suppress_provider_recording() -> Iterator[None]:
    """
    Inside this block, instrumented provider clients record nothing (the caller does).

    Use it around the provider call a framework integration records itself::

        with suppress_provider_recording():
            reply = client.chat.completions.create(...)

    Only the start of a call is checked: a stream opened inside the block and read after
    it is not recorded by the client either.
    """
    token = _SUPPRESSED.set(True)
    try:
        yield
    finally:
        _SUPPRESSED.reset(token)


def provider_recording_suppressed() -> bool:
    """True inside :func:`suppress_provider_recording` (in this thread or task)."""
    return _SUPPRESSED.get()


def suppress() -> contextvars.Token[bool]:
    """Set the flag without a ``with`` block (the wrappers' hot path); undo with :func:`restore`."""
    return _SUPPRESSED.set(True)


def restore(token: Optional[contextvars.Token[bool]]) -> None:
    """Undo :func:`suppress`; a token made in another context is dropped (never raises)."""
    if token is None:
        return
    # A framework may end a model call in another context than the one it began it in
    # (a LangChain stream closed elsewhere); that context holds nothing of ours to undo.
    with contextlib.suppress(ValueError):
        _SUPPRESSED.reset(token)
