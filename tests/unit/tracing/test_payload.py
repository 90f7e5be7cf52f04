"""Payload safety: anything a user passes becomes JSON the wire accepts."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

from provenant.tracing._payload import MASK_FAILED, prepare_content, to_jsonable


@dataclasses.dataclass
class _Point:
    x: int
    when: datetime.date


class _Model:
    def model_dump(self) -> dict[str, Any]:
        return {"name": "m", "tags": {"b", "a"}}


class _Opaque:
    def __repr__(self) -> str:
        return "<Opaque thing>"


def test_non_json_values_become_readable() -> None:
    """Dataclasses, pydantic-like models, dates, sets, bytes and objects become JSON."""
    value = {
        "point": _Point(1, datetime.date(2026, 1, 2)),
        "model": _Model(),
        "bytes": b"abcd",
        "opaque": _Opaque(),
        "nan": float("nan"),
        3: "int key",
    }
    converted, truncated = to_jsonable(value, 256 * 1024)
    assert not truncated
    assert converted == {
        "point": {"x": 1, "when": "2026-01-02"},
        "model": {"name": "m", "tags": ["a", "b"]},
        "bytes": "<bytes: 4>",
        "opaque": "<Opaque thing>",
        "nan": "nan",
        "3": "int key",
    }
    json.dumps(converted)


def test_cycles_are_cut() -> None:
    """A self-referencing structure is recorded with the cycle replaced by a marker."""
    loop: dict[str, Any] = {"a": 1}
    loop["self"] = loop
    items: list[Any] = [1]
    items.append(items)
    assert to_jsonable(loop, 4096) == ({"a": 1, "self": "<cycle>"}, False)
    assert to_jsonable(items, 4096) == ([1, "<cycle>"], False)


def test_shared_references_are_not_cycles() -> None:
    """The same object twice side by side is recorded twice, not as a cycle."""
    shared = {"k": "v"}
    assert to_jsonable([shared, shared], 4096) == ([{"k": "v"}, {"k": "v"}], False)


def test_oversized_content_is_truncated_and_flagged() -> None:
    """A content over max_bytes is cut to about that size and reported truncated."""
    text, truncated = to_jsonable("x" * 5000, 1024)
    assert truncated and len(text.encode()) <= 1024 and text.endswith("[truncated]")
    big, truncated = to_jsonable({"k": "y" * 5000}, 1024)
    assert truncated and isinstance(big, str) and len(big.encode()) <= 1024


def test_an_oversized_container_keeps_its_shape_when_asked() -> None:
    """With keep_shape, an oversized dict or list stays one: its largest values are cut,
    small ones kept whole, and items past the room for their keys summarised."""
    value = {"small": 7, "name": "kept", "big": "z" * 50_000, "items": ["w" * 900] * 40}
    cut, truncated = to_jsonable(value, 8192, keep_shape=True)
    size = len(json.dumps(cut, separators=(",", ":")).encode())
    assert truncated and isinstance(cut, dict) and size <= 8192
    assert cut["small"] == 7 and cut["name"] == "kept"
    assert cut["big"].startswith("zzz") and cut["big"].endswith("[truncated]")
    assert isinstance(cut["items"], list)
    many, truncated = to_jsonable({str(n): "v" * 50 for n in range(5000)}, 2048, keep_shape=True)
    assert truncated and isinstance(many, dict) and many["..."].endswith("more items>")
    assert len(json.dumps(many).encode()) <= 2048 + 64


def test_a_raising_mask_records_a_placeholder() -> None:
    """A mask that raises never reaches the caller and nothing unmasked is kept."""

    def broken(value: Any) -> Any:
        raise RuntimeError("boom")

    assert prepare_content("secret", broken, 4096) == (MASK_FAILED, False)


def test_a_mask_rewrites_content() -> None:
    """The mask's answer is what gets recorded."""
    assert prepare_content("card 4242", lambda v: v.replace("4242", "****"), 4096) == (
        "card ****",
        False,
    )


def test_plain_metadata_is_copied_as_it_is_and_detached_from_the_original() -> None:
    """A flat dict of text, numbers, flags, None and text lists (a turn's usual metadata)
    comes back equal, as a copy the caller's later changes do not reach."""
    span = ["agent", "plan"]
    value: dict[str, Any] = {
        "model": "claude-x",
        "stream": False,
        "tokens": 12,
        "ratio": 0.5,
        "stopReason": None,
        "emoji": "ok \u2705 \x00",
        "span": span,
    }
    copy, truncated = to_jsonable(value, 4096, keep_shape=True)
    assert not truncated and copy == value
    span.append("later")
    value["model"] = "changed"
    assert copy["span"] == ["agent", "plan"] and copy["model"] == "claude-x"


def test_near_the_limit_plain_metadata_is_measured_as_any_other() -> None:
    """Plain values that may not fit, or hold anything else (a nested dict, a number
    in a list, a non-finite float, a str subclass), take the general path: same result."""
    fits = {"note": "\x01" * 200}  # 1,200 bytes as JSON: measured, kept whole
    assert to_jsonable(fits, 1300, keep_shape=True) == (fits, False)
    too_big, truncated = to_jsonable({"note": "n" * 2000}, 1024, keep_shape=True)
    assert truncated and len(json.dumps(too_big).encode()) <= 1024
    assert to_jsonable({"n": [1, "a"]}, 4096) == ({"n": [1, "a"]}, False)
    assert to_jsonable({"inf": float("inf")}, 4096) == ({"inf": "inf"}, False)
    assert to_jsonable({"nested": {"a": b"xy"}}, 4096) == ({"nested": {"a": "<bytes: 2>"}}, False)
    # An integer past 2**53 - 1: the general path records its text.
    assert to_jsonable({"n": 2**53}, 4096, keep_shape=True) == ({"n": "9007199254740992"}, False)


def test_integers_past_what_json_readers_hold_are_recorded_as_their_text() -> None:
    """Past 2**53 - 1 a JavaScript reader rounds a number: its exact text is kept instead;
    one with more digits than Python writes out is summarised, never raising."""
    value = {"id": 2**64, "low": -(2**53), "edge": 2**53 - 1, "deep": [[10**5000]]}
    assert to_jsonable(value, 4096) == (
        {
            "id": "18446744073709551616",
            "low": "-9007199254740992",
            "edge": 2**53 - 1,
            "deep": [["<int of 16610 bits>"]],
        },
        False,
    )
    assert to_jsonable(10**20, 4096) == ("100000000000000000000", False)
    assert to_jsonable(True, 4096) == (True, False)
