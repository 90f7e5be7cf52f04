"""
The progress line of an eval run: shown on a terminal only, one line rewritten in place.

When the stream is not a TTY (CI logs, pipes, files) it writes nothing at all.
"""

from __future__ import annotations

import sys
import threading
from typing import Optional, TextIO

__all__ = ["Progress"]


class Progress:
    """
    Counts finished cases and redraws ``eval: 7/20 cases, pass rate 71.4%`` on a TTY.

    Args:
        total: The number of cases.
        stream: Where to draw (default ``sys.stderr``, so ``--json`` output stays clean).
    """

    def __init__(self, total: int, stream: Optional[TextIO] = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._total = total
        self._done = 0
        self._passed = 0
        self._lock = threading.Lock()
        self._last_width = 0
        try:
            self.enabled = bool(self._stream.isatty())
        except (AttributeError, ValueError):  # closed or odd streams
            self.enabled = False

    @property
    def done(self) -> int:
        """Cases finished so far."""
        return self._done

    def advance(self, passed: bool) -> None:
        """Count one finished case and redraw the line."""
        with self._lock:
            self._done += 1
            self._passed += 1 if passed else 0
            if self.enabled:
                rate = self._passed / self._done
                self._draw(f"eval: {self._done}/{self._total} cases, pass rate {rate:.1%}")

    def close(self) -> None:
        """Erase the line, leaving the terminal as it was."""
        with self._lock:
            if self.enabled and self._last_width:
                self._draw("")
                self._last_width = 0

    def _draw(self, text: str) -> None:
        padding = " " * max(0, self._last_width - len(text))
        try:
            self._stream.write("\r" + text + padding + ("\r" if not text else ""))
            self._stream.flush()
        except (OSError, ValueError):
            self.enabled = False
            return
        self._last_width = len(text) + len(padding) if text else 0
