"""Decoding the JSON columns of answers, in either form a server sends them."""

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


def test_content_of_an_encoded_turn_is_decoded_only_when_json_of_an_object_or_array() -> None:
    """From a server sending JSON text, object or array text is JSON; other text stays."""
    legacy = {"toolCalls": "[]", "metadata": "{}"}

    def content(value: str) -> object:
        return decode_record({**legacy, "content": value})["content"]

    assert content('[{"type": "text"}]') == [{"type": "text"}]
    assert content("hello") == "hello"
    assert content("[draft] hi") == "[draft] hi"
    assert content("42") == "42"


def test_content_of_a_decoded_turn_is_kept_as_sent() -> None:
    """From a server sending values, a string content is text, even text that parses."""
    turn = {"toolCalls": [], "metadata": {}, "content": "[1, 2]"}
    assert decode_record(turn)["content"] == "[1, 2]"
    assert decode_record({**turn, "content": '{"a": 1}'})["content"] == '{"a": 1}'
    assert decode_record({**turn, "content": [1, 2]})["content"] == [1, 2]


def test_user_data_inside_a_decoded_column_is_never_decoded() -> None:
    """The issue's examples: metadata {"input": "42"} keeps "42", a value "[1]" stays text."""
    session = {
        "metadata": {"input": "42", "tags": "[1]", "deep": {"metadata": '{"x": 1}'}},
        "tags": ["[1]"],
        "turns": [
            {"content": "hi", "toolCalls": [{"input": "42"}], "metadata": {"content": "[1]"}}
        ],
    }
    assert decode_record(session) == session


def test_scalar_eval_payloads_sent_as_json_text_are_decoded_once() -> None:
    """An eval output the server sends as JSON text (a scalar) is decoded exactly once."""
    result = {"metadata": {}, "actualOutput": '"[1]"', "case": {"expectedOutput": '"42"'}}
    assert decode_record({"results": [result]}) == {
        "results": [{"metadata": {}, "actualOutput": "[1]", "case": {"expectedOutput": "42"}}]
    }


def test_unknown_keys_are_left_as_sent() -> None:
    """Only records the contract nests are looked into; anything else is left alone."""
    answer = {"parameters": {"metadata": "{}"}, "created": 2}
    assert decode_record(answer) == answer


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
