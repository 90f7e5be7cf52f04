"""
The mapping of Provenant spans to the OpenTelemetry GenAI semantic conventions.

Pure functions over the fields of a :class:`provenant.tracing.Span`; nothing here
imports OpenTelemetry, so the mapping is tested without it::

    name = span_name(span)                       # "chat claude-sonnet-4", "execute_tool search"
    attrs = start_attributes(span)               # what a sampler sees
    attrs = end_attributes(span, capture_content=True)

Attribute names follow the GenAI conventions (``gen_ai.*``); the values are
OpenTelemetry-valid (str, bool, int, float, or homogeneous sequences of them) and
``None`` never appears.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

__all__ = [
    "AttributeValue",
    "end_attributes",
    "error_type",
    "input_messages",
    "output_messages",
    "span_name",
    "start_attributes",
]

AttributeValue = Union[str, bool, int, float, Sequence[str], Sequence[int], Sequence[float]]

# Attribute keys, as the GenAI semantic conventions spell them.
OPERATION_NAME = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"  # the older name of the provider, still read by many backends
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_STREAM = "gen_ai.request.stream"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
CONVERSATION_ID = "gen_ai.conversation.id"
AGENT_NAME = "gen_ai.agent.name"
TOOL_NAME = "gen_ai.tool.name"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT = "gen_ai.tool.call.result"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
ERROR_TYPE = "error.type"
CODE_FUNCTION = "code.function.name"
PROVENANT_KIND = "provenant.span.kind"
PROVENANT_STATUS = "provenant.span.status"

# Provider finish reasons, in the vocabulary of the conventions' output messages.
_FINISH_REASONS: Mapping[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "stop": "stop",
    "max_tokens": "length",
    "length": "length",
    "tool_use": "tool_call",
    "tool_calls": "tool_call",
    "function_call": "tool_call",
    "content_filter": "content_filter",
    "refusal": "content_filter",
}


def span_name(span: Any) -> str:
    """
    Name a span as the conventions do: ``{operation} {target}``.

    Args:
        span: A Provenant span.

    Returns:
        ``invoke_agent <agent>`` for a session, ``chat <model>`` for an LLM call,
        ``execute_tool <tool>`` for a tool, the function's own name for a traced step.
    """
    kind = span.kind
    attributes = span.attributes
    if kind == "llm":
        operation = str(attributes.get("operation") or "chat")
        model = attributes.get("request_model")
        return f"{operation} {model}" if model else operation
    if kind == "tool":
        tool = attributes.get("tool_name") or span.name
        return f"execute_tool {tool}"
    if kind == "session":
        name = str(span.name)
        if name.startswith("invoke_agent"):
            return name
        agent = attributes.get("agent")
        return f"invoke_agent {agent}" if agent else "invoke_agent"
    # A traced function (kind "agent" by default, or "step") keeps its own name: only the
    # session is the agent's invocation, so GenAI views do not list functions as agents.
    return str(span.name)


def start_attributes(span: Any) -> Dict[str, AttributeValue]:
    """
    Return the attributes an OpenTelemetry span starts with, so that a sampler sees them.

    Args:
        span: A Provenant span, just started.

    Returns:
        The ``gen_ai.*`` attributes known at the start, without ``None`` values.
    """
    kind = span.kind
    attributes: Mapping[str, Any] = span.attributes
    out: Dict[str, AttributeValue] = {PROVENANT_KIND: str(kind)}
    conversation = _conversation_id(span)
    if conversation is not None:
        out[CONVERSATION_ID] = conversation
    if kind == "session":
        out[OPERATION_NAME] = "invoke_agent"
        _put(out, AGENT_NAME, attributes.get("agent"))
    elif kind in ("agent", "step"):
        _put(out, CODE_FUNCTION, attributes.get("function"))
    elif kind == "tool":
        out[OPERATION_NAME] = "execute_tool"
        out[TOOL_NAME] = str(attributes.get("tool_name") or span.name)
        out[TOOL_TYPE] = "function"
        _put(out, TOOL_CALL_ID, attributes.get("tool_call_id"))
        _put(out, CODE_FUNCTION, attributes.get("function"))
    elif kind == "llm":
        out[OPERATION_NAME] = str(attributes.get("operation") or "chat")
        provider = attributes.get("provider")
        if provider:
            out[PROVIDER_NAME] = str(provider)
            out[SYSTEM] = str(provider)
        _put(out, REQUEST_MODEL, attributes.get("request_model"))
        stream = attributes.get("stream")
        if isinstance(stream, bool):
            out[REQUEST_STREAM] = stream
    return out


def end_attributes(
    span: Any,
    *,
    capture_content: bool,
    prepare: Optional[Callable[[Any], Any]] = None,
) -> Dict[str, AttributeValue]:
    """
    Return the attributes an OpenTelemetry span gets when its Provenant span ends.

    Message content (LLM messages, tool arguments and results) is included only when
    ``capture_content`` is true: the conventions make it opt-in.

    Args:
        span: A Provenant span, just ended.
        capture_content: Whether content may be recorded.
        prepare: Applied to each content before it goes on the span (the client's
            ``mask`` and ``max_content_bytes``), as for the content of turns.

    Returns:
        The attributes to set, without ``None`` values.
    """
    kind = span.kind
    attributes: Mapping[str, Any] = span.attributes
    out: Dict[str, AttributeValue] = {}
    if kind == "llm":
        out.update(start_attributes(span))
        _put(out, RESPONSE_MODEL, attributes.get("response_model"))
        _put(out, RESPONSE_ID, attributes.get("response_id"))
        reasons = attributes.get("finish_reasons")
        if isinstance(reasons, (list, tuple)) and reasons:
            out[RESPONSE_FINISH_REASONS] = [str(reason) for reason in reasons]
        _put_int(out, USAGE_INPUT_TOKENS, attributes.get("input_tokens"))
        _put_int(out, USAGE_OUTPUT_TOKENS, attributes.get("output_tokens"))
        _put_int(out, USAGE_CACHE_READ_TOKENS, attributes.get("cache_read_tokens"))
        _put_int(out, USAGE_CACHE_CREATION_TOKENS, attributes.get("cache_creation_tokens"))
        ttft_ms = attributes.get("time_to_first_token_ms")
        if isinstance(ttft_ms, (int, float)) and not isinstance(ttft_ms, bool):
            out[RESPONSE_TIME_TO_FIRST_CHUNK] = float(ttft_ms) / 1000.0
        if capture_content:
            prepare = prepare or _same
            system, messages = input_messages(
                _prepared_messages(attributes.get("input_messages"), prepare)
            )
            if system:
                out[SYSTEM_INSTRUCTIONS] = _dumps(system)
            if messages:
                out[INPUT_MESSAGES] = _dumps(messages)
            outputs = output_messages(
                _prepared_messages(attributes.get("output_messages"), prepare),
                _prepared_calls(attributes.get("tool_calls"), prepare),
                reasons,
            )
            if outputs:
                out[OUTPUT_MESSAGES] = _dumps(outputs)
    elif kind == "tool":
        _put(out, TOOL_CALL_ID, attributes.get("tool_call_id"))
        if capture_content:
            # The arguments were masked and cut by the tracing core when captured.
            arguments = attributes.get("tool_arguments", span.input)
            if arguments is not None:
                out[TOOL_CALL_ARGUMENTS] = _dumps(arguments)
            result = attributes.get("tool_result", span.output)
            if result is not None:
                out[TOOL_CALL_RESULT] = _dumps((prepare or _same)(result))
    status = getattr(span, "status", None)
    if status and status != "ok":
        out[PROVENANT_STATUS] = str(status)
    error = getattr(span, "error", None)
    if error is not None and status != "cancelled":
        out[ERROR_TYPE] = error_type(error)
    return out


def error_type(error: BaseException) -> str:
    """Return the ``error.type`` of an exception: its fully qualified class name."""
    cls = type(error)
    module = cls.__module__
    if module in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def input_messages(messages: Any) -> tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """
    Convert normalised ``{role, content}`` messages to the conventions' input messages.

    Args:
        messages: The ``input_messages`` attribute of an LLM span.

    Returns:
        ``(system_instructions, messages)``: the parts of the system messages, and the
        other messages as ``{"role", "parts"}`` objects.
    """
    system: List[Dict[str, Any]] = []
    out: List[Dict[str, Any]] = []
    if not isinstance(messages, (list, tuple)):
        return system, out
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        role = str(message.get("role") or "user")
        parts = _parts(message.get("content"))
        if role in ("system", "developer"):
            system.extend(parts)
        else:
            out.append({"role": role, "parts": parts})
    return system, out


def output_messages(messages: Any, tool_calls: Any, finish_reasons: Any) -> List[Dict[str, Any]]:
    """
    Convert the reply of an LLM call to the conventions' output messages.

    Args:
        messages: The ``output_messages`` attribute (normalised ``{role, content}``).
        tool_calls: The ``tool_calls`` attribute (``{id, name, arguments}`` objects).
        finish_reasons: The provider's finish reasons.

    Returns:
        ``{"role", "parts", "finish_reason"}`` objects; tool calls become ``tool_call``
        parts of the (last) assistant message.
    """
    out: List[Dict[str, Any]] = []
    if isinstance(messages, (list, tuple)):
        for message in messages:
            if isinstance(message, Mapping):
                role = str(message.get("role") or "assistant")
                out.append({"role": role, "parts": _parts(message.get("content"))})
    calls = [_tool_call_part(call) for call in tool_calls or () if isinstance(call, Mapping)]
    if calls:
        if not out:
            out.append({"role": "assistant", "parts": []})
        known = {part.get("id") for part in out[-1]["parts"] if part.get("type") == "tool_call"}
        out[-1]["parts"].extend(call for call in calls if call.get("id") not in known)
    reason = _finish_reason(finish_reasons)
    for message in out:
        message["finish_reason"] = reason
    return out


def _same(value: Any) -> Any:
    return value


def _prepared_messages(messages: Any, prepare: Callable[[Any], Any]) -> Any:
    if not isinstance(messages, (list, tuple)):
        return messages
    return [
        dict(message, content=prepare(message.get("content")))
        if isinstance(message, Mapping) and message.get("content") is not None
        else message
        for message in messages
    ]


def _prepared_calls(calls: Any, prepare: Callable[[Any], Any]) -> Any:
    if not isinstance(calls, (list, tuple)):
        return calls
    return [
        dict(call, arguments=prepare(call.get("arguments")))
        if isinstance(call, Mapping) and call.get("arguments") is not None
        else call
        for call in calls
    ]


def _finish_reason(finish_reasons: Any) -> str:
    if isinstance(finish_reasons, (list, tuple)) and finish_reasons:
        raw = str(finish_reasons[0])
        return _FINISH_REASONS.get(raw, raw)
    return "stop"


def _parts(content: Any) -> List[Dict[str, Any]]:
    """Convert message content (a string or provider blocks) to convention parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, Mapping):
        return [_part(content)]
    if isinstance(content, (list, tuple)):
        return [_part(item) if isinstance(item, Mapping) else _text(item) for item in content]
    return [_text(content)]


