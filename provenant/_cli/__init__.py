"""
The ``provenant`` command: parser, table of subcommands, and exit statuses.

Each subcommand group lives in its own module with one function,
``add_commands(subparsers)``, that adds its parsers and sets ``handler`` on each: a
function ``(args) -> int`` that calls the library code owning the work.

Exit statuses: 0 success, 1 a ``ProvenantError`` (printed as ``ClassName: message``)
or a failed gate, 2 a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from provenant._version import __version__
from provenant.errors import ProvenantError

__all__ = ["main", "run"]

# Subcommand groups, in the order `provenant --help` lists them.
_COMMAND_MODULES = (
    "provenant._cli.demo",
    "provenant._cli.serve",
    "provenant._cli.view",
    "provenant._cli.keys",
    "provenant._cli.agents",
    "provenant._cli.sessions",
    "provenant._cli.eval",
    "provenant._cli.spool",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the ``provenant`` parser with every subcommand group."""
    parser = argparse.ArgumentParser(
        prog="provenant",
        description="Record, browse and evaluate what your AI agents do.",
    )
    parser.add_argument("--version", action="version", version=f"provenant {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).add_commands(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """
    Run the ``provenant`` command and return its exit status.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        status: int = handler(args)
    except ProvenantError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status


def run() -> None:
    """Console-script entry point: exit with :func:`main`'s status."""
    sys.exit(main())
