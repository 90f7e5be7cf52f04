"""
``provenant spool status`` and ``provenant spool drain``: the local spool of records
waiting for a REST API.

::

    provenant spool status --base-url https://api.provenant.dev --api-key pk_live_...
    provenant spool drain --timeout 600        # deliver what a dead process left
"""

from __future__ import annotations

import argparse
import datetime
import json
from typing import Any, Dict, Optional

from provenant._cli._common import add_destination_options
from provenant.config import resolve_settings
from provenant.errors import ConfigurationError

__all__ = ["add_commands"]


def add_commands(subparsers: Any) -> None:
    """Add ``spool status`` and ``spool drain`` to the ``provenant`` parser."""
    spool = subparsers.add_parser("spool", help="the records waiting on disk for a REST API")
    commands = spool.add_subparsers(dest="spool_command", metavar="COMMAND")

    def show_help(args: argparse.Namespace) -> int:
        spool.print_help()
        return 2

    spool.set_defaults(handler=show_help)
    status = commands.add_parser("status", help="print the backlog and how delivery goes")
    add_destination_options(status)
    status.add_argument("--json", action="store_true", help="print the numbers as JSON")
    status.set_defaults(handler=show_status)
    drain = commands.add_parser("drain", help="deliver what waits in the spool, then exit")
    add_destination_options(drain)
    drain.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to try at most (default 300)"
    )
    drain.set_defaults(handler=drain_spool)


def _settings(args: argparse.Namespace) -> Any:
    settings = resolve_settings(base_url=args.base_url, api_key=args.api_key)
    if settings.destination.kind != "http":
        raise ConfigurationError(
            "the spool holds records for a REST API only: give --base-url https://... "
            "(or PROVENANT_BASE_URL); the embedded store is written directly."
        )
    return settings


def show_status(args: argparse.Namespace) -> int:
    """Print the spool's backlog, rate, limit last seen, last error and next retry."""
    from provenant.backends._spool_exporter import spool_status

    numbers = spool_status(_settings(args))
    if args.json:
        print(json.dumps(numbers, indent=2, sort_keys=True))
        return 0
    print(_describe(numbers))
    return 0


def drain_spool(args: argparse.Namespace) -> int:
    """Deliver the spool; exit status 0 when it is empty, 1 when records are left."""
    from provenant.backends._spool_exporter import drain_spool as drain
    from provenant.tracing._ids import new_key

    left, numbers = drain(_settings(args), args.timeout, new_key)
    print(_describe(numbers))
    if left:
        print(f"{left} records are still waiting (try again, or see the last error above).")
        return 1
    print("The spool is empty: everything was delivered.")
    return 0


def _when(epoch: Optional[float]) -> str:
    if epoch is None:
        return "-"
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _describe(numbers: Dict[str, Any]) -> str:
    age = numbers.get("oldest_age_s")
    limit = numbers.get("rate_limit") or {}
    limit_text = (
        ", ".join(f"{name}={value}" for name, value in limit.items() if name != "seen_at")
        if limit
        else "-"
    )
    lines = [
        f"spool:          {numbers.get('path')}",
        f"backlog:        {numbers.get('records', 0)} records in "
        f"{numbers.get('sessions', 0)} sessions"
        + (f", oldest {age:.0f} s old" if age is not None else ""),
        f"forwarder:      {'running' if numbers.get('forwarder_running') else 'none running'}"
        + (f" (pid {numbers['holder_pid']} last)" if numbers.get("holder_pid") else ""),
        f"delivery rate:  {numbers.get('rate_per_s') or 0:.2f} records/s "
        f"({numbers.get('delivered') or 0} delivered by the last forwarder)",
        f"limit seen:     {limit_text}",
        f"last error:     {numbers.get('last_error') or '-'}"
        + (f" at {_when(numbers['last_error_at'])}" if numbers.get("last_error_at") else ""),
        f"next retry:     {_when(numbers.get('next_retry_at'))}",
    ]
    dropped = numbers.get("dropped") or {}
    if dropped:
        lines.append("refused:        " + ", ".join(f"{k}: {v}" for k, v in dropped.items()))
    if numbers.get("resent"):
        lines.append(f"resent:         {numbers['resent']} (in flight when a forwarder died)")
    return "\n".join(lines)
