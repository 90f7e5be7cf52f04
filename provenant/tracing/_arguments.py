"""
Type checks of what a caller passes to open sessions, so that misuse fails at the call.

A session's fields reach the platform much later, on the worker; a wrong type found
there would cost the whole session, far from the line that caused it. These checks run
where the fields are given (``session()``, ``start_session()``, ``instrument()``,
``@trace``, and the REST methods such as ``create_session()`` and ``add_turn()``, where a
string given as ``tags`` would otherwise be stored as a list of its letters) and raise a
:class:`TypeError` that names the argument::

    check_arguments("create_session()", {"user_id": 42})
    # TypeError: create_session(): user_id must be a str or None, not int

The eight session keyword arguments of ``session()``, ``start_session()``,
``instrument()`` and the framework integrations are checked once, where the caller gave
them, into one :class:`SessionOptions` value that is passed down as it is::

    options = check_session_arguments("session()", "Support Bot", user_id="u1")
    tracer.session(options)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Mapping, NamedTuple, Optional, Sequence

__all__ = [
    "NO_OPTIONS",
    "SessionOptions",
    "check_arguments",
    "check_session_arguments",
    "check_text",
]


class SessionOptions(NamedTuple):
    """
    The options of a session as its caller gave them, checked (see
    :func:`check_session_arguments`), with ``metadata`` and ``tags`` copied.

    Immutable, one value for all the layers between the public keyword arguments and
    the :class:`~provenant.tracing.Session` they make. A ``NamedTuple`` rather than a
    frozen dataclass: a session block builds one, and a frozen dataclass's ``__init__``
    costs about three times as much (one ``object.__setattr__`` a field).
    """

    agent_id: Optional[str] = None
    session_id: Optional[str] = None
    user_id: Optional[str] = None
    external_id: Optional[str] = None
    agent_version_id: Optional[str] = None
    environment_id: Optional[str] = None
    metadata: Optional[Mapping[str, Any]] = None
    tags: Optional[Sequence[str]] = None


#: No options: a session of the client's default agent, with nothing else given.
NO_OPTIONS = SessionOptions()
_new_options = tuple.__new__


def check_text(caller: str, name: str, value: Any) -> None:
    """Raise a :class:`TypeError` unless ``value`` is a ``str`` or ``None``."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{caller}: {name} must be a str or None, not {type(value).__name__}")


def check_session_arguments(
    caller: str,
    agent_id: Optional[str] = None,
    *,
    session_id: Optional[str] = None,
    user_id: Optional[str] = None,
    external_id: Optional[str] = None,
    agent_version_id: Optional[str] = None,
    environment_id: Optional[str] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    tags: Optional[Sequence[str]] = None,
) -> SessionOptions:
    """
    Check a session's keyword arguments as a caller gave them, into one value.

    Args:
        caller: What the caller called, for the message (``"session()"``).
        agent_id: The agent (an id or a name), or ``None``; the others likewise are the
            public keyword arguments of :meth:`provenant.ProvenantClient.session`.

    Returns:
        The options, ``metadata`` copied into a dict and ``tags`` into a tuple (so that
        the caller changing its own objects later changes nothing recorded).

    Raises:
        TypeError: The first argument of the wrong type, by name.
    """
    if (
        metadata is None
        and tags is None
        and (agent_id is None or type(agent_id) is str)
        and (session_id is None or type(session_id) is str)
        and (user_id is None or type(user_id) is str)
        and (external_id is None or type(external_id) is str)
        and (agent_version_id is None or type(agent_version_id) is str)
        and (environment_id is None or type(environment_id) is str)
    ):
        # The common case, on every session block: tested inline, built without the
        # NamedTuple's Python-level __new__.
        return _new_options(
            SessionOptions,
            (
                agent_id,
                session_id,
                user_id,
                external_id,
                agent_version_id,
                environment_id,
                None,
                None,
            ),
        )
    check_arguments(
        caller,
        {
            "agent_id": agent_id,
            "session_id": session_id,
            "user_id": user_id,
            "external_id": external_id,
            "agent_version_id": agent_version_id,
            "environment_id": environment_id,
            "metadata": metadata,
            "tags": tags,
        },
    )
    return SessionOptions(
        agent_id,
        session_id,
        user_id,
        external_id,
        agent_version_id,
        environment_id,
        None if metadata is None else dict(metadata),
        None if tags is None else tuple(tags),
    )


def check_arguments(caller: str, fields: Mapping[str, Any]) -> None:
    """
    Check the fields of a session, a turn or an agent as a caller gave them.

    Args:
        caller: What the caller called, for the message (``"create_session()"``).
        fields: Any of ``agent_id``,
            ``session_id``, ``user_id``, ``external_id``, ``agent_version_id``,
            ``environment_id`` (each a ``str`` or ``None``), ``metadata`` (a mapping or
            ``None``), ``tags`` (strings, not one string) and ``tool_calls`` (mappings,
            not one mapping or a string); any other name is
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
