"""
Random UUID v4 strings without a system call per id.

``uuid.uuid4()`` reads ``os.urandom`` on every call, a system call that costs about
100 us on sandboxed kernels (gVisor); a session's external id and every event's
``Idempotency-Key`` need one. This module draws them from a private generator seeded
from ``os.urandom`` (and reseeded in a forked child, so parent and child never share
ids), leaving the user's ``random`` state alone::

    new_id()   # "8f14e45f-ceea-4e7a-9c2b-1d3e5f7a9b0c"
    new_key()  # "8f14e45f-ceea-4e7a-9c2b-000000000001": a random prefix and a counter
    is_uuid("Support Bot")  # False: an agent's name, not its id

``new_key()`` is for ``Idempotency-Key`` headers, one per event: it only has to be unique,
so it costs a counter step rather than 128 random bits (the prefix is drawn again in a
forked child).
"""

from __future__ import annotations

import itertools
import os
import random

from provenant._wire import is_uuid

__all__ = ["is_uuid", "new_id", "new_key"]


_rng = random.Random(os.urandom(32))
_getrandbits = _rng.getrandbits

# The version (4) and variant (RFC 4122) bits, as uuid.UUID(int=..., version=4) sets them.
_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_SET = (0x8000 << 48) | (4 << 76)


def _reseed() -> None:
    global _key_prefix, _key_counter
    _rng.seed(os.urandom(32))
    _key_prefix = new_id()[:24]
    _key_counter = itertools.count(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    """Return a new random UUID v4 as a string."""
    text = "%032x" % ((_getrandbits(128) & _CLEAR) | _SET)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_key_prefix = new_id()[:24]
_key_counter = itertools.count(1)


def new_key() -> str:
    """Return a new unique key in the UUID v4 format (a per-process prefix and a counter)."""
    return f"{_key_prefix}{next(_key_counter):012x}"
