"""A session's costUsd and costPartial, as every session answer of the local server gives them."""

from __future__ import annotations

from typing import Any

import pytest
from server_http import Api

from provenant.server import LocalServer
from provenant.server._cost import _sums_in_python, _sums_in_sql


def record(api: Api, *metadata: Any) -> str:
    session_id = str(api.session()["id"])
    for meta in metadata:
        api.ok(
            "POST",
            f"/api/sessions/{session_id}/turns",
            {"role": "ASSISTANT", "content": "x", "metadata": meta},
        )
    return session_id


def test_every_session_answer_carries_the_cost(api: Api) -> None:
    """Create, list, get, end and update all answer costUsd and costPartial: null and
    false before any priced turn, then the sum and the flag."""
    created = api.session()
    assert (created["costUsd"], created["costPartial"]) == (None, False)
    sid = created["id"]
    for meta in (
        {"costUsd": 0.5},
        {"costUsd": 0.25, "priceUnknown": False},
        {"priceUnknown": True},
    ):
        api.ok(
            "POST",
            f"/api/sessions/{sid}/turns",
            {"role": "ASSISTANT", "content": "x", "metadata": meta},
        )
    answers = [
        api.ok("GET", f"/api/sessions/{sid}"),
        next(s for s in api.ok("GET", "/api/sessions") if s["id"] == sid),
        api.ok("PATCH", f"/api/sessions/{sid}", {"userId": "u1"}),
        api.ok("POST", f"/api/sessions/{sid}/end", {}),
    ]
    assert all((a["costUsd"], a["costPartial"]) == (0.75, True) for a in answers)


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ([], (None, False)),
        ([{"model": "m"}], (None, False)),
        ([{"costUsd": 1}, {"costUsd": 0.5}], (1.5, False)),
        ([{"costUsd": "2"}, {"costUsd": True}, {"costUsd": None}, {"costUsd": [1]}], (None, False)),
        ([{"priceUnknown": "yes"}, {"note": "costUsd priceUnknown"}], (None, False)),
        ([{"priceUnknown": True}], (None, True)),
        ([{"costUsd": 0}, {"nested": {"costUsd": 5}}], (0, False)),
    ],
)
def test_sql_and_python_sums_agree(
    api: Api, provenant_server: LocalServer, metadata: list[Any], expected: tuple[Any, bool]
) -> None:
    """Only a top-level numeric costUsd counts and only priceUnknown: true flags; the
    fallback for an SQLite without JSON functions gives the same answer."""
    sid = record(api, *metadata)
    answer = api.ok("GET", f"/api/sessions/{sid}")
    assert (answer["costUsd"], answer["costPartial"]) == expected
    with provenant_server.store.read() as conn:
        in_sql = _sums_in_sql(conn, [sid]).get(sid, (None, False))
        in_python = _sums_in_python(conn, [sid]).get(sid, (None, False))
    assert in_sql == in_python == expected
