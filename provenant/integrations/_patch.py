"""
Per-instance patching: wrapt wrappers set on one client's resource objects, never on the
provider's classes, so other clients in the process are untouched.

The state of one instrumented client lives on it as ``_provenant_instrumentation``: the
switch that ``uninstrument()`` turns off, and what was patched, to restore it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Optional

import wrapt

from provenant.integrations._wrappers import (
    Resolve,
    Switch,
    Wrapper,
    make_call_wrapper,
    make_copy_wrapper,
    make_stream_helper_wrapper,
    switched,
)

if TYPE_CHECKING:
    from provenant.integrations._call import ApiSpec, Integration

__all__ = ["Patch", "State", "apply", "identify", "make_wrapper", "remove"]

STATE_ATTRIBUTE = "_provenant_instrumentation"
GOOGLE = "google"
# Cached per-resource helpers that captured ``create`` when first built (the SDKs'
# ``cached_property``); dropped on both ends so they are rebuilt around the right method.
_CACHED_HELPERS = ("with_raw_response", "with_streaming_response")
_COPY_METHODS = ("copy", "with_options")


@dataclasses.dataclass(frozen=True)
class Patch:
    """
    One method to wrap on a client.

    Args:
        resource: The attribute path from the client to the resource (``("chat",
            "completions")``).
        method: The method's name on the resource.
        api: How to read the API's requests and replies.
        stream_helper: The method is Anthropic's ``messages.stream`` helper.
        always_stream: The method always streams (Gemini's ``generate_content_stream``).
        is_async: The method is async (``None``: as the client is; Gemini's ``Client``
            holds its async twin under ``aio``).
    """

    resource: tuple[str, ...]
    method: str
    api: ApiSpec
    stream_helper: bool = False
    always_stream: bool = False
    is_async: Optional[bool] = None


@dataclasses.dataclass
class State:
    """What ``instrument()`` did to one client, so ``uninstrument()`` can undo it."""

    integration: Integration
    switch: Switch
    patched: list[tuple[Any, str]]


def _is_async(client: Any) -> bool:
    return any(cls.__name__ == "AsyncAPIClient" for cls in type(client).__mro__)


def identify(client: Any) -> Optional[tuple[str, bool]]:
    """Return ``(provider, is_async)`` for a supported client, ``None`` otherwise."""
    roots = {cls.__module__.split(".", 1)[0] for cls in type(client).__mro__}
    # Bedrock and Vertex clients set ``messages`` in __init__, the others build it lazily
    # (a cached_property): both answer on the instance, without any I/O.
    if "anthropic" in roots and hasattr(client, "messages"):
        return "anthropic", _is_async(client)
    if "openai" in roots and hasattr(client, "chat"):
        return "openai", _is_async(client)
    if "google" in roots and type(client).__module__.startswith("google.genai"):
        if hasattr(client, "aio") and hasattr(client, "models"):
            return GOOGLE, False  # google.genai.Client (its async twin under .aio)
        if type(client).__name__ == "AsyncClient" and hasattr(client, "models"):
            return GOOGLE, True
    return None


def _resource(client: Any, path: tuple[str, ...]) -> Any:
    obj = client
    for name in path:
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def _drop_cached_helpers(resource: Any) -> None:
    namespace = getattr(resource, "__dict__", {})
    for name in _CACHED_HELPERS:
        namespace.pop(name, None)


def make_wrapper(
    resolve: Resolve, patch: Patch, client_is_async: bool, positional: tuple[str, ...] = ()
) -> Wrapper:
    """The wrapt wrapper of one patched method (``positional``: see ``make_call_wrapper``)."""
    is_async = client_is_async if patch.is_async is None else patch.is_async
    if patch.stream_helper:
        return make_stream_helper_wrapper(resolve, patch.api, is_async=is_async)
    return make_call_wrapper(
        resolve,
        patch.api,
        is_async=is_async,
        always_stream=patch.always_stream,
        positional=positional,
    )


def apply(
    client: Any,
    integration: Integration,
    patches: tuple[Patch, ...],
    is_async: bool,
    parent: Optional[Switch] = None,
) -> State:
    """Wrap ``patches`` on ``client`` (and make its copies instrumented too)."""
    switch = Switch(parent)
    state = State(integration, switch, [])
    resolve = switched(integration, switch)
    for patch in patches:
        resource = _resource(client, patch.resource)
        original = getattr(resource, patch.method, None) if resource is not None else None
        if original is None:
            continue  # an older SDK without this method (e.g. chat.completions.parse)
        wrapper = make_wrapper(resolve, patch, is_async)
        setattr(resource, patch.method, wrapt.FunctionWrapper(original, wrapper))
        _drop_cached_helpers(resource)
        state.patched.append((resource, patch.method))

    def instrument_copy(copy: Any) -> None:
        if getattr(copy, STATE_ATTRIBUTE, None) is None:
            setattr(copy, STATE_ATTRIBUTE, apply(copy, integration, patches, is_async, switch))

    copy_wrapper = make_copy_wrapper(instrument_copy, switch)
    for name in _COPY_METHODS:
        original = getattr(client, name, None)
        if original is not None:
            setattr(client, name, wrapt.FunctionWrapper(original, copy_wrapper))
            state.patched.append((client, name))
    return state


def remove(state: State) -> None:
    """Turn the wrappers off and restore the original methods."""
    state.switch.turn_off()
    for owner, name in state.patched:
        namespace = getattr(owner, "__dict__", {})
        if isinstance(namespace.get(name), wrapt.FunctionWrapper):
            del namespace[name]
        _drop_cached_helpers(owner)
    state.patched.clear()
