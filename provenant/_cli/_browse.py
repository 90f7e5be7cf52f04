"""Plain-text rendering shared by the browsing commands (`agents`, `sessions`)."""

from __future__ import annotations

import json
from typing import Any, Optional, Sequence

__all__ = ["compact_json", "render_table", "short_time"]


def short_time(value: Any) -> str:
    """Show an ISO timestamp as ``YYYY-MM-DD HH:MM:SS`` (UTC); ``-`` when absent."""
    if not isinstance(value, str) or not value:
        return "-"
    text = value.replace("T", " ")
    if text.endswith("Z"):
        text = text[:-1]
    return text.split(".", 1)[0]


def compact_json(value: Any) -> str:
    """Render a JSON value on one line, keeping non-ASCII text readable."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    except (TypeError, ValueError):
        return repr(value)


def cell(value: Any) -> str:
    """Render one table cell: ``-`` for nothing, one line always."""
    if value is None or value == "":
        return "-"
    text = value if isinstance(value, str) else compact_json(value)
    return " ".join(text.split())


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, max_width: Optional[int] = 48
) -> str:
    """Lay rows out in aligned columns under a header line; long cells end in ``…``."""
    texts = [[cell(value) for value in row] for row in rows]
    if max_width is not None:
        texts = [
            [text if len(text) <= max_width else text[: max_width - 1] + "…" for text in row]
            for row in texts
        ]
    widths = [len(header) for header in headers]
    for row in texts:
        for index, text in enumerate(row):
            widths[index] = max(widths[index], len(text))
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for row in texts:
        lines.append("  ".join(t.ljust(w) for t, w in zip(row, widths)).rstrip())
    return "\n".join(lines)
