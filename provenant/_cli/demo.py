"""The ``provenant demo`` command: a small support agent, recorded offline and read back."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_commands"]


def add_commands(subparsers: Any) -> None:
    """Add ``provenant demo`` to the ``provenant`` parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="record a small support agent offline, then print its transcript",
        description=(
            "Run a small support agent on the real anthropic client against a scripted "
            "model on 127.0.0.1, record its session (a tool call and a streamed reply), "
            "and print the transcript read back from the store. No account, no network."
        ),
    )
    parser.add_argument(
        "--base-url",
        default="local",
        help="where to record: 'local' (default: .provenant/provenant.db in the current "
        "directory), sqlite:///path.db, or http(s)://... of a Provenant server",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from provenant._demo import run_demo

    return run_demo(base_url=args.base_url)
