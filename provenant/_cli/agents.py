"""
``provenant agents list``: the agents of your organisation, or of the embedded store.

::

    provenant agents list                       # the local store .provenant/provenant.db
    provenant agents list --base-url http://127.0.0.1:4000 --api-key pk_live_...
    provenant agents list --json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from provenant._cli._browse import render_table, short_time
from provenant._cli._common import add_destination_options, client_from_args

__all__ = ["add_commands"]


def add_commands(subparsers: Any) -> None:
    """Add ``agents list`` to the ``provenant`` parser."""
    agents = subparsers.add_parser("agents", help="list the agents that recorded sessions")
    commands = agents.add_subparsers(dest="agents_command", metavar="COMMAND")

    def show_help(args: argparse.Namespace) -> int:
        agents.print_help()
        return 2

    agents.set_defaults(handler=show_help)
    listing = commands.add_parser("list", help="list agents, most recently updated first")
    add_destination_options(listing)
    listing.add_argument("--json", action="store_true", help="print the answer as JSON")
    listing.set_defaults(handler=list_agents)


def list_agents(args: argparse.Namespace) -> int:
    """Print the agents as a table (or JSON); exit status 0."""
    client = client_from_args(args)
    try:
        agents = client.list_agents()
    finally:
        client.shutdown()
    if args.json:
        print(json.dumps(agents, indent=2, ensure_ascii=False))
        return 0
    if not agents:
        print("No agents yet: record a session first (see `provenant demo`).")
        return 0
    rows = [
        (
            agent.get("id"),
            agent.get("name"),
            agent.get("slug"),
            agent.get("status"),
            agent.get("modelFamily"),
            short_time(agent.get("updatedAt")),
        )
        for agent in agents
    ]
    print(render_table(("ID", "NAME", "SLUG", "STATUS", "MODEL", "UPDATED"), rows))
    return 0
