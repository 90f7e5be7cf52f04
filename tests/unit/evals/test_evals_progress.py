"""The progress line: drawn on a TTY, silent elsewhere."""

from __future__ import annotations

import io

from provenant.evals._progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_cases_and_pass_rate_on_a_tty() -> None:
    """On a TTY each finished case redraws 'done/total' and the pass rate, then is erased."""
    stream = _Terminal()
    progress = Progress(4, stream=stream)
    progress.advance(True)
    progress.advance(False)
    assert stream.getvalue().split("\r")[-1].rstrip() == "eval: 2/4 cases, pass rate 50.0%"
    progress.close()
    assert stream.getvalue().endswith("\r" + " " * len("eval: 1/4 cases, pass rate 100.0%") + "\r")


def test_progress_is_silent_when_not_a_tty() -> None:
    """When the stream is not a TTY nothing at all is written."""
    stream = io.StringIO()
    progress = Progress(2, stream=stream)
    progress.advance(True)
    progress.close()
    assert stream.getvalue() == ""
    assert progress.done == 1
