"""
Random UUID v4 strings without a system call per id.

``uuid.uuid4()`` reads ``os.urandom`` on every call, a system call that costs about
100 us on sandboxed kernels (gVisor); a session's external id and every event's
``Idempotency-Key`` need one. This module draws them from a private generator seeded
from ``os.urandom`` (and reseeded in a forked child, so parent and child never share
ids), leaving the user's ``random`` state alone::

    new_id()   # "8f14e45f-ceea-4e7a-9c2b-1d3e5f7a9b0c"
"""

from __future__ import annotations

import os
import random

__all__ = ["new_id"]

_rng = random.Random(os.urandom(32))
_getrandbits = _rng.getrandbits

# The version (4) and variant (RFC 4122) bits, as uuid.UUID(int=..., version=4) sets them.
_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_SET = (0x8000 << 48) | (4 << 76)


def _reseed() -> None:
    _rng.seed(os.urandom(32))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    """Return a new random UUID v4 as a string."""
    text = "%032x" % ((_getrandbits(128) & _CLEAR) | _SET)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
