"""Reading raw HTTP/1.1 messages off a socket, for the tests' fault-injecting proxies."""

from __future__ import annotations

import socket
from typing import Optional


def read_message(sock: socket.socket, buffer: bytearray) -> Optional[bytes]:
    """Read one HTTP message (headers and a Content-Length body); None at end of stream."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer.extend(chunk)
    head_end = buffer.index(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(buffer[:head_end]).split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(buffer) < head_end + length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer.extend(chunk)
    message = bytes(buffer[: head_end + length])
    del buffer[: head_end + length]
    return message
