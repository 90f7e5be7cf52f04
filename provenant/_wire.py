"""
Facts of the REST contract both sides use: the integer bound of its numeric fields, what
an id looks like, an API key's ``keyPrefix``, and the decoding of the JSON-string columns
it sends back.

The platform stores ``metadata``, ``tags``, ``toolCalls``, non-string turn
``content`` and eval payloads as JSON-encoded strings and returns them that way
(``"metadata": "{}"``). :func:`decode_record` turns them back into values, in
place of the strings, throughout nested answers (a session's ``turns``, a run's
``results`` and their ``case``).
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


#: Columns whose value is always JSON-encoded on the wire.
JSON_STRING_FIELDS = frozenset(
    {"metadata", "tags", "toolCalls", "input", "expectedOutput", "actualOutput"}
)
#: Columns that are JSON-encoded only when the value was not a string (turn content).
_MAYBE_JSON_FIELDS = frozenset({"content"})


def _decode_string(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def decode_record(value: Any) -> Any:
    """
    Return ``value`` with every JSON-string column decoded, recursively.

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
    for key, item in value.items():
        if (key in JSON_STRING_FIELDS and isinstance(item, str)) or (
            key in _MAYBE_JSON_FIELDS and isinstance(item, str) and item[:1] in ("{", "[")
        ):
            decoded[key] = _decode_string(item)
        elif isinstance(item, (dict, list)):
            decoded[key] = decode_record(item)
        else:
            decoded[key] = item
    return decoded
