"""
``provenant sessions list`` and ``provenant sessions show``: browse recorded sessions.

::

    provenant sessions list                         # newest first, from the local store
    provenant sessions list --agent "Support Bot"   # by agent name, slug or id
    provenant sessions show 5f3c                    # a transcript (an id or its unique start)
    provenant sessions show ID --base-url https://api.provenant.dev --api-key pk_live_...
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional

from provenant._cli._browse import compact_json, render_table, short_time
from provenant._cli._common import add_destination_options, client_from_args
from provenant._cost import format_usd
from provenant._wire import is_uuid
from provenant.client import ProvenantClient
from provenant.errors import NotFoundError
from provenant.server._slug import slugify

__all__ = ["add_commands", "render_transcript"]

_INDENT = "    "


def add_commands(subparsers: Any) -> None:
    """Add ``sessions list`` and ``sessions show`` to the ``provenant`` parser."""
    sessions = subparsers.add_parser("sessions", help="list sessions and show their transcripts")
    commands = sessions.add_subparsers(dest="sessions_command", metavar="COMMAND")

    def show_help(args: argparse.Namespace) -> int:
        sessions.print_help()
        return 2

    sessions.set_defaults(handler=show_help)

    listing = commands.add_parser("list", help="list up to 100 sessions, newest first")
    add_destination_options(listing)
    listing.add_argument("--agent", metavar="NAME", help="only this agent's (name, slug or id)")
    listing.add_argument(
        "--status",
        choices=("ACTIVE", "COMPLETED", "FAILED", "CANCELLED"),
        help="only sessions in this status",
    )
    listing.add_argument(
        "--search", metavar="TEXT", help="only sessions with a turn containing TEXT"
    )
    listing.add_argument("--json", action="store_true", help="print the answer as JSON")
    listing.set_defaults(handler=list_sessions)

    show = commands.add_parser("show", help="show one session's transcript")
    show.add_argument("session_id", metavar="ID", help="the session's id, or its unique start")
    add_destination_options(show)
    show.add_argument("--json", action="store_true", help="print the answer as JSON")
    show.set_defaults(handler=show_session)


# -- sessions list ------------------------------------------------------------------------


def _find_agent_id(client: ProvenantClient, reference: str) -> Optional[str]:
    """Find an agent by id, name or slug without creating one."""
    agents = client.list_agents()
    for key, wanted in (("id", reference), ("name", reference), ("slug", slugify(reference))):
        for agent in agents:
            if agent.get(key) == wanted:
                return str(agent["id"])
    return reference if is_uuid(reference) else None


def list_sessions(args: argparse.Namespace) -> int:
    """Print sessions as a table (or JSON); exit status 1 when ``--agent`` names no agent."""
    client = client_from_args(args)
    try:
        agent_id: Optional[str] = None
        if args.agent:
            agent_id = _find_agent_id(client, args.agent)
            if agent_id is None:
                print(
                    f"No agent named {args.agent!r}; see `provenant agents list`.", file=sys.stderr
                )
                return 1
        sessions = client.list_sessions(agent_id, status=args.status, q=args.search)
    finally:
        client.shutdown()
    if args.json:
        print(json.dumps(sessions, indent=2, ensure_ascii=False))
        return 0
    if not sessions:
        print("No sessions found.")
        return 0
    rows = []
    for session in sessions:
        agent = session.get("agent") or {}
        count = (session.get("_count") or {}).get("turns")
        rows.append(
            (
                session.get("id"),
                agent.get("name") or session.get("agentId"),
                session.get("status"),
                session.get("userId"),
                count,
                session.get("totalTokens"),
                _session_cost(session),
                short_time(session.get("startedAt")),
                short_time(session.get("endedAt")),
            )
        )
    headers = ("ID", "AGENT", "STATUS", "USER", "TURNS", "TOKENS", "COST", "STARTED", "ENDED")
    print(render_table(headers, rows))
    return 0


# -- sessions show ------------------------------------------------------------------------


def _fetch_session(client: ProvenantClient, reference: str) -> dict[str, Any]:
    """Fetch a session by id, or by the unique start of an id among the latest sessions."""
    try:
        return client.get_session(reference)
    except NotFoundError:
        if is_uuid(reference):
            raise
        matches = [s for s in client.list_sessions() if str(s.get("id", "")).startswith(reference)]
        if len(matches) != 1:
            raise
        return client.get_session(str(matches[0]["id"]))


def show_session(args: argparse.Namespace) -> int:
    """Print one session's header and transcript (or JSON); exit status 0."""
    client = client_from_args(args)
    try:
        session = _fetch_session(client, args.session_id)
    finally:
        client.shutdown()
    if args.json:
        print(json.dumps(session, indent=2, ensure_ascii=False))
    else:
        print(render_transcript(session))
    return 0


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _session_cost(session: dict[str, Any]) -> Optional[str]:
    """The session's ``costUsd`` (``+``: part unknown); ``None`` when no server says it."""
    cost = session.get("costUsd")
    known = isinstance(cost, (int, float)) and not isinstance(cost, bool)
    partial = session.get("costPartial") is True
    return format_usd(cost, partial) if known or partial else None


