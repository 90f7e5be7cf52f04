"""The spool file: records kept losslessly, paged in order, capped, mapped to server ids."""

from __future__ import annotations

from pathlib import Path

from provenant.backends._records import SessionEnd, SessionStart, TurnRecord
from provenant.backends._spool import Spool, decode_record, encode_record, spool_path


def test_a_record_comes_back_as_it_was_spooled() -> None:
    turn = TurnRecord(
        "k1",
        role="ASSISTANT",
        content=[{"type": "text", "text": "caf\u00e9 \ud800 lone"}, {"n": 1.5, "x": None}],
        tool_calls=[{"id": "t", "input": {"q": "[1]"}}],
        latency_ms=12,
        input_tokens=3,
        output_tokens=4,
        metadata={"input": "42", "nested": {"a": [1, "2"]}},
        session_id=None,
    )
    start = SessionStart(
        "k2", agent="Bot", external_id="e", tags=["a"], metadata={"m": 1}, parent_key="k0"
    )
    end = SessionEnd("k1", status="FAILED", total_tokens=7)
    for record in (turn, start, end):
        kind, body = encode_record(record)
        back = decode_record(kind, body)
        assert type(back) is type(record)
        for name in type(record).__slots__:
            assert getattr(back, name) == getattr(record, name), name


def test_pages_come_oldest_first_and_delivered_rows_leave(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "s.sqlite"))
    try:
        rows = [(f"p/k{i % 3}", "turn", f'{{"key":"k{i}"}}', f"key-{i}") for i in range(10)]
        assert spool.append(rows, "p.") == 10
        first = spool.pending(0, 4)
        assert [row.idem for row in first] == [f"key-{i}" for i in range(4)]
        assert spool.pending(first[-1].seq, 100)[0].idem == "key-4"
        spool.delivered(first[0].seq, created=("p/k0", "server-0"))
        assert spool.pending_count() == 9 and spool.pending_count("p.") == 9
        assert spool.pending_count("q.") == 0
        assert spool.session_id("p/k0") == "server-0"
        assert spool.backlog()["sessions"] == 3
    finally:
        spool.close()


def test_the_cap_stores_the_first_rows_that_fit(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "s.sqlite"))
    try:
        body = '{"key":"k","content":"' + "x" * 10_000 + '"}'
        stored = spool.append([("p/k", "turn", body, f"i{n}") for n in range(100)], "p.", 200_000)
        assert 0 < stored < 100
        assert spool.append([("p/k", "turn", body, "late")], "p.", 200_000) == 0
    finally:
        spool.close()


def test_one_url_and_key_share_a_file_whose_name_hides_the_key(tmp_path: Path) -> None:
    one = spool_path("https://api.example/", "pk_live_secret", str(tmp_path))
    assert one == spool_path("https://api.example", "pk_live_secret", str(tmp_path))
    assert one != spool_path("https://api.example", "pk_live_other", str(tmp_path))
    assert "secret" not in one


def test_a_delivery_and_the_next_records_try_are_one_commit(tmp_path: Path) -> None:
    """The forwarder deletes what was accepted and announces the next record together:
    after it, the first is gone and the second counts as tried (sent again after a crash,
    counted as resent)."""
    spool = Spool(str(tmp_path / "s.sqlite"))
    try:
        spool.append([("p/k", "turn", '{"key":"k"}', f"key-{i}") for i in range(2)], "p.")
        first, second = spool.pending(0, 10)
        spool.mark_try(first.seq)
        spool.delivered(first.seq, then_try=second.seq)
        (left,) = spool.pending(0, 10)
        assert left.idem == "key-1" and left.tries == 1
        assert spool.resent_count() == 1
    finally:
        spool.close()
