"""
Facts of the REST contract both sides use: the integer bound of its numeric fields, what
an id looks like, an API key's ``keyPrefix``, and the decoding of the JSON-string columns
it sends back.

The platform stores ``metadata``, ``tags``, ``toolCalls``, non-string turn
``content`` and eval payloads as JSON-encoded strings. The hosted server answers them
decoded (and, by its database middleware, parses any JSON-looking string inside them
too); ``provenant serve`` answers them decoded too (its 0.1 release sent them as JSON text).
:func:`decode_record` reads either form, decoding each column exactly once.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

__all__ = [
    "API_KEY_MARK",
    "JSON_STRING_FIELDS",
    "MAX_SAFE_INT",
    "clamp_int",
    "decode_record",
    "is_uuid",
    "key_prefix",
    "shown_key",
]

_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


def is_uuid(value: str) -> bool:
    """Tell whether ``value`` is written as a UUID (an id rather than an agent name)."""
    return bool(_UUID_RE.match(value))


#: What an API key starts with (``pk_live_`` + 32 hex characters).
API_KEY_MARK = "pk_live_"


def key_prefix(key: str, chars: int = 8) -> str:
    """
    An API key's ``keyPrefix``: its first ``chars`` characters after ``pk_live_`` (of the
    key itself when it lacks the mark). The store keeps the contract's 8; messages show 4
    (:func:`shown_key`).
    """
    rest = key[len(API_KEY_MARK) :] if key.startswith(API_KEY_MARK) else key
    return rest[:chars]


def shown_key(key: Optional[str]) -> Optional[str]:
    """What a message may show of an API key: its mark and 4 characters of its
    :func:`key_prefix` (``"pk_live_0123"``), never the key; ``None`` for no key."""
    if not key:
        return None
    mark = API_KEY_MARK if key.startswith(API_KEY_MARK) else ""
    return mark + key_prefix(key, 4)


#: The largest integer the contract's numeric fields take, and every JSON reader holds
#: exactly (JavaScript's ``Number.MAX_SAFE_INTEGER``).
MAX_SAFE_INT = 2**53 - 1


def clamp_int(value: float) -> int:
    """``value`` as an integer within ±:data:`MAX_SAFE_INT` (a sum may pass the bound)."""
    return int(max(-MAX_SAFE_INT, min(MAX_SAFE_INT, value)))


#: The JSON columns: stored as JSON text, answered as a value (a JSON scalar of an eval
#: payload stays its text) or, by a 0.1 local server, as JSON text.
JSON_STRING_FIELDS = frozenset(
    {"metadata", "tags", "toolCalls", "input", "expectedOutput", "actualOutput"}
)
#: Keys whose value holds records of the contract (never user data): looked into.
_RECORD_KEYS = frozenset(
    {"agent", "turns", "versions", "cases", "case", "results", "runs", "sessions", "suite"}
)
#: Columns of a turn that are always a list or object once decoded: which of the two
#: forms a turn arrives in, and so whether its string ``content`` may be JSON text.
_FORM_WITNESSES = ("toolCalls", "metadata")


def _decode_column(value: Any) -> Any:
    """A JSON column decoded once: a string is JSON text, anything else already a value."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _encoded_form(record: dict[str, Any]) -> bool:
    """Whether ``record`` came from a server that sends its JSON columns as JSON text."""
    for key in _FORM_WITNESSES:
        value = record.get(key)
        if value is not None:
            return isinstance(value, str)
    return True


def _encoded_content(value: Any) -> Any:
    """Turn content from a server sending JSON text: object or array text is JSON."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        return _decode_column(value)
    return value


def decode_record(value: Any) -> Any:
    """
    Return ``value`` with every JSON column decoded exactly once.

    Answers come in two forms. The hosted platform and ``provenant serve`` send
    a column holding an object or array decoded (a JSON scalar, which only eval payloads
    hold, stays its JSON text); a 0.1 local server sends every column as JSON text. A
    string in a JSON column is therefore decoded once, a value kept as it is, and nothing
    inside a column is ever looked into: ``{"input": "42"}`` stays so. Turn ``content`` is
    text or a value: a string is taken for JSON text only from a server of the older form
    (the turn's ``toolCalls`` arrive as a string), where an object or array text was
    always JSON. Records nested in an answer (a session's ``turns`` and ``agent``, a run's
    ``results`` and their ``case``, a suite's ``cases``) are decoded the same way.

    Args:
        value: An answer of the API: a dict, a list of dicts, or a scalar.

    Returns:
        The same structure with decoded columns (new containers; the input is untouched).
    """
    if isinstance(value, list):
        return [decode_record(item) for item in value]
    if not isinstance(value, dict):
        return value
    decoded: dict[str, Any] = {}
    encoded: Optional[bool] = None
    for key, item in value.items():
        if key in JSON_STRING_FIELDS:
            decoded[key] = _decode_column(item)
        elif key == "content":
            if encoded is None:
                encoded = _encoded_form(value)
            decoded[key] = _encoded_content(item) if encoded else item
        elif key in _RECORD_KEYS and isinstance(item, (dict, list)):
            decoded[key] = decode_record(item)
        else:
            decoded[key] = item
    return decoded