def _turns_cost(session: dict[str, Any], turns: list[dict[str, Any]]) -> Optional[str]:
    """What the turns say they cost (any server keeps them), else the session's answer."""
    costs = [_mapping(t.get("metadata")).get("costUsd") for t in turns]
    known = [c for c in costs if isinstance(c, (int, float)) and not isinstance(c, bool)]
    partial = any(_mapping(t.get("metadata")).get("priceUnknown") is True for t in turns)
    if not known and not partial:
        return _session_cost(session)
    return format_usd(sum(known) if known else None, partial)


def _totals(session: dict[str, Any], turns: list[dict[str, Any]]) -> str:
    tokens_in = sum(_number(t.get("inputTokens")) or 0 for t in turns)
    tokens_out = sum(_number(t.get("outputTokens")) or 0 for t in turns)
    tokens = _number(session.get("totalTokens"))
    if tokens is None:
        tokens = tokens_in + tokens_out
    latency = _number(session.get("totalLatencyMs"))
    if latency is None:
        latency = sum(_number(t.get("latencyMs")) or 0 for t in turns)
    cost = _turns_cost(session, turns)
    return (
        f"{len(turns)} turns, {tokens} tokens ({tokens_in} in / {tokens_out} out), {latency} ms"
        + (f", cost {cost}" if cost else "")
    )


def _content_lines(content: Any) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return content.splitlines() or [""]
    if isinstance(content, list):
        lines: list[str] = []
        for block in content:
            lines.extend(_block_lines(block))
        return lines
    return json.dumps(content, indent=2, ensure_ascii=False, default=str).splitlines()


def _block_lines(block: Any) -> list[str]:
    """Content blocks of the providers' formats, read as a person would."""
    if isinstance(block, str):
        return block.splitlines() or [""]
    if not isinstance(block, dict):
        return [compact_json(block)]
    kind = block.get("type")
    if kind in ("text", "input_text", "output_text") and isinstance(block.get("text"), str):
        return str(block["text"]).splitlines() or [""]
    if kind == "tool_use":
        return [f"[tool use] {block.get('name')} {compact_json(block.get('input'))}"]
    if kind == "tool_result":
        inner = block.get("content")
        text = " ".join(_content_lines(inner)) if inner is not None else ""
        return [f"[tool result for {block.get('tool_use_id', '?')}] {text}".rstrip()]
    return [compact_json(block)]


def _tool_call_line(call: Any) -> str:
    if not isinstance(call, dict):
        return f"-> tool call {compact_json(call)}"
    function = _mapping(call.get("function"))
    name = call.get("name") or function.get("name") or "?"
    arguments = call.get("input", call.get("arguments", function.get("arguments")))
    shown = arguments if isinstance(arguments, str) else compact_json(arguments)
    ident = f"  (id {call['id']})" if call.get("id") else ""
    return f"-> tool call {name}({shown}){ident}"


def _turn_details(turn: dict[str, Any]) -> str:
    details = []
    latency = _number(turn.get("latencyMs"))
    if latency is not None:
        details.append(f"{latency} ms")
    tokens_in, tokens_out = _number(turn.get("inputTokens")), _number(turn.get("outputTokens"))
    if tokens_in is not None or tokens_out is not None:
        details.append(f"{tokens_in or 0} in / {tokens_out or 0} out tokens")
    metadata = _mapping(turn.get("metadata"))
    if metadata.get("model"):
        details.append(f"model {metadata['model']}")
    cost = metadata.get("costUsd")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        details.append(format_usd(cost))
    elif metadata.get("priceUnknown") is True:
        details.append("price unknown")
    if metadata.get("stream"):
        details.append("streamed")
    if metadata.get("incomplete"):
        details.append("INCOMPLETE")
    if metadata.get("truncated"):
        details.append("truncated")
    return "  ".join(details)


def render_transcript(session: dict[str, Any]) -> str:
    """
    Render a session (as ``get_session`` answers it) as a readable transcript.

    Args:
        session: The session with its ``agent`` and ``turns``.

    Returns:
        The header (agent, status, user, times, totals) and one block per turn.
    """
    turns = [t for t in session.get("turns") or [] if isinstance(t, dict)]
    agent = _mapping(session.get("agent"))
    agent_name = agent.get("name") or "?"
    lines = [
        f"Session {session.get('id')}",
        f"  Agent:    {agent_name} ({session.get('agentId')})",
        f"  Status:   {session.get('status')}",
        f"  User:     {session.get('userId') or '-'}",
    ]
    if session.get("externalId"):
        lines.append(f"  External: {session['externalId']}")
    lines += [
        f"  Started:  {short_time(session.get('startedAt'))}",
        f"  Ended:    {short_time(session.get('endedAt'))}",
        f"  Totals:   {_totals(session, turns)}",
    ]
    if session.get("tags"):
        lines.append(f"  Tags:     {compact_json(session['tags'])}")
    if session.get("metadata"):
        lines.append(f"  Metadata: {compact_json(session['metadata'])}")
    if not turns:
        lines += ["", "(no turns)"]
    for number, turn in enumerate(turns, start=1):
        details = _turn_details(turn)
        lines.append("")
        lines.append(f"[{number}] {turn.get('role')}  {short_time(turn.get('createdAt'))}")
        if details:
            lines.append(f"{_INDENT}{details}")
        lines += [f"{_INDENT}{line}" for line in _content_lines(turn.get("content"))]
        for call in turn.get("toolCalls") or []:
            lines.append(f"{_INDENT}{_tool_call_line(call)}")
    return "\n".join(lines)
