"""
List answers read from the store while they are written, and their paging.

A handler returns :class:`Rows` (a query and how to turn each row into a record) where
an answer holds a list, alone or as a value of the answer object. The router wraps
such an answer in :class:`StreamedJson`: the HTTP layer sends ``chunks()`` as they are
encoded, so an answer never sits whole in memory, however many rows or megabytes it
has; the embedded backend calls ``materialise()`` for the plain JSON value::

    return 200, Rows(f"SELECT {AGENT_COLUMNS} FROM agents a WHERE a.org_id = ?"
                     " ORDER BY a.updated_at DESC" + PAGE_SQL, (org, *page(q)), agent_record)
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable, ContextManager, Generator, Iterator, Mapping, Optional

from provenant.server._handling import Reply

__all__ = ["MAX_PAGE", "PAGE_SQL", "Rows", "StreamedJson", "page", "streamed"]

#: The largest ``limit`` a client may ask for.
MAX_PAGE = 1000
#: Appended to a query whose last two arguments are ``page(query)``.
PAGE_SQL = " LIMIT ? OFFSET ?"
_PIECE_BYTES = 64 * 1024
_MAX_OFFSET = 2**62


def _paging_issue(name: str, message: str) -> Reply:
    issue = {"code": "custom", "path": [name], "message": message}
    return Reply(422, {"error": "Validation error", "issues": [issue]})


def _integer(query: Mapping[str, str], name: str, low: int, high: int) -> Optional[int]:
    text = query.get(name)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise _paging_issue(name, f"Expected an integer from {low} to {high}")
    return int(text)


def page(query: Mapping[str, str]) -> tuple[int, int]:
    """
    The ``(limit, offset)`` of a list request: everything from offset 0 when not asked.

    Raises:
        Reply: 422 when ``limit`` is not 1..1000 or ``offset`` not a whole number.
    """
    limit = _integer(query, "limit", 1, MAX_PAGE)
    offset = _integer(query, "offset", 0, _MAX_OFFSET)
    return (-1 if limit is None else limit), (offset or 0)


class Rows:
    """
    A list of records, read row by row from a query when the answer is written.

    ``encode`` (optional) writes a row's record as JSON itself, quicker than encoding
    ``make(row)`` (stored JSON text spliced in as it is).
    """

    __slots__ = ("args", "encode", "make", "sql")

    def __init__(
        self,
        sql: str,
        args: tuple[Any, ...],
        make: Callable[[Any], Any],
        encode: Optional[Callable[[Any], bytes]] = None,
    ) -> None:
        self.sql = sql
        self.args = args
        self.make = make
        self.encode = encode

    def rows(self, read: Callable[[], ContextManager[sqlite3.Connection]]) -> Iterator[Any]:
        """The rows, one at a time, on a connection held until the last one."""
        with read() as conn:
            yield from conn.execute(self.sql, self.args)

    def records(self, read: Callable[[], ContextManager[sqlite3.Connection]]) -> Iterator[Any]:
        """The records, one at a time, on a connection held until the last one."""
        for row in self.rows(read):
            yield self.make(row)

    def encoded(self, read: Callable[[], ContextManager[sqlite3.Connection]]) -> Iterator[bytes]:
        """Each record as JSON, one at a time."""
        if self.encode is None:
            for record in self.records(read):
                yield json.dumps(record).encode("utf-8")
            return
        for row in self.rows(read):
            yield self.encode(row)


def streamed(answer: Any) -> bool:
    """Whether an answer holds :class:`Rows` (alone, or as a value of an object)."""
    return isinstance(answer, Rows) or (
        isinstance(answer, dict) and any(isinstance(value, Rows) for value in answer.values())
    )


class StreamedJson:
    """
    An answer whose lists are read while it is encoded.

    Args:
        value: :class:`Rows`, or an object with :class:`Rows` among its values.
        read: Lends a store connection (``Store.read``).
    """

    __slots__ = ("_read", "value")

    def __init__(self, value: Any, read: Callable[[], ContextManager[sqlite3.Connection]]) -> None:
        self.value = value
        self._read = read

    def materialise(self) -> Any:
        """The answer as a plain JSON value (lists built whole)."""
        if isinstance(self.value, Rows):
            return list(self.value.records(self._read))
        return {
            key: list(value.records(self._read)) if isinstance(value, Rows) else value
            for key, value in self.value.items()
        }

    def chunks(self) -> Generator[bytes, None, None]:
        """The answer as JSON, in pieces of about 64 KiB or one record."""
        pending = bytearray()
        for piece in self._pieces():
            if len(piece) >= _PIECE_BYTES:
                if pending:
                    yield bytes(pending)
                    pending.clear()
                yield piece  # a large record goes out as it is, never copied again
                continue
            pending += piece
            if len(pending) >= _PIECE_BYTES:
                yield bytes(pending)
                pending.clear()
        if pending:
            yield bytes(pending)

    def _pieces(self) -> Iterator[bytes]:
        if isinstance(self.value, Rows):
            yield from self._array(self.value)
            return
        yield b"{"
        for index, (key, value) in enumerate(self.value.items()):
            yield (", " if index else "").encode() + json.dumps(key).encode() + b": "
            if isinstance(value, Rows):
                yield from self._array(value)
            else:
                yield json.dumps(value).encode("utf-8")
        yield b"}"

    def _array(self, rows: Rows) -> Iterator[bytes]:
        yield b"["
        first = True
        for record in rows.encoded(self._read):
            if not first:
                yield b", "
            first = False
            yield record
        yield b"]"
