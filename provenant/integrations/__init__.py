"""
Record every call of an Anthropic or OpenAI client, in one line::

    import anthropic
    import provenant as prov

    client = prov.instrument(anthropic.Anthropic(), agent_id="Support Bot")
    client.messages.create(...)       # recorded: a session of its own, or the active one

Only this client object (and the copies ``with_options()`` makes of it) is patched; the
provider's classes and other clients are untouched. What gets patched is listed in
:mod:`provenant.integrations.anthropic` and :mod:`provenant.integrations.openai`.

.. versionadded:: 0.1
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, TypeVar

from provenant.integrations._call import Integration
from provenant.integrations._patch import STATE_ATTRIBUTE, apply, identify, remove
from provenant.tracing._arguments import check_session_arguments

if TYPE_CHECKING:
    from provenant.client import ProvenantClient

__all__ = ["instrument", "uninstrument"]

C = TypeVar("C")

_SUPPORTED = (
    "anthropic.Anthropic, anthropic.AsyncAnthropic, openai.OpenAI, openai.AsyncOpenAI "
    "and their subclasses (AzureOpenAI, AnthropicBedrock, AnthropicVertex...)"
)


def _patches(provider: str) -> tuple[Any, ...]:
    if provider == "anthropic":
        from provenant.integrations import anthropic

        return anthropic.PATCHES
    from provenant.integrations import openai

    return openai.PATCHES


# The clients instrument() built from api_key / base_url / timeout, one per distinct
# three: an app that instruments a new provider client per request shares one recorder
# (its threads and connections) instead of starting one per request.
_recorders: dict[tuple[Optional[str], Optional[str], Optional[float]], ProvenantClient] = {}
_recorders_lock = threading.Lock()


def _recording_client(
    provenant: Optional[ProvenantClient],
    api_key: Optional[str],
    base_url: Optional[str],
    timeout: Optional[float],
) -> Optional[ProvenantClient]:
    """The client to record with; ``None`` means the default client at each call."""
    if provenant is not None:
        return provenant
    if api_key is None and base_url is None and timeout is None:
        return None  # so that provenant.flush() and configure() apply to these records
    from provenant.client import ProvenantClient

    key = (api_key, base_url, timeout)
    with _recorders_lock:
        recorder = _recorders.get(key)
        if recorder is None or recorder._closed:
            recorder = _recorders[key] = ProvenantClient(
                base_url=base_url, api_key=api_key, timeout=timeout
            )
    return recorder


def instrument(
    client: C,
    *,
    api_key: Optional[str] = None,
    agent_id: Optional[str] = None,
    base_url: Optional[str] = None,
    timeout: Optional[float] = None,
    provenant: Optional[ProvenantClient] = None,
    user_id: Optional[str] = None,
    agent_version_id: Optional[str] = None,
    environment_id: Optional[str] = None,
    external_id: Optional[str] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    tags: Optional[Sequence[str]] = None,
    stream_usage: bool = False,
) -> C:
    """
    Record every LLM call of an Anthropic or OpenAI client; returns the same client.

    Each call joins the active session (``provenant.session()``, ``@provenant.trace``),
    or, outside any session, is recorded as a session of its own, ended after the call.
    Only what is new in each request is recorded (chat history is not recorded twice).
    The client returns the provider's own objects and raises the provider's own
    exceptions; a fault in recording never reaches the caller. No network I/O happens
    here (agent names resolve in the background).

    Args:
        client: An ``anthropic.Anthropic``, ``anthropic.AsyncAnthropic``,
            ``openai.OpenAI`` or ``openai.AsyncOpenAI`` (or a subclass).
        api_key: Provenant API key; with ``base_url`` and ``timeout``, records with a
            client of its own, shared by every ``instrument()`` given the same three
            (otherwise the default client of :func:`provenant.configure`).
        agent_id: The agent (UUID or name) of the sessions opened by this client's calls.
        base_url: Provenant API base URL.
        timeout: Provenant request timeout, in seconds.
        provenant: An existing :class:`~provenant.ProvenantClient` to record with.
        user_id: ``userId`` of the sessions opened by this client's calls.
        agent_version_id: ``agentVersionId`` of those sessions.
        environment_id: ``environmentId`` of those sessions.
        external_id: ``externalId`` of those sessions.
        metadata: ``metadata`` of those sessions.
        tags: ``tags`` of those sessions.
        stream_usage: OpenAI chat streams: ask for the usage chunk when the caller did
            not, and hide it, so the caller's stream is chunk for chunk unchanged.

    Returns:
        ``client`` itself, instrumented. A second call on the same client changes
        nothing (call :func:`uninstrument` first to change the settings).

    Raises:
        TypeError: ``client`` is not a supported client, or an argument has the wrong
            type (named in the message).

    .. versionadded:: 0.1
    """
    identity = identify(client)
    if identity is None:
        raise TypeError(
            f"instrument() supports {_SUPPORTED}; got {type(client).__module__}."
            f"{type(client).__qualname__}."
        )
    if getattr(client, STATE_ATTRIBUTE, None) is not None:
        return client
    provider, is_async = identity
    session_kwargs = {
        "agent_id": agent_id,
        "user_id": user_id,
        "external_id": external_id,
        "agent_version_id": agent_version_id,
        "environment_id": environment_id,
        "metadata": metadata,
        "tags": tags,
    }
    check_session_arguments("instrument()", session_kwargs)
    if provenant is not None:
        from provenant.client import ProvenantClient

        if not isinstance(provenant, ProvenantClient):
            raise TypeError(
                "instrument(): provenant must be a ProvenantClient or None, "
                f"not {type(provenant).__name__}"
            )
    session_kwargs["metadata"] = dict(metadata) if metadata is not None else None
    session_kwargs["tags"] = list(tags) if tags is not None else None
    integration = Integration(
        provenant=_recording_client(provenant, api_key, base_url, timeout),
        session_kwargs=session_kwargs,
        stream_usage=stream_usage,
    )
    setattr(client, STATE_ATTRIBUTE, apply(client, integration, _patches(provider), is_async))
    return client


def uninstrument(client: C) -> C:
    """
    Stop recording the calls of a client :func:`instrument` patched; returns it.

    Copies made with ``with_options()`` while it was instrumented stop recording too.
    A client that is not instrumented is returned unchanged.

    .. versionadded:: 0.1
    """
    state = getattr(client, STATE_ATTRIBUTE, None)
    if state is not None:
        remove(state)
        delattr(client, STATE_ATTRIBUTE)
    return client
