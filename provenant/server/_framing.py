"""
Where a request's body ends, decided strictly: a request whose framing is in doubt is
refused (and its connection closed), so no byte of its body is ever read as a request.

One ``Content-Length`` of ASCII digits, or none; no ``Transfer-Encoding`` (a lone
``chunked`` is refused with 411: the server reads only sized bodies). Anything else
(two lengths, ``+15``, ``1_5``, ``identity`` then ``chunked``) is a 400.
"""

from __future__ import annotations

import re
from typing import Sequence, Union

__all__ = ["METHOD", "body_length", "header_line_is_malformed"]

#: A method as the server accepts it: upper-case letters only (methods are case-sensitive).
METHOD = re.compile(r"[A-Z]+")
_DIGITS = re.compile(r"[0-9]{1,18}")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def header_line_is_malformed(name: str, line_start: bytes) -> bool:
    """A folded line or a name that is no token (``Content-Length : 5``) is malformed."""
    return line_start[:1] in (b" ", b"\t") or _TOKEN.fullmatch(name) is None


def body_length(
    lengths: Sequence[str], transfer_encodings: Sequence[str]
) -> Union[int, tuple[int, str]]:
    """
    The length of a request's body, or ``(status, message)`` refusing the request.

    Args:
        lengths: Every ``Content-Length`` value received.
        transfer_encodings: Every ``Transfer-Encoding`` value received.
    """
    if transfer_encodings:
        if len(transfer_encodings) == 1 and transfer_encodings[0].strip().lower() == "chunked":
            if lengths:
                return 400, "Both Transfer-Encoding and Content-Length"
            return 411, "Send the body with a Content-Length"
        return 400, "Invalid Transfer-Encoding"
    if not lengths:
        return 0
    if len(lengths) > 1 or _DIGITS.fullmatch(lengths[0].strip()) is None:
        return 400, "Invalid Content-Length"
    return int(lengths[0].strip())