def _part(block: Mapping[str, Any]) -> Dict[str, Any]:
    kind = block.get("type")
    if kind in ("text", "input_text", "output_text") or (kind is None and "text" in block):
        return {"type": "text", "content": str(block.get("text", block.get("content", "")))}
    if kind in ("tool_use", "tool_call", "function_call", "function"):
        return _tool_call_part(block)
    if kind in ("tool_result", "tool_call_response", "function_call_output"):
        return {
            "type": "tool_call_response",
            "id": block.get("tool_use_id", block.get("call_id", block.get("id"))),
            "response": block.get("content", block.get("output", block.get("response"))),
        }
    if kind in ("thinking", "reasoning"):
        return {"type": "reasoning", "content": str(block.get("thinking", block.get("text", "")))}
    return {"type": str(kind or "unknown"), **{k: v for k, v in block.items() if k != "type"}}


def _tool_call_part(call: Mapping[str, Any]) -> Dict[str, Any]:
    function = call.get("function")
    if isinstance(function, Mapping):  # OpenAI chat completions: {"function": {name, arguments}}
        name = function.get("name")
        arguments = function.get("arguments")
    else:
        name = call.get("name")
        arguments = call.get("arguments", call.get("input"))
    if isinstance(arguments, str):
        with contextlib.suppress(ValueError):
            arguments = json.loads(arguments)
    return {
        "type": "tool_call",
        "id": call.get("id", call.get("call_id")),
        "name": name,
        "arguments": arguments,
    }


def _text(value: Any) -> Dict[str, Any]:
    return {"type": "text", "content": value if isinstance(value, str) else repr(value)}


def _conversation_id(span: Any) -> Optional[str]:
    value = span.attributes.get("conversation_id")
    if value is None:
        session = getattr(span, "session", None)
        value = getattr(session, "external_id", None)
    return str(value) if value else None


def _put(out: Dict[str, AttributeValue], key: str, value: Any) -> None:
    if value is None or value == "":
        return
    out[key] = value if isinstance(value, (str, bool, int, float)) else str(value)


def _put_int(out: Dict[str, AttributeValue], key: str, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        out[key] = value


def _dumps(value: Any) -> str:
    return json.dumps(value, default=repr, ensure_ascii=False, separators=(",", ":"))
