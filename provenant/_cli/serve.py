"""
``provenant serve``: the REST contract over a local store, for other processes and tests.

::

    provenant serve                                  # .provenant/provenant.db on :4000
    provenant serve --port 0 --db /tmp/p.db --api-key pk_live_0123...

It prints one line ``Provenant local server on http://HOST:PORT`` (flushed) once it
accepts connections, so scripts can wait for it, then a one-time login link of the web
viewer (``http://HOST:PORT/#login=...``), and serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from provenant.config import DEFAULT_LOCAL_DB_PATH

__all__ = ["add_commands", "serve"]


def add_commands(subparsers: Any) -> None:
    """Add ``serve`` to the ``provenant`` parser."""
    parser = subparsers.add_parser(
        "serve", help="serve the REST API over a local store (for other processes and tests)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=4000, help="port (4000; 0 picks a free one)")
    parser.add_argument(
        "--db", default=DEFAULT_LOCAL_DB_PATH, help=f"SQLite file ({DEFAULT_LOCAL_DB_PATH})"
    )
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        dest="api_keys",
        metavar="KEY",
        help="accept this key, its own organisation (repeatable); "
        "with none, a key of the local store's organisation is created and printed",
    )
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted; exit status 0."""
    from provenant.server import LOCAL_ORG_ID, Store, start_server

    keys = list(args.api_keys)
    if not keys:
        # A key of the org the embedded client records into, so what `ProvenantClient()`
        # recorded in this file is what the server shows.
        store = Store(args.db)
        try:
            key, _ = store.create_api_key(org_id=LOCAL_ORG_ID)
        finally:
            store.close()
        keys.append(key)
        print(f"API key: {key}", flush=True)
    try:
        server = start_server(args.db, host=args.host, port=args.port, api_keys=keys)
    except OSError as exc:
        print(
            f"provenant serve: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
            "pick another --port.",
            file=sys.stderr,
        )
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"Provenant local server on {server.url}", flush=True)
        print(f"Web viewer (one-time login link): {server.login_link()}", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    sys.stdout.flush()
    return 0
