"""
Payload safety: turn anything a user passes into JSON the wire accepts, never raising.

::

    value, truncated = to_jsonable({"when": datetime.now(), "blob": b"..."}, 256 * 1024)
    # ({"when": "2026-11-27T10:00:00", "blob": "<bytes: 3>"}, False)

Non-JSON objects become a readable form (dataclasses and pydantic models as dicts, dates
ISO, sets as lists, bytes summarised, integers past 2**53 - 1 as their text, anything
else ``repr``), text that UTF-8 cannot carry (lone surrogates, as ``os.listdir`` gives
for a file name that is not UTF-8) has them escaped (``\udce9``), cycles are cut, depth
is bounded, and a value whose JSON is over ``max_bytes`` is cut down and flagged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import math
import sys
import uuid
from decimal import Decimal
from math import isfinite
from typing import Any, Callable, Optional, Union

from provenant._json import compact_json
from provenant._logging import log_fault
from provenant._wire import MAX_SAFE_INT

__all__ = [
    "MASK_FAILED",
    "jsonable",
    "prepare_content",
    "safe_int",
    "safe_text",
    "to_jsonable",
]

_MAX_DEPTH = 32
_MAX_REPR_CHARS = 1000
_MAX_ITEMS = 10_000
_TRUNCATED_MARK = "...[truncated]"
_MIN_KEPT = 64  # bytes an oversized container leaves at least to each value it keeps

#: Recorded in place of a content whose ``mask`` raised, so nothing unmasked leaves.
MASK_FAILED = "<masked: the mask function failed>"


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<unrepresentable {type(value).__name__}>"
    if len(text) > _MAX_REPR_CHARS:
        text = text[:_MAX_REPR_CHARS] + _TRUNCATED_MARK
    return safe_text(text)


def safe_text(text: str) -> str:
    """
    ``text`` as UTF-8 can carry it: each lone surrogate (``surrogateescape`` gives them for
    bytes that are not UTF-8) becomes its escape, ``\udce9``; any other text is returned
    as it is (ASCII text at no cost, other text for one encoding).
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def safe_int(value: int) -> Union[int, str]:
    """
    An integer as every JSON reader holds it: itself within ``MAX_SAFE_INT``, else
    its decimal text (exact, where a JavaScript reader would round the number), or a
    summary when it has more digits than the interpreter writes out.
    """
    if -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
        return value
    try:
        return str(value)
    except ValueError:  # over sys.get_int_max_str_digits()
        return f"<int of {value.bit_length()} bits>"


