"""
Type checks of what a caller passes to open sessions, so that misuse fails at the call.

A session's fields reach the platform much later, on the worker; a wrong type found
there would cost the whole session, far from the line that caused it. These checks run
where the fields are given (``session()``, ``start_session()``, ``instrument()``,
``@trace``, and the REST methods such as ``create_session()`` and ``add_turn()``, where a
string given as ``tags`` would otherwise be stored as a list of its letters) and raise a
:class:`TypeError` that names the argument::

    check_session_arguments("session()", {"user_id": 42})
    # TypeError: session(): user_id must be a str or None, not int
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Mapping

__all__ = ["check_session_arguments", "check_text"]


def check_text(caller: str, name: str, value: Any) -> None:
    """Raise a :class:`TypeError` unless ``value`` is a ``str`` or ``None``."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{caller}: {name} must be a str or None, not {type(value).__name__}")


def check_session_arguments(caller: str, fields: Mapping[str, Any]) -> None:
    """
    Check the fields of a session as a caller gave them.

    Args:
        caller: What the caller called, for the message (``"session()"``).
        fields: Any of ``agent_id``, ``session_id``, ``user_id``, ``external_id``,
            ``agent_version_id``, ``environment_id`` (each a ``str`` or ``None``),
            ``metadata`` (a mapping or ``None``), ``tags`` (strings, not one string) and
            ``tool_calls`` (mappings, not one mapping or a string); any other name is
            checked as text (a ``str`` or ``None``).

    Raises:
        TypeError: The first field of the wrong type, by name.
    """
    for name, value in fields.items():
        if value is None:
            continue  # the common case, on every session block: one test
        if name == "metadata":
            if not isinstance(value, Mapping):
                raise TypeError(
                    f"{caller}: metadata must be a mapping (a dict) or None, "
                    f"not {type(value).__name__}"
                )
        elif name == "tags":
            _check_tags(caller, value)
        elif name == "tool_calls":
            _check_tool_calls(caller, value)
        elif type(value) is not str:
            check_text(caller, name, value)


def _check_tags(caller: str, tags: Any) -> None:
    if isinstance(tags, (str, bytes)) or not isinstance(tags, Iterable):
        raise TypeError(f"{caller}: tags must be a list of str or None, not {type(tags).__name__}")
    for tag in tags:
        if not isinstance(tag, str):
            raise TypeError(f"{caller}: every tag must be a str, not {type(tag).__name__}")


def _check_tool_calls(caller: str, calls: Any) -> None:
    if isinstance(calls, (str, bytes, Mapping)) or not isinstance(calls, Iterable):
        raise TypeError(
            f"{caller}: tool_calls must be a list of mappings (id, name, arguments) or None, "
            f"not {type(calls).__name__}"
        )
    for call in calls:
        if not isinstance(call, Mapping):
            raise TypeError(
                f"{caller}: every tool call must be a mapping (id, name, arguments), "
                f"not {type(call).__name__}"
            )
