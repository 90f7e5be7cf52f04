"""Client-side ids: valid random UUIDs, never shared between a parent and a forked child."""

from __future__ import annotations

import os
import uuid

import pytest

from provenant.tracing._ids import new_id


def test_ids_are_distinct_uuid4_strings() -> None:
    """Every id parses as a version 4 RFC 4122 UUID, and 10,000 of them are distinct."""
    ids = [new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert str(parsed) == ids[0] and parsed.version == 4 and parsed.variant == uuid.RFC_4122


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is not available")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    """After fork the child's generator is reseeded, so its next id differs from the parent's."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write_end, new_id().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert child_id and child_id != new_id()
