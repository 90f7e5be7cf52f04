"""
:func:`compact_json`: the one JSON encoding every request and record body uses.

``json.dumps`` with any option builds a new encoder on each call; this module builds the
compact one (no spaces, UTF-8 kept as is) once, which halves the cost of encoding a
small body on the delivery and server paths.
"""

from __future__ import annotations

import json
from typing import Any, Callable

__all__ = ["compact_json"]

#: Encode a JSON-serialisable value without spaces and without escaping non-ASCII text;
#: raises ``TypeError`` or ``ValueError`` (a cycle) as ``json.dumps`` does.
compact_json: Callable[[Any], str] = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False
).encode
