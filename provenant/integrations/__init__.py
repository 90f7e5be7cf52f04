"""
Record every call of an Anthropic, OpenAI or Google GenAI client, in one line::

    import anthropic
    import provenant as prov

    client = prov.instrument(anthropic.Anthropic(), agent_id="Support Bot")
    client.messages.create(...)       # recorded: a session of its own, or the active one

Only this client object (and the copies ``with_options()`` makes of it) is patched; the
provider's classes and other clients are untouched. ``prov.instrument()`` with no client
records every client in the process instead (LiteLLM included), patching the providers'
classes as their packages are imported. What gets patched is listed in
:mod:`provenant.integrations.anthropic`, :mod:`~provenant.integrations.openai`,
:mod:`~provenant.integrations.google_genai` and :mod:`~provenant.integrations.litellm`.

.. versionadded:: 0.1
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, TypeVar, overload

from provenant.integrations import _global
from provenant.integrations._call import Integration
from provenant.integrations._global import Target
from provenant.integrations._patch import GOOGLE, STATE_ATTRIBUTE, apply, identify, remove
from provenant.tracing._arguments import check_session_arguments

if TYPE_CHECKING:
    from provenant.client import ProvenantClient

__all__ = ["instrument", "uninstrument"]

C = TypeVar("C")

_SUPPORTED = (
    "anthropic.Anthropic, anthropic.AsyncAnthropic, openai.OpenAI, openai.AsyncOpenAI, "
    "google.genai.Client and their subclasses (AzureOpenAI, AnthropicBedrock, "
    "AnthropicVertex...), one of these classes, or no argument (every client, and LiteLLM)"
)


def _patches(provider: str, is_async: bool) -> tuple[Any, ...]:
    if provider == "anthropic":
        from provenant.integrations import anthropic

        return anthropic.PATCHES
    if provider == GOOGLE:
        from provenant.integrations import google_genai

        return google_genai.PATCHES_ASYNC if is_async else google_genai.PATCHES
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


def _targets() -> dict[str, tuple[Target, ...]]:
    from provenant.integrations import anthropic, google_genai, litellm, openai

    return {
        anthropic.PROVIDER: anthropic.TARGETS,
        openai.PROVIDER: openai.TARGETS,
        google_genai.PROVIDER: google_genai.TARGETS,
        litellm.PROVIDER: litellm.TARGETS,
    }


def _client_class(cls: type) -> Optional[tuple[str, Optional[type]]]:
    """``(provider, the class to filter on or None)`` for a supported client class."""
    roots = {base.__module__.split(".", 1)[0] for base in cls.__mro__}
    names = {base.__name__ for base in cls.__mro__}
    api_client = bool(names & {"SyncAPIClient", "AsyncAPIClient"})
    if "anthropic" in roots and api_client:
        return "anthropic", cls
    if "openai" in roots and api_client:
        return "openai", cls
    if cls.__module__.startswith("google.genai") and cls.__name__ in ("Client", "AsyncClient"):
        return GOOGLE, None  # its Models do not know their client: every client records
    if cls.__module__.startswith("litellm") and cls.__name__ == "Router":
        return "litellm", None
    return None


@overload
def instrument(
    client: None = None,
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
) -> None: ...


@overload
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
) -> C: ...


def instrument(
    client: Optional[C] = None,
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
) -> Optional[C]:
    """
    Record every LLM call of a client, of a client class, or of every client in the process.

    - ``instrument(client)``: this client object (and the copies ``with_options()`` makes
      of it); returns it.
    - ``instrument()``: every client of every supported provider in the process, those
      that exist and those created later (inside agent frameworks too), and LiteLLM's
      ``completion`` / ``acompletion`` and ``Router``. A provider package the program
      does not import is never imported: its classes are patched when it is.
    - ``instrument(SomeClientClass)``: every client of that class (or a subclass), e.g.
      ``instrument(anthropic.Anthropic)``.

    Each call joins the active session (``provenant.session()``, ``@provenant.trace``),
    or, outside any session, is recorded as a session of its own, ended after the call.
    Only what is new in each request is recorded (chat history is not recorded twice).
    The client returns the provider's own objects and raises the provider's own
    exceptions; a fault in recording never reaches the caller. No network I/O happens
    here (agent names resolve in the background).

    Per-instance and process-wide instrumentation compose: a call of a client
    instrumented on its own is recorded once, with that client's settings.

    Args:
        client: An ``anthropic.Anthropic``, ``anthropic.AsyncAnthropic``,
            ``openai.OpenAI``, ``openai.AsyncOpenAI`` or ``google.genai.Client`` (or a
            subclass or async twin); one of these classes; or ``None`` for every client.
        api_key: Provenant API key; with ``base_url`` and ``timeout``, records with a
            client of its own, shared by every ``instrument()`` given the same three
            (otherwise the default client of :func:`provenant.configure`).
        agent_id: The agent (UUID or name) of the sessions opened by these calls.
        base_url: Provenant API base URL.
        timeout: Provenant request timeout, in seconds.
        provenant: An existing :class:`~provenant.ProvenantClient` to record with.
        user_id: ``userId`` of the sessions opened by these calls.
        agent_version_id: ``agentVersionId`` of those sessions.
        environment_id: ``environmentId`` of those sessions.
        external_id: ``externalId`` of those sessions.
        metadata: ``metadata`` of those sessions.
        tags: ``tags`` of those sessions.
        stream_usage: OpenAI chat streams: ask for the usage chunk when the caller did
            not, and hide it, so the caller's stream is chunk for chunk unchanged.

    Returns:
        ``client`` itself, instrumented. A second call on the same client, the same
        class, or a second ``instrument()``, changes nothing (call :func:`uninstrument`
        first to change the settings).

    Raises:
        TypeError: ``client`` is not a supported client or client class, or an argument
            has the wrong type (named in the message).

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       ``client`` may be omitted (every client) or a client class; Google GenAI clients
       and LiteLLM are supported.
    """
    target: Optional[tuple[str, Optional[type]]] = None
    identity: Optional[tuple[str, bool]] = None
    if client is None:
        pass
    elif isinstance(client, type):
        target = _client_class(client)
        if target is None:
            raise TypeError(f"instrument() supports {_SUPPORTED}; got the class {_name(client)}.")
    else:
        identity = identify(client)
        if identity is None:
            raise TypeError(f"instrument() supports {_SUPPORTED}; got {_name(type(client))}.")
        if getattr(client, STATE_ATTRIBUTE, None) is not None:
            return client
    options = check_session_arguments(
        "instrument()",
        agent_id,
        user_id=user_id,
        external_id=external_id,
        agent_version_id=agent_version_id,
        environment_id=environment_id,
        metadata=metadata,
        tags=tags,
    )
    if provenant is not None:
        from provenant.client import ProvenantClient

        if not isinstance(provenant, ProvenantClient):
            raise TypeError(
                "instrument(): provenant must be a ProvenantClient or None, "
                f"not {type(provenant).__name__}"
            )
    integration = Integration(
        provenant=_recording_client(provenant, api_key, base_url, timeout),
        session=options,
        stream_usage=stream_usage,
    )
    if identity is not None:
        provider, is_async = identity
        state = apply(client, integration, _patches(provider, is_async), is_async)
        setattr(client, STATE_ATTRIBUTE, state)
        return client
    targets = _targets()
    if target is not None:
        provider, client_class = target
        _global.add(provider, targets[provider], integration, client_class)
    else:
        for provider, provider_targets in targets.items():
            _global.add(provider, provider_targets, integration, None)
    return client


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@overload
def uninstrument(client: None = None) -> None: ...


@overload
def uninstrument(client: C) -> C: ...


def uninstrument(client: Optional[C] = None) -> Optional[C]:
    """
    Stop recording what :func:`instrument` recorded; returns ``client``.

    - ``uninstrument(client)``: that client (copies made with ``with_options()`` while it
      was instrumented stop recording too). A client that is not instrumented is
      returned unchanged. Process-wide instrumentation, if on, goes on recording it.
    - ``uninstrument()``: ends process-wide instrumentation (every ``instrument()`` and
      ``instrument(SomeClientClass)``), restoring the providers' classes and functions.
      Clients instrumented one by one stay so.
    - ``uninstrument(SomeClientClass)``: ends ``instrument(SomeClientClass)``.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       ``client`` may be omitted or a client class.
    """
    if client is None:
        _global.remove_all()
        return None
    if isinstance(client, type):
        target = _client_class(client)
        if target is not None:
            _global.remove(target[0], target[1])
        return client
    state = getattr(client, STATE_ATTRIBUTE, None)
    if state is not None:
        remove(state)
        delattr(client, STATE_ATTRIBUTE)
    return client
