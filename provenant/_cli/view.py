"""
``provenant view``: open the web viewer on the embedded store in one command.

::

    provenant view                         # .provenant/provenant.db, opens the browser
    provenant view --db /tmp/p.db --no-browser

It serves the store on a free port of 127.0.0.1, makes an API key of the store's local
organisation (the one the embedded client records into) for this run only, opens a
one-time login link in the browser (``--no-browser`` prints it), and serves until
Ctrl-C or SIGTERM; the key is revoked when it stops.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import webbrowser
from typing import Any

from provenant.config import DEFAULT_LOCAL_DB_PATH

__all__ = ["add_commands", "view"]


def add_commands(subparsers: Any) -> None:
    """Add ``view`` to the ``provenant`` parser."""
    parser = subparsers.add_parser(
        "view", help="open the web viewer of the local store in the browser"
    )
    parser.add_argument(
        "--db", default=DEFAULT_LOCAL_DB_PATH, help=f"SQLite file ({DEFAULT_LOCAL_DB_PATH})"
    )
    parser.add_argument("--port", type=int, default=0, help="port (0, the default: a free one)")
    parser.add_argument(
        "--no-browser",
        action="store_true",
        help="print the login link instead of opening a browser",
    )
    parser.set_defaults(handler=view)


def view(args: argparse.Namespace) -> int:
    """Serve the viewer until interrupted; exit status 0 (1 when there is no store)."""
    from provenant.server import LOCAL_ORG_ID, Store, start_server
    from provenant.server._store import hash_key, now_iso

    if not os.path.exists(args.db):
        print(
            f"provenant view: no store at {args.db}; record something first "
            "(for example `provenant demo`) or name one with --db.",
            file=sys.stderr,
        )
        return 1
    # A key of the org holding what the embedded client recorded, for this run only.
    store = Store(args.db)
    try:
        key, _ = store.create_api_key(org_id=LOCAL_ORG_ID)
    finally:
        store.close()
    try:
        server = start_server(args.db, host="127.0.0.1", port=args.port, api_keys=[key])
    except OSError as exc:
        print(f"provenant view: cannot listen ({exc.strerror or exc})", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        link = server.login_link(key)
        print(f"Provenant viewer of {args.db} on {server.url}/", flush=True)
        if args.no_browser or not webbrowser.open(link):
            print(f"Open (one-time login link): {link}", flush=True)
        print("Stop with Ctrl-C.", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        with server.store.write() as conn:
            conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_hash = ?", (now_iso(), hash_key(key))
            )
        server.stop()
    sys.stdout.flush()
    return 0
