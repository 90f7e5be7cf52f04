"""
``provenant keys create`` and ``revoke``: the API keys of a local store.

::

    provenant keys create --db .provenant/provenant.db              # the local org
    provenant keys create --db /tmp/p.db --org "Team A"             # the org "Team A"
    provenant keys revoke --db /tmp/p.db pk_live_...                # refused from now on

The key (``pk_live_`` + 32 hex) is printed once; the store keeps only its hash. A
running ``provenant serve`` on the same file refuses a revoked key within a second.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from provenant.config import DEFAULT_LOCAL_DB_PATH

__all__ = ["add_commands", "create_key", "revoke_key"]


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
    revoke = commands.add_parser("revoke", help="revoke an API key (servers refuse it within 1 s)")
    revoke.add_argument(
        "--db", default=DEFAULT_LOCAL_DB_PATH, help=f"SQLite file ({DEFAULT_LOCAL_DB_PATH})"
    )
    revoke.add_argument("key", metavar="KEY", help="the whole key, pk_live_ + 32 hex")
    revoke.set_defaults(handler=revoke_key)


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


def revoke_key(args: argparse.Namespace) -> int:
    """Revoke a key; exit status 0, or 1 when the store has no such live key."""
    from provenant.server import Store

    store = Store(args.db)
    try:
        revoked = store.revoke_api_key(args.key)
    finally:
        store.close()
    if not revoked:
        print(f"provenant keys revoke: no live key like that in {args.db}", file=sys.stderr)
        return 1
    print("revoked", flush=True)
    return 0
