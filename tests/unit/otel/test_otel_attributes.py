"""The mapping of message content, tool calls and errors to the GenAI conventions."""

from __future__ import annotations

import json

from provenant.otel._attributes import error_type, input_messages, output_messages


def test_system_messages_become_system_instructions() -> None:
    """System messages go to the system instructions, the others become role-and-parts messages."""
    system, messages = input_messages(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
        ]
    )
    assert system == [{"type": "text", "content": "Be brief."}]
    assert messages == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]},
    ]


def test_tool_use_and_tool_result_blocks_become_tool_parts() -> None:
    """Anthropic tool_use and tool_result blocks become tool_call and tool_call_response parts."""
    _, messages = input_messages(
        [
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "add", "input": {"a": 1}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "2"}],
            },
        ]
    )
    assert messages[0]["parts"] == [
        {"type": "tool_call", "id": "t1", "name": "add", "arguments": {"a": 1}}
    ]
    assert messages[1]["parts"] == [{"type": "tool_call_response", "id": "t1", "response": "2"}]


def test_output_messages_carry_tool_calls_and_a_normalised_finish_reason() -> None:
    """The reply's tool calls join the assistant message; provider stop reasons are normalised."""
    out = output_messages(
        [{"role": "assistant", "content": "Let me add."}],
        [{"id": "c1", "name": "add", "arguments": '{"a": 1}'}],
        ["tool_use"],
    )
    assert out == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Let me add."},
                {"type": "tool_call", "id": "c1", "name": "add", "arguments": {"a": 1}},
            ],
            "finish_reason": "tool_call",
        }
    ]
    json.dumps(out)


def test_openai_function_tool_calls_are_read() -> None:
    """OpenAI chat tool calls (a nested function object) give the name and parsed arguments."""
    out = output_messages(
        None,
        [{"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        ["tool_calls"],
    )
    assert out[0]["parts"] == [{"type": "tool_call", "id": "c2", "name": "f", "arguments": {}}]
    assert out[0]["finish_reason"] == "tool_call"


def test_error_type_is_the_qualified_class_name() -> None:
    """error.type names builtin exceptions bare and others with their module."""
    assert error_type(ValueError("x")) == "ValueError"
    assert error_type(json.JSONDecodeError("m", "d", 0)) == "json.decoder.JSONDecodeError"


def test_malformed_content_never_raises() -> None:
    """Content of unexpected shapes is mapped to text or generic parts, never an exception."""
    system, messages = input_messages([{"role": "user", "content": 42}, "junk", {"content": None}])
    assert system == []
    assert messages[0]["parts"] == [{"type": "text", "content": "42"}]
    assert messages[1] == {"role": "user", "parts": []}
    assert input_messages(None) == ([], [])
