"""
A Griffe extension for the API reference: the package's docstrings use a few
reStructuredText forms (``::`` literal blocks, ``:class:`X``` roles, ``.. versionadded::``
and simple tables) inside Google-style sections; this turns them into Markdown before
mkdocstrings renders them. Only the rendering changes; the docstrings stay as written.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

__all__ = ["RstDocstrings", "rst_to_markdown"]

_ROLE_RE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj|const):`~?([^`]+)`")
_DIRECTIVE_RE = re.compile(r"^(\s*)\.\. (versionadded|versionchanged|deprecated):: *(\S+)\s*$")
_TABLE_RULE_RE = re.compile(r"^(\s*)(=+)( +=+)+\s*$")
_DIRECTIVE_WORDS = {
    "versionadded": "Added in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
}


def _role(match: re.Match[str]) -> str:
    target = match.group(1)
    if match.group(0).split("`", 1)[1].startswith("~"):
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def _columns(rule: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"=+", rule)]


def _split_row(line: str, columns: list[tuple[int, int]]) -> list[str]:
    cells = []
    for index, (start, _end) in enumerate(columns):
        stop = columns[index + 1][0] if index + 1 < len(columns) else len(line)
        cells.append(line[start:stop].strip())
    return cells


def _table(lines: list[str], start: int) -> tuple[list[str], int]:
    """Convert the simple table whose first rule is ``lines[start]``; return (md, next)."""
    indent = _TABLE_RULE_RE.match(lines[start]).group(1)  # type: ignore[union-attr]
    columns = _columns(lines[start])
    rows: list[list[str]] = []
    rules = 1
    index = start + 1
    while index < len(lines) and rules < 3:
        line = lines[index]
        index += 1
        if _TABLE_RULE_RE.match(line):
            rules += 1
            if rules == 2 and index < len(lines) and not lines[index].strip():
                break
            continue
        if line.strip():
            rows.append(_split_row(line, columns))
    if len(columns) == 2:
        out = [f"{indent}- {first}: {second}" for first, second in rows]
    else:
        header, body = rows[0], rows[1:]
        out = [indent + "| " + " | ".join(header) + " |"]
        out.append(indent + "|" + "---|" * len(header))
        out += [indent + "| " + " | ".join(row) + " |" for row in body]
    return out, index


def _literal_block(lines: list[str], start: int, base: int) -> tuple[list[str], int]:
    """Fence the indented block that follows a ``::`` line; return (md, next index)."""
    index = start
    block: list[str] = []
    while index < len(lines) and (not lines[index].strip() or _indent_of(lines[index]) > base):
        block.append(lines[index])
        index += 1
    while block and not block[-1].strip():
        block.pop()
        index -= 1
    code = textwrap.dedent("\n".join(block)).strip("\n")
    pad = " " * base
    fenced = [pad + "```python", *(pad + line if line else "" for line in code.split("\n"))]
    return [*fenced, pad + "```"], index


def rst_to_markdown(text: str) -> str:
    """Turn the reStructuredText forms used in the package's docstrings into Markdown."""
    lines = text.split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        directive = _DIRECTIVE_RE.match(line)
        if directive:
            indent, name, version = directive.groups()
            out.append(f"{indent}*{_DIRECTIVE_WORDS[name]} {version}.*")
            index += 1
            continue
        if _TABLE_RULE_RE.match(line):
            table, index = _table(lines, index)
            out += table
            continue
        stripped = line.rstrip()
        if stripped.endswith("::") and not stripped.endswith(":::"):
            base = _indent_of(line)
            head = stripped[:-2].rstrip()
            if head.strip():
                out.append(head + ":")
            index += 1
            if index < len(lines) and not lines[index].strip():
                out.append("")
                index += 1
                block, index = _literal_block(lines, index, base)
                out += block
            continue
        out.append(line)
        index += 1
    return _ROLE_RE.sub(_role, "\n".join(out))


class RstDocstrings(griffe.Extension):
    """Rewrite each docstring's reStructuredText forms as Markdown when it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
