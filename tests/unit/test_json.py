"""The compact JSON encoding shared by request bodies, records and the local server."""

from __future__ import annotations

import json
import threading

import pytest

from provenant._json import compact_json, request_body


def test_the_encoding_has_no_spaces_and_keeps_text_as_written() -> None:
    value = {"role": "USER", "content": "Grüße, 世界", "metadata": {"tags": [1, 2.5, None]}}
    text = compact_json(value)
    assert text == '{"role":"USER","content":"Grüße, 世界","metadata":{"tags":[1,2.5,null]}}'
    assert json.loads(text) == value


def test_a_cycle_and_an_unknown_object_fail_as_json_dumps_fails() -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular"):
        compact_json(cycle)
    with pytest.raises(TypeError):
        compact_json({"when": object()})


def test_threads_encoding_at_once_each_get_their_own_value() -> None:
    results: dict[int, str] = {}

    def encode(index: int) -> None:
        for _ in range(200):
            results[index] = compact_json({"n": index, "items": list(range(index))})

    threads = [threading.Thread(target=encode, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, text in results.items():
        assert json.loads(text) == {"n": index, "items": list(range(index))}


def test_a_request_body_is_the_same_encoding_in_utf8() -> None:
    value = {"name": "Grüße", "score": 0.5, "tags": ["a"]}
    assert request_body(value, "POST /api/x") == compact_json(value).encode("utf-8")


@pytest.mark.parametrize(
    "body",
    [{"score": float("nan")}, {"score": float("-inf")}, {"input": b"raw"}, {"n": 10**5000}],
    ids=["nan", "infinity", "bytes", "long-int"],
)
def test_a_request_body_json_cannot_hold_is_a_type_error_naming_the_request(body: object) -> None:
    with pytest.raises(TypeError, match=r"^POST /api/evals/runs/r1/results: the body is not JSON"):
        request_body(body, "POST /api/evals/runs/r1/results")
