"""Options shared by the subcommands that talk to a destination."""

from __future__ import annotations

import argparse

from provenant.client import ProvenantClient

__all__ = ["add_destination_options", "client_from_args"]


def add_destination_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--base-url`` and ``--api-key`` (default: the environment, then the local store)."""
    parser.add_argument(
        "--base-url",
        default=None,
        help="https://... for an API, 'local' or sqlite:///path.db (default: PROVENANT_BASE_URL, "
        "then the embedded store .provenant/provenant.db)",
    )
    parser.add_argument("--api-key", default=None, help="API key (default: PROVENANT_API_KEY)")


def client_from_args(args: argparse.Namespace) -> ProvenantClient:
    """Build a client for a command from its ``--base-url`` and ``--api-key``; tracing off."""
    return ProvenantClient(base_url=args.base_url, api_key=args.api_key, enabled=False)
