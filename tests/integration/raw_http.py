"""Reading raw HTTP/1.1 messages off a socket, for the tests' fault-injecting proxies."""

from __future__ import annotations

import socket
from typing import Optional, Tuple


def _fill(sock: socket.socket, buffer: bytearray, size: int) -> bool:
    """Read until ``buffer`` holds ``size`` bytes; False at end of stream."""
    while len(buffer) < size:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        buffer.extend(chunk)
    return True


def _line_end(sock: socket.socket, buffer: bytearray, start: int) -> Optional[int]:
    """The index just past the CRLF of the line at ``start``; None at end of stream."""
    while b"\r\n" not in buffer[start:]:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer.extend(chunk)
    return buffer.index(b"\r\n", start) + 2


def read_message(sock: socket.socket, buffer: bytearray) -> Optional[bytes]:
    """Read one HTTP message (headers and a Content-Length or chunked body), as sent;
    None at end of stream."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer.extend(chunk)
    head_end = buffer.index(b"\r\n\r\n") + 4
    length = 0
    chunked = False
    for line in bytes(buffer[:head_end]).split(b"\r\n"):
        lowered = line.lower()
        if lowered.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
        elif lowered.startswith(b"transfer-encoding:") and b"chunked" in lowered:
            chunked = True
    end = head_end + length
    if chunked:  # size lines and chunks up to the last (empty) chunk and its blank line
        end = head_end
        while True:
            size_end = _line_end(sock, buffer, end)
            if size_end is None:
                return None
            size = int(bytes(buffer[end : size_end - 2]).split(b";")[0], 16)
            end = size_end + size + 2
            if size == 0:
                break
        while True:  # trailer lines, if any, then the blank line
            line_end = _line_end(sock, buffer, end - 2)
            if line_end is None:
                return None
            if line_end == end:
                break
            end = line_end + 2
    if not _fill(sock, buffer, end):
        return None
    message = bytes(buffer[:end])
    del buffer[:end]
    return message


def request_line_and_key(request: bytes) -> Tuple[str, Optional[str]]:
    """A raw request's first line, and its ``Idempotency-Key`` header when it has one."""
    lines = request.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    key = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "idempotency-key":
            key = value.strip()
    return lines[0], key
