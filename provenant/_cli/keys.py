"""
``provenant keys create``: a new API key for a local store.

::

    provenant keys create --db .provenant/provenant.db              # the local org
    provenant keys create --db /tmp/p.db --org "Team A"             # the org "Team A"

The key (``pk_live_`` + 32 hex) is printed once; the store keeps only its hash.
"""

from __future__ import annotations

import argparse
from typing import Any

from provenant.config import DEFAULT_LOCAL_DB_PATH

__all__ = ["add_commands", "create_key"]


def add_commands(subparsers: Any) -> None:
    """Add ``keys create`` to the ``provenant`` parser."""
    keys = subparsers.add_parser("keys", help="manage the API keys of a local store")
    commands = keys.add_subparsers(dest="keys_command", metavar="COMMAND")

    def show_help(args: argparse.Namespace) -> int:
        keys.print_help()
        return 2

    keys.set_defaults(handler=show_help)
    create = commands.add_parser("create", help="create and print a new API key")
    create.add_argument(
        "--db", default=DEFAULT_LOCAL_DB_PATH, help=f"SQLite file ({DEFAULT_LOCAL_DB_PATH})"
    )
    create.add_argument(
        "--org",
        default=None,
        help="organisation name (created when missing); default: the local store's own org, "
        "whose records the embedded client writes",
    )
    create.set_defaults(handler=create_key)


def create_key(args: argparse.Namespace) -> int:
    """Create a key, print it; exit status 0."""
    from provenant.server import LOCAL_ORG_ID, Store

    store = Store(args.db)
    try:
        if args.org is None:
            key, _ = store.create_api_key(org_id=LOCAL_ORG_ID)
        else:
            key, _ = store.create_api_key(args.org)
    finally:
        store.close()
    print(key, flush=True)
    return 0
