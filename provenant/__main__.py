"""``python -m provenant``: the ``provenant`` command."""

from __future__ import annotations

from provenant._cli import run

if __name__ == "__main__":
    run()
