"""
Fault logging that never floods: one line per kind of fault per interval.

Everything the SDK catches on the host's behalf (a serialisation error, a backend
refusing, a bug of ours) goes through :func:`log_fault`, so a fault repeated on every
call costs one log line a minute and a counter, never a line per call.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Optional

__all__ = ["fault_counts", "log_fault", "logger"]

logger = logging.getLogger("provenant")

_REPEAT_INTERVAL_S = 60.0
_lock = threading.Lock()
_last_logged: dict[str, float] = {}
_counts: dict[str, int] = {}


def _fresh_lock_in_child() -> None:
    # A thread of the parent may have held the lock at the fork: the child's is new.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock_in_child)


def log_fault(
    kind: str,
    message: str,
    exc: Optional[BaseException] = None,
    *,
    level: int = logging.WARNING,
    note_repeats: bool = True,
) -> None:
    """
    Count a fault and log it, at most once per ``kind`` per minute.

    Args:
        kind: A short stable name of the kind of fault (e.g. ``"serialise-turn"``).
        message: What happened, for the log line.
        exc: The exception caught, if any; its traceback is logged with the line.
        level: The logging level of the line.
        note_repeats: Add "(seen N times)" to a line after the first; off when the
            message counts for itself.
    """
    try:
        now = time.monotonic()
        with _lock:
            _counts[kind] = _counts.get(kind, 0) + 1
            last = _last_logged.get(kind)
            if last is not None and now - last < _REPEAT_INTERVAL_S:
                return
            _last_logged[kind] = now
            repeats = _counts[kind]
        suffix = f" (seen {repeats} times)" if repeats > 1 and note_repeats else ""
        logger.log(level, "provenant: %s%s", message, suffix, exc_info=exc)
    except Exception:  # pragma: no cover - logging must never raise into the host
        pass


def fault_counts() -> dict[str, int]:
    """Return how many times each kind of fault was seen in this process."""
    with _lock:
        return dict(_counts)


def _reset_for_tests() -> None:
    with _lock:
        _last_logged.clear()
        _counts.clear()
