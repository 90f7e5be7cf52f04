"""
The record of one turn: content made safe and masked, or left out, and its metadata.

::

    record = turn_record(settings, session.key, "USER", "hello", span_path=["plan"])
    # TurnRecord(role="USER", content="hello", metadata={"span": ["plan"]})

Runs on the caller's thread (the event must not change when the caller's objects do),
so it snapshots everything it keeps.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from provenant._logging import log_fault
from provenant._wire import MAX_SAFE_INT
from provenant.backends._records import TurnRecord
from provenant.tracing._payload import prepare_content, to_jsonable

if TYPE_CHECKING:
    from provenant.config import Settings

__all__ = ["ROLES", "Turn", "recorded_content", "turn_record", "wire_count", "wire_tool_calls"]

#: What ``Session.build_turn`` returns and deferred work hands back: one turn's record.
Turn = TurnRecord

ROLES = ("USER", "ASSISTANT", "SYSTEM", "TOOL")
# Metadata keys that carry content, left out when capture_content is off.
_CONTENT_METADATA_KEYS = ("toolInput", "input", "output", "arguments", "thinking")
_TOOL_CALL_CONTENT_KEYS = ("input", "arguments")
_TOOL_CALL_SHAPE_KEYS = ("id", "name", "type")


def wire_count(name: str, value: Any) -> Optional[int]:
    """
    A turn's latency or token count as the wire takes it: an integer (a finite float cut
    to one) within ``MAX_SAFE_INT``; anything else is left out of the turn, logged.
    """
    if value is None:
        return None
    if type(value) is int and -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        with contextlib.suppress(ValueError, OverflowError):
            number = int(value)
            if -MAX_SAFE_INT <= number <= MAX_SAFE_INT:
                return number
    log_fault(
        f"turn-{name}",
        f"a turn's {name} is not an integer within 2**53 - 1 ({type(value).__name__}); "
        "recorded the turn without it",
    )
    return None


def wire_tool_calls(value: Any) -> Optional[list[Mapping[str, Any]]]:
    """
    A turn's tool calls as the wire takes them: a list of mappings (``id``, ``name``,
    ``arguments``...). A call that is not a mapping, or calls that are not a list, are
    left out of the turn, logged; the turn is recorded.
    """
    if value is None:
        return None
    calls = value if isinstance(value, (list, tuple)) else None
    kept = [call for call in calls or () if isinstance(call, Mapping)]
    if calls is None or len(kept) != len(calls):
        log_fault(
            "turn-tool-calls",
            "a turn's tool_calls must be a list of mappings (id, name, arguments); "
            f"recorded the turn without what is not ({type(value).__name__})",
        )
    return kept or None


def _recorded(settings: Settings, content: Any) -> tuple[Any, bool]:
    safe, truncated = prepare_content(content, settings.mask, settings.max_content_bytes)
    # The wire takes a string, an object or an array: other scalars go as JSON text.
    return (safe if isinstance(safe, (str, dict, list)) else json.dumps(safe)), truncated


def recorded_content(settings: Settings, content: Any) -> Any:
    """The content a turn records for ``content``: masked, made safe and cut as
    :func:`turn_record` does, or ``""`` with ``capture_content`` off."""
    return _recorded(settings, content)[0] if settings.capture_content else ""


def _safe_tool_call(settings: Settings, call: Mapping[str, Any]) -> Any:
    out = dict(call)
    for key in _TOOL_CALL_CONTENT_KEYS:
        if key in out:
            out[key] = prepare_content(out[key], settings.mask, settings.max_content_bytes)[0]
    return to_jsonable(out, settings.max_content_bytes)[0]


def turn_record(
    settings: Settings,
    key: str,
    role: str,
    content: Any,
    *,
    tool_calls: Optional[Sequence[Mapping[str, Any]]] = None,
    latency_ms: Optional[int] = None,
    input_tokens: Optional[int] = None,
    output_tokens: Optional[int] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    span_path: Optional[list[str]] = None,
) -> TurnRecord:
    """
    Build the record of one turn.

    Args:
        settings: The client's settings (``capture_content``, ``mask``, ``max_content_bytes``).
        key: The session's key.
        role: The wire role (already upper-case and valid).
        content: Anything; masked, made JSON-safe and truncated (``metadata.truncated``).
        tool_calls: An assistant turn's tool calls (their ``input``/``arguments`` masked;
            already checked by :func:`wire_tool_calls`).
        latency_ms: Latency in milliseconds (already checked by :func:`wire_count`).
        input_tokens: Prompt tokens (likewise).
        output_tokens: Completion tokens (likewise).
        metadata: The caller's metadata.
        span_path: Added as ``metadata.span`` when non-empty.

    Returns:
        The record; with ``capture_content`` off it keeps roles, tokens, latency, the
        shape of tool calls (id, name) and non-content metadata only.
    """
    meta: dict[str, Any] = dict(metadata) if metadata else {}
    if span_path:
        meta["span"] = span_path
    calls: Optional[list[Any]] = None
    if settings.capture_content:
        recorded, truncated = _recorded(settings, content)
        if tool_calls:
            calls = [_safe_tool_call(settings, call) for call in tool_calls]
        if truncated:
            meta["truncated"] = True
    else:
        recorded = ""
        if tool_calls:
            calls = [
                to_jsonable(
                    {k: v for k, v in call.items() if k in _TOOL_CALL_SHAPE_KEYS},
                    settings.max_content_bytes,
                )[0]
                for call in tool_calls
            ]
        for name in _CONTENT_METADATA_KEYS:
            meta.pop(name, None)
    safe_meta: Optional[dict[str, Any]] = None
    if meta:
        # Cut inside (a too-big tool input), so that the metadata stays an object.
        safe, cut = to_jsonable(meta, settings.max_content_bytes, keep_shape=True)
        safe_meta = safe if isinstance(safe, dict) else {}
        if cut:
            safe_meta["truncated"] = True
    return TurnRecord(
        key,
        role=role,
        content=recorded,
        tool_calls=calls,
        latency_ms=latency_ms,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        metadata=safe_meta,
    )
