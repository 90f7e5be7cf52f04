"""
The wrapt wrappers put on a client's resource methods: three zones around the call.

1. Before the call: read the request, open the session, record the new input. A fault
   of ours here means the call goes through untraced.
2. The call itself: the provider's exception is recorded, then re-raised unchanged.
3. After the call: record the reply (or wrap the stream). A fault of ours is logged and
   the provider's own object returned.

(openinference ``_Request.__call__`` draws the same three zones.)
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Awaitable, Callable, Mapping, Optional

from provenant.integrations._call import ApiSpec, Integration, LlmCall, record_fault
from provenant.integrations._extract import ReplyInfo
from provenant.integrations._raw import RawResponseProxy
from provenant.integrations._streams import AsyncStreamProxy, StreamRecorder, SyncStreamProxy
from provenant.integrations._suppress import provider_recording_suppressed, restore, suppress
from provenant.tracing._span import entered

__all__ = [
    "Resolve",
    "Switch",
    "make_call_wrapper",
    "make_copy_wrapper",
    "make_stream_helper_wrapper",
    "switched",
]

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]

# The header the provider SDKs add for ``with_raw_response`` ("raw" in anthropic's
# ``_response.py``, "true" in openai's ``_legacy_response.py``) and for
# ``with_streaming_response`` ("stream"), whose body is not read yet (see ``_raw``).
_RAW_HEADER = "x-stainless-raw-response"


class Switch:
    """
    Whether one instrumented client still records; ``uninstrument()`` turns it off.

    A copy's switch follows its parent's too: uninstrumenting a client silences the
    copies made of it, while uninstrumenting a copy leaves the parent alone.
    """

    __slots__ = ("_on", "_parent")

    def __init__(self, parent: Optional[Switch] = None) -> None:
        self._on = True
        self._parent = parent

    @property
    def active(self) -> bool:
        """True while neither this client nor the one it was copied from is uninstrumented."""
        return self._on and (self._parent is None or self._parent.active)

    def turn_off(self) -> None:
        """Stop recording."""
        self._on = False


def _raw_mode(kwargs: Mapping[str, Any]) -> Optional[str]:
    headers = kwargs.get("extra_headers")
    if headers is None:
        return None
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if isinstance(name, str) and name.lower() == _RAW_HEADER:
                return str(value)
    return None


# How the result of a call comes back (``_prepare``'s last value).
_PLAIN = 0  # the provider's reply or stream object
_RAW_READ = 1  # ``with_raw_response`` of a reply: the body is read, parse() is cached
_RAW_UNREAD = 2  # ``with_raw_response`` of a stream, ``with_streaming_response``


def _prepare(
    integration: Integration, api: ApiSpec, kwargs: dict[str, Any], always_stream: bool
) -> tuple[Optional[LlmCall], dict[str, Any], bool, int]:
    """Zone 1: return ``(call or None, kwargs to send, hide usage chunk, result kind)``."""
    stream = always_stream or kwargs.get("stream") is True
    raw = _raw_mode(kwargs)
    call = LlmCall.begin(integration, api, kwargs, stream=stream)
    if call is None:
        return None, kwargs, False, _PLAIN  # not recorded: the request goes out unchanged
    if raw is not None:
        return call, kwargs, False, _RAW_UNREAD if (raw == "stream" or stream) else _RAW_READ
    if stream and integration.stream_usage and api.name == "chat":
        try:
            options = kwargs.get("stream_options")
            if not (isinstance(options, Mapping) and options.get("include_usage")):
                options = dict(options) if isinstance(options, Mapping) else {}
                options["include_usage"] = True
                return call, dict(kwargs, stream_options=options), True, _PLAIN
        except Exception as exc:  # the call is begun: go on without asking for usage
            record_fault("stream-usage", exc)
    return call, kwargs, False, _PLAIN


def _header(response: Any, name: str) -> Optional[str]:
    headers = getattr(response, "headers", None)
    value = headers.get(name) if headers is not None else None
    return value if isinstance(value, str) else None


def _abandon(call: LlmCall) -> None:
    """End a call whose result we could not read: an empty reply, the session ended."""
    try:
        call.succeed(ReplyInfo())
    except Exception as exc:
        record_fault("abandon", exc)


def _wrap_result(
    api: ApiSpec, call: LlmCall, result: Any, hide: bool, kind: int, parsed: Any, is_async: bool
) -> Any:
    """
    Zone 3: record a plain reply, or return the stream behind a recording proxy.

    ``parsed`` is the parsed reply of a ``with_raw_response`` call: the SDKs' ``parse()``
    caches its answer, so the caller's own ``parse()`` returns the same object.
    """
    if kind == _RAW_READ:
        call.succeed(functools.partial(_read_raw_reply, api, parsed, result))
        return result
    if kind == _RAW_UNREAD:
        return RawResponseProxy(result, api, call)
    if call.stream:
        request_id = _header(getattr(result, "response", None), api.request_id_header)
        recorder = StreamRecorder(call, api.make_accumulator(hide), request_id)
        proxy = AsyncStreamProxy if is_async else SyncStreamProxy
        return proxy(result, recorder)
    # The reply is read by the exporter's worker: the provider's object is not changed.
    call.succeed(functools.partial(api.read_reply, result))
    return result


def _read_raw_reply(api: ApiSpec, parsed: Any, response: Any) -> ReplyInfo:
    reply = api.read_reply(parsed)
    reply.request_id = reply.request_id or _header(response, api.request_id_header)
    return reply


Resolve = Callable[[Any], Optional[Integration]]
"""``resolve(instance)``: the settings to record a call on ``instance`` with, or ``None``."""


def switched(integration: Integration, switch: Switch) -> Resolve:
    """The resolver of one instrumented client: its settings while its switch is on."""

    def resolve(instance: Any) -> Optional[Integration]:
        return integration if switch.active else None

    return resolve


def make_call_wrapper(
    resolve: Resolve,
    api: ApiSpec,
    *,
    is_async: bool,
    always_stream: bool = False,
    positional: tuple[str, ...] = (),
) -> Wrapper:
    """
    The wrapper of a ``create``-like method (sync or async).

    Args:
        resolve: Who records a call on this instance (``None``: nobody, pass it through).
        api: How to read the API.
        is_async: The method is a coroutine function.
        always_stream: The method always streams (Gemini's ``generate_content_stream``).
        positional: The names of the leading parameters a caller may pass by position
            (``litellm.completion(model, messages)``): read as if passed by name.

    A call this wrapper records runs with provider recording suppressed, so a wrapper
    underneath (process-wide instrumentation, under a per-instance one) passes it through.
    """

    def before(
        instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Optional[Integration], Optional[LlmCall], dict[str, Any], bool, int]:
        if provider_recording_suppressed():
            return None, None, kwargs, False, _PLAIN
        try:
            integration = resolve(instance)
            if integration is None:
                return None, None, kwargs, False, _PLAIN
        except Exception as exc:
            record_fault("before-call", exc)
            return None, None, kwargs, False, _PLAIN
        try:
            if args and positional:
                named = dict(zip(positional, args))
                named.update(kwargs)
                stream = always_stream or named.get("stream") is True
                call = LlmCall.begin(integration, api, named, stream=stream)
                return integration, call, kwargs, False, _PLAIN
            return (integration, *_prepare(integration, api, kwargs, always_stream))
        except Exception as exc:
            record_fault("before-call", exc)
            return integration, None, kwargs, False, _PLAIN

    def after(call: LlmCall, result: Any, hide: bool, kind: int, parsed: Any) -> Any:
        try:
            if kind == _RAW_READ and parsed is None:
                parsed = result.parse()
            return _wrap_result(api, call, result, hide, kind, parsed, is_async)
        except Exception as exc:
            record_fault("after-call", exc)
            _abandon(call)
            return result

    def failed(call: LlmCall, exc: BaseException) -> None:
        try:
            call.fail(exc)
        except Exception as fault:
            record_fault("call-error", fault)

    if is_async:

        async def async_wrapper(
            wrapped: Callable[..., Awaitable[Any]],
            instance: Any,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Any:
            integration, call, call_kwargs, hide, kind = before(instance, args, kwargs)
            if integration is None:
                return await wrapped(*args, **call_kwargs)
            token = suppress()
            try:
                if call is None:
                    return await wrapped(*args, **call_kwargs)
                call.restart_clock()
                try:
                    with entered(call.span):
                        result = await wrapped(*args, **call_kwargs)
                except BaseException as exc:
                    failed(call, exc)
                    raise
            finally:
                restore(token)
            parsed = None
            if kind == _RAW_READ:
                try:
                    parsed = result.parse()  # openai's async raw response parses synchronously
                    if inspect.isawaitable(parsed):
                        parsed = await parsed
                except Exception as exc:
                    record_fault("after-call", exc)
                    _abandon(call)
                    return result
            return after(call, result, hide, kind, parsed)

        return async_wrapper

    def sync_wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        integration, call, call_kwargs, hide, kind = before(instance, args, kwargs)
        if integration is None:
            return wrapped(*args, **call_kwargs)
        token = suppress()
        try:
            if call is None:
                return wrapped(*args, **call_kwargs)
            call.restart_clock()
            try:
                with entered(call.span):
                    result = wrapped(*args, **call_kwargs)
            except BaseException as exc:
                failed(call, exc)
                raise
        finally:
            restore(token)
        return after(call, result, hide, kind, None)

    return sync_wrapper


# -- Anthropic's messages.stream(...) helper ---------------------------------------------
#
# The helper returns a MessageStreamManager holding the request to send when it is
# entered (anthropic ``lib/streaming/_messages.py``); the request goes through
# ``_post`` directly, not ``create``. We swap the manager's pending request for one that
# records, so ``text_stream``, ``get_final_message()`` and ``until_done()``, which all
# read the raw stream, are recorded whichever the caller uses.


def _pending_request(manager: Any) -> str:
    """
    The attribute holding a stream manager's pending request: ``__api_request``, its
    name mangled by the class that set it (``MessageStreamManager``,
    ``AsyncMessageStreamManager``, or their ``Beta`` twins).
    """
    for cls in type(manager).__mro__:
        name = f"_{cls.__name__.lstrip('_')}__api_request"
        if hasattr(manager, name):
            return name
    raise AttributeError(f"{type(manager).__name__} holds no pending request")


def _begin_stream(
    integration: Integration, api: ApiSpec, kwargs: dict[str, Any]
) -> Optional[LlmCall]:
    try:
        return LlmCall.begin(integration, api, kwargs, stream=True)
    except Exception as exc:
        record_fault("before-stream", exc)
        return None


def _fail_stream(call: LlmCall, exc: BaseException) -> None:
    """Record the provider's exception; a fault of ours never replaces it."""
    try:
        call.fail(exc)
    except Exception as fault:
        record_fault("call-error", fault)


def _proxy_stream(api: ApiSpec, call: LlmCall, raw_stream: Any, is_async: bool) -> Any:
    try:
        request_id = _header(getattr(raw_stream, "response", None), api.request_id_header)
        recorder = StreamRecorder(call, api.make_accumulator(False), request_id)
        return (AsyncStreamProxy if is_async else SyncStreamProxy)(raw_stream, recorder)
    except Exception as exc:
        record_fault("after-stream", exc)
        _abandon(call)
        return raw_stream


def _traced_request(
    integration: Integration, api: ApiSpec, kwargs: dict[str, Any], request: Callable[[], Any]
) -> Any:
    call = _begin_stream(integration, api, kwargs)
    if call is None:
        return request()
    try:
        with entered(call.span):
            raw_stream = request()
    except BaseException as exc:
        _fail_stream(call, exc)
        raise
    return _proxy_stream(api, call, raw_stream, is_async=False)


async def _traced_request_async(
    integration: Integration, api: ApiSpec, kwargs: dict[str, Any], request: Awaitable[Any]
) -> Any:
    call = _begin_stream(integration, api, kwargs)
    if call is None:
        return await request
    try:
        with entered(call.span):
            raw_stream = await request
    except BaseException as exc:
        _fail_stream(call, exc)
        raise
    return _proxy_stream(api, call, raw_stream, is_async=True)


def make_stream_helper_wrapper(resolve: Resolve, api: ApiSpec, *, is_async: bool) -> Wrapper:
    """The wrapper of Anthropic's ``messages.stream(...)``: the manager records when entered."""

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        integration: Optional[Integration] = None
        if not provider_recording_suppressed():
            try:
                integration = resolve(instance)
            except Exception as exc:
                record_fault("stream-helper", exc)
        if integration is None:
            return wrapped(*args, **kwargs)
        token = suppress()
        try:
            manager = wrapped(*args, **kwargs)
        finally:
            restore(token)
        try:
            attribute = _pending_request(manager)
            pending = getattr(manager, attribute)
            traced: Any
            if is_async:
                traced = _traced_request_async(integration, api, kwargs, pending)
            else:
                traced = functools.partial(_traced_request, integration, api, kwargs, pending)
            setattr(manager, attribute, traced)
        except Exception as exc:
            record_fault("stream-helper", exc)
        return manager

    return wrapper


def make_copy_wrapper(instrument_copy: Callable[[Any], None], switch: Switch) -> Wrapper:
    """The wrapper of ``client.copy`` / ``client.with_options``: the copy is instrumented."""

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        copy = wrapped(*args, **kwargs)
        if switch.active:
            try:
                instrument_copy(copy)
            except Exception as exc:
                record_fault("copy", exc)
        return copy

    return wrapper