def _convert(
    value: Any,
    depth: int,
    seen: set[int],
    max_items: int = _MAX_ITEMS,
    show: Callable[[Any], str] = _safe_repr,
) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, int):
        return safe_int(int(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= _MAX_DEPTH:
        return "<too deep>"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<bytes: {len(value)}>"
    if isinstance(value, enum.Enum):
        return _convert(value.value, depth + 1, seen, max_items, show)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    ident = id(value)
    if ident in seen:
        return "<cycle>"
    seen.add(ident)
    try:
        return _convert_container(value, depth, seen, max_items, show)
    finally:
        seen.discard(ident)


def _convert_container(
    value: Any, depth: int, seen: set[int], max_items: int, show: Callable[[Any], str]
) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= max_items:
                out["..."] = f"<{len(value) - max_items} more items>"
                break
            name = safe_text(key) if isinstance(key, str) else show(key)
            out[name] = _convert(item, depth + 1, seen, max_items, show)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if isinstance(value, (set, frozenset)):
            with contextlib.suppress(Exception):
                items = sorted(items)
        converted = [_convert(item, depth + 1, seen, max_items, show) for item in items[:max_items]]
        if len(items) > max_items:
            converted.append(f"<{len(items) - max_items} more items>")
        return converted
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
        return _convert(fields, depth + 1, seen, max_items, show)
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump) and not isinstance(value, type):
        try:
            return _convert(model_dump(), depth + 1, seen, max_items, show)
        except Exception:
            return show(value)
    return show(value)


def _truncate(value: Any, text: str, max_bytes: int) -> Any:
    if isinstance(value, str):
        raw = value.encode("utf-8")[: max(0, max_bytes - len(_TRUNCATED_MARK))]
        return raw.decode("utf-8", errors="ignore") + _TRUNCATED_MARK
    raw = text.encode("utf-8")[: max(0, max_bytes - len(_TRUNCATED_MARK))]
    return raw.decode("utf-8", errors="ignore") + _TRUNCATED_MARK


def _json_size(value: Any) -> int:
    text = compact_json(value)
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _shares(sizes: list[int], available: int) -> list[int]:
    """Split ``available`` bytes among children: the small keep all, the large share the rest."""
    caps = list(sizes)
    order = sorted(range(len(sizes)), key=sizes.__getitem__)
    remaining = available
    for rank, index in enumerate(order):
        share = remaining // (len(order) - rank)
        if sizes[index] <= share:
            remaining -= sizes[index]
            continue
        for rest in order[rank:]:
            caps[rest] = max(share, _MIN_KEPT)
        break
    return caps


def _shrink(value: Any, budget: int, size: int) -> Any:
    """Cut a converted value of JSON size ``size`` to about ``budget`` bytes, keeping the
    shape of dicts and lists (their largest values are cut, trailing items past the room
    for their keys are summarised)."""
    if size <= budget:
        return value
    if isinstance(value, str):
        return _truncate(value, value, max(budget - 2, _MIN_KEPT))
    if isinstance(value, dict):
        keys: list[str] = list(value)
        children = [value[key] for key in keys]
        overheads = [_json_size(key) + 2 for key in keys]  # "key": and a comma
    elif isinstance(value, list):
        keys = []
        children = value
        overheads = [1] * len(children)
    else:
        return value  # a number, boolean or null: small, kept whole
    sizes = [_json_size(child) for child in children]
    used = 2 + len(_TRUNCATED_MARK) * 2  # brackets, and room for a summary of dropped items
    kept = 0
    for overhead, child_size in zip(overheads, sizes):
        if used + overhead + min(child_size, _MIN_KEPT) > budget:
            break
        used += overhead + min(child_size, _MIN_KEPT)
        kept += 1
    caps = _shares(sizes[:kept], budget - 2 - sum(overheads[:kept]))
    cut = [_shrink(children[i], caps[i], sizes[i]) for i in range(kept)]
    dropped = len(children) - kept
    if isinstance(value, dict):
        out: dict[str, Any] = dict(zip(keys[:kept], cut))
        if dropped:
            out["..."] = f"<{dropped} more items>"
        return out
    if dropped:
        cut.append(f"<{dropped} more items>")
    return cut


# JSON text per character at most: a control character is written \uXXXX.
_MAX_JSON_BYTES_PER_CHAR = 6
_SCALAR_JSON_BYTES = 24  # a number, true, false or null, with its comma


def _plain_copy(value: Any, budget: int) -> Any:
    """
    A copy of a dict with string keys holding only text, finite numbers, flags, ``None``
    and lists of text, when its JSON surely fits in ``budget`` bytes; else ``None`` (the
    general conversion decides).

    Turn metadata is such a dict almost always: one pass, no encoding to measure it.
    """
    if type(value) is not dict:
        return None
    out: dict[str, Any] = {}
    size = 2
    for key, item in value.items():
        if type(key) is not str or not key.isascii():
            return None
        kind = type(item)
        if kind is str:
            if not item.isascii():
                item = safe_text(item)
            size += (len(key) + len(item)) * _MAX_JSON_BYTES_PER_CHAR + 6
        elif (
            kind is bool
            or item is None
            or (kind is int and -MAX_SAFE_INT <= item <= MAX_SAFE_INT)
            or (kind is float and isfinite(item))
        ):
            size += len(key) * _MAX_JSON_BYTES_PER_CHAR + _SCALAR_JSON_BYTES
        elif kind is list:
            size += len(key) * _MAX_JSON_BYTES_PER_CHAR + 5
            for part in item:
                if type(part) is not str or not part.isascii():
                    return None
                size += len(part) * _MAX_JSON_BYTES_PER_CHAR + 3
            item = list(item)
        else:
            return None
        out[key] = item
    return out if size <= budget else None


def jsonable(value: Any) -> Any:
    """
    The JSON form of any value, whole: the rules of :func:`to_jsonable` (dataclasses and
    pydantic models as dicts, tuples and sets as lists, dates ISO, ``"<bytes: N>"``,
    ``"<cycle>"``, ``repr`` for the rest), with no size cut and every item kept (only
    the depth is bounded).

    Used where two values are compared as JSON and sent whole (the eval scorers and
    results), so that a value is compared in the form it is recorded in. Unlike
    :func:`to_jsonable`, it raises what a ``repr`` raises: an output that cannot be
    shown fails the eval run rather than being stored as a placeholder.
    """
    return _convert(value, 0, set(), sys.maxsize, _repr_text)


def _repr_text(value: Any) -> str:
    return safe_text(repr(value))


def to_jsonable(value: Any, max_bytes: int, *, keep_shape: bool = False) -> tuple[Any, bool]:
    """
    Convert a value to a JSON-serialisable form of at most about ``max_bytes``.

    Args:
        value: Anything.
        max_bytes: The largest JSON size kept; a larger value is cut to a string.
        keep_shape: Cut an oversized dict or list inside (its largest values, and items
            past the room for their keys), so that it stays a dict or a list.

    Returns:
        ``(jsonable, truncated)``. Never raises.
    """
    try:
        if isinstance(value, str):
            value = safe_text(value)
            if len(value) * 4 <= max_bytes or len(value.encode("utf-8")) <= max_bytes:
                return value, False
            return _truncate(value, value, max_bytes), True
        plain = _plain_copy(value, max_bytes)
        if plain is not None:
            return plain, False
        converted = _convert(value, 0, set())
        if isinstance(converted, (str, int, float, bool)) or converted is None:
            if isinstance(converted, str) and len(converted.encode("utf-8")) > max_bytes:
                return _truncate(converted, converted, max_bytes), True
            return converted, False
        text = compact_json(converted)
        if len(text) * 4 <= max_bytes or len(text.encode("utf-8")) <= max_bytes:
            return converted, False
        if keep_shape:
            return _shrink(converted, max_bytes, len(text.encode("utf-8"))), True
        return _truncate(converted, text, max_bytes), True
    except Exception as exc:  # a bug of ours must not reach the host
        log_fault("payload", "could not convert a recorded value; recorded its type", exc)
        return f"<unserialisable {type(value).__name__}>", False


def prepare_content(
    value: Any, mask: Optional[Callable[[Any], Any]], max_bytes: int, *, keep_shape: bool = False
) -> tuple[Any, bool]:
    """
    Mask a content (when a mask is set) and make it safe for the wire (``keep_shape`` as in
    :func:`to_jsonable`).

    A mask that raises is logged through the repeat filter, and :data:`MASK_FAILED` is
    recorded in place of the content, so nothing unmasked leaves the process.

    Returns:
        ``(jsonable, truncated)``. Never raises.
    """
    if mask is not None:
        try:
            value = mask(value)
        except Exception as exc:
            log_fault("mask", "the mask function raised; recorded a placeholder", exc)
            return MASK_FAILED, False
    return to_jsonable(value, max_bytes, keep_shape=keep_shape)
