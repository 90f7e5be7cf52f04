"""
``provenant serve``: the REST contract over a local store, for other processes and tests.

::

    provenant serve                                  # .provenant/provenant.db on :4000
    provenant serve --port 0 --db /tmp/p.db --api-key-file keys.txt
    PROVENANT_SERVE_API_KEYS=pk_live_0123... provenant serve

Keys given with ``--api-key`` show in the process list; a key file (one key a line,
``#`` comments) or the ``PROVENANT_SERVE_API_KEYS`` variable (comma- or space-separated)
keep them out of it.

It prints one line ``Provenant local server on http://HOST:PORT`` (flushed) once it
accepts connections, so scripts can wait for it, and serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from typing import Any, Optional

from provenant.config import DEFAULT_LOCAL_DB_PATH

__all__ = ["API_KEYS_ENV", "add_commands", "serve"]

#: The environment variable ``provenant serve`` reads more keys from.
API_KEYS_ENV = "PROVENANT_SERVE_API_KEYS"


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
        help="accept this key, its own organisation (repeatable; visible in the process "
        "list: prefer --api-key-file or $PROVENANT_SERVE_API_KEYS); with no key from any "
        "of them, a key of the local store's organisation is created and printed",
    )
    parser.add_argument(
        "--api-key-file",
        action="append",
        default=[],
        dest="api_key_files",
        metavar="PATH",
        help="accept the keys in this file, one a line, '#' comments (repeatable)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        dest="allowed_hosts",
        metavar="NAME",
        help="also answer requests whose Host header names NAME (repeatable; '*' for any); "
        "by default only loopback names and the bound address are answered",
    )
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted; exit status 0."""
    from provenant.server import LOCAL_ORG_ID, Store, start_server

    keys = _given_keys(args)
    if keys is None:
        return 1
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
        server = start_server(
            args.db,
            host=args.host,
            port=args.port,
            api_keys=keys,
            allowed_hosts=args.allowed_hosts,
        )
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
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    sys.stdout.flush()
    return 0


def _given_keys(args: argparse.Namespace) -> Optional[list[str]]:
    """Keys from --api-key, --api-key-file and the environment; None after printing why not."""
    keys = list(args.api_keys)
    for path in args.api_key_files:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            print(f"provenant serve: cannot read --api-key-file {path} ({reason})", file=sys.stderr)
            return None
        for line in text.splitlines():
            keys.extend(line.split("#", 1)[0].split())
    keys.extend(re.split(r"[\s,]+", os.environ.get(API_KEYS_ENV, "").strip()))
    return list(dict.fromkeys(key for key in keys if key))
