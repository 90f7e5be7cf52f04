"""Decoding of the JSON-string columns of answers."""

from __future__ import annotations

import json

from provenant._wire import decode_record


def test_json_string_columns_are_decoded() -> None:
    """metadata, tags, toolCalls and eval payloads come back as values."""
    record = {
        "metadata": '{"a": 1}',
        "tags": '["x"]',
        "toolCalls": '[{"id": "t1", "name": "f", "input": {}}]',
        "input": '{"q": 1}',
        "expectedOutput": '"yes"',
        "actualOutput": "null",
        "name": '{"not": "decoded"}',
    }
    assert decode_record(record) == {
        "metadata": {"a": 1},
        "tags": ["x"],
        "toolCalls": [{"id": "t1", "name": "f", "input": {}}],
        "input": {"q": 1},
        "expectedOutput": "yes",
        "actualOutput": None,
        "name": '{"not": "decoded"}',
    }


def test_content_is_decoded_only_when_it_is_json_of_an_object_or_array() -> None:
    """Turn content that is an encoded object is decoded; plain text stays text."""
    assert decode_record({"content": '[{"type": "text"}]'}) == {"content": [{"type": "text"}]}
    assert decode_record({"content": "hello"}) == {"content": "hello"}
    assert decode_record({"content": "[draft] hi"}) == {"content": "[draft] hi"}
    assert decode_record({"content": "42"}) == {"content": "42"}


def test_nested_records_are_decoded() -> None:
    """A session's turns, its agent and a run's results with their case are decoded too."""
    session = {
        "metadata": "{}",
        "agent": {"tags": '["a"]'},
        "turns": [{"toolCalls": "[]", "metadata": '{"k": "v"}'}],
        "results": [{"actualOutput": '{"o": 1}', "case": {"input": '{"i": 2}'}}],
    }
    assert decode_record(session) == {
        "metadata": {},
        "agent": {"tags": ["a"]},
        "turns": [{"toolCalls": [], "metadata": {"k": "v"}}],
        "results": [{"actualOutput": {"o": 1}, "case": {"input": {"i": 2}}}],
    }


def test_decoded_values_are_not_decoded_twice() -> None:
    """A string inside decoded metadata that looks like JSON stays a string."""
    inner = {"tags": '["kept as text"]'}
    assert decode_record({"metadata": json.dumps(inner)}) == {"metadata": inner}


def test_undecodable_strings_are_kept_and_the_input_is_untouched() -> None:
    """A malformed JSON column stays a string and the input dict is not modified."""
    record = {"metadata": "{broken", "tags": "[]"}
    assert decode_record(record) == {"metadata": "{broken", "tags": []}
    assert record == {"metadata": "{broken", "tags": "[]"}


def test_lists_and_scalars_pass_through() -> None:
    """Lists are decoded item by item and scalars come back unchanged."""
    assert decode_record([{"tags": "[]"}, 3]) == [{"tags": []}, 3]
    assert decode_record(None) is None
    assert decode_record("x") == "x"
