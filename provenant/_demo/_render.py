"""Print a recorded session the way the demo shows it: one block per turn."""

from __future__ import annotations

import json
import textwrap
from typing import Any, Mapping, TextIO

from provenant._cost import format_usd

__all__ = ["render_session"]

_WIDTH = 88
_INDENT = " " * 16


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False, sort_keys=True)


def _figures(turn: Mapping[str, Any]) -> str:
    raw = turn.get("metadata")
    metadata: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    parts = []
    if turn.get("latencyMs") is not None:
        parts.append(f"{turn['latencyMs']} ms")
    if turn.get("inputTokens") is not None or turn.get("outputTokens") is not None:
        parts.append(
            f"{turn.get('inputTokens') or 0} in / {turn.get('outputTokens') or 0} out tokens"
        )
    if metadata.get("model"):
        parts.append(str(metadata["model"]))
    if isinstance(metadata.get("costUsd"), (int, float)):
        parts.append(format_usd(metadata["costUsd"]))
    if metadata.get("stopReason"):
        parts.append(f"stop: {metadata['stopReason']}")
    if metadata.get("stream"):
        ttft = metadata.get("timeToFirstTokenMs")
        parts.append("streamed" + (f", first token after {ttft} ms" if ttft is not None else ""))
    return " · ".join(parts)


def render_session(session: Mapping[str, Any], out: TextIO) -> None:
    """Write ``session`` (as ``get_session`` answers it) as a readable transcript."""
    turns = session.get("turns") or []
    raw = session.get("agent")
    agent: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    cost = session.get("costUsd")
    priced = isinstance(cost, (int, float)) or session.get("costPartial") is True
    out.write(
        f"Session {session.get('id')}  agent: {agent.get('name', session.get('agentId'))}  "
        f"status: {session.get('status')}  turns: {len(turns)}"
        + (f"  cost: {format_usd(cost, session.get('costPartial') is True)}" if priced else "")
        + "\n"
    )
    for number, turn in enumerate(turns, start=1):
        head = f"{number:>3}  {turn.get('role', '?'):<9}  "
        body = _text(turn.get("content")) or "(no text)"
        lines = textwrap.wrap(body, _WIDTH - len(head)) or [""]
        out.write(head + lines[0] + "\n")
        for line in lines[1:]:
            out.write(_INDENT + line + "\n")
        for call in turn.get("toolCalls") or []:
            if isinstance(call, dict):
                arguments = call.get("input", call.get("arguments"))
                out.write(f"{_INDENT}tool call {call.get('name')} {_text(arguments)}\n")
        figures = _figures(turn)
        if figures:
            out.write(f"{_INDENT}{figures}\n")
