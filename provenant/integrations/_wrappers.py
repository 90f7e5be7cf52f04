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
from provenant.integrations._streams import AsyncStreamProxy, StreamRecorder, SyncStreamProxy
from provenant.tracing._span import entered

__all__ = ["Switch", "make_call_wrapper", "make_copy_wrapper", "make_stream_helper_wrapper"]

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]

# The header the provider SDKs add for ``with_raw_response`` ("raw" in anthropic's
# ``_response.py``, "true" in openai's ``_legacy_response.py``) and for
# ``with_streaming_response`` ("stream"), whose body is not read yet: passed through.
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


def _prepare(
    integration: Integration, api: ApiSpec, kwargs: dict[str, Any]
) -> tuple[Optional[LlmCall], dict[str, Any], bool, bool]:
    """Zone 1: return ``(call or None, kwargs to send, hide usage chunk, raw response)``."""
    stream = kwargs.get("stream") is True
    raw = _raw_mode(kwargs)
    if raw is not None and (raw == "stream" or stream):
        return None, kwargs, False, False  # streamed raw responses pass through untouched
    call = LlmCall.begin(integration, api, kwargs, stream=stream)
    if call is None:
        return None, kwargs, False, False  # not recorded: the request goes out unchanged
    if stream and integration.stream_usage and api.name == "chat":
        try:
            options = kwargs.get("stream_options")
            if not (isinstance(options, Mapping) and options.get("include_usage")):
                options = dict(options) if isinstance(options, Mapping) else {}
                options["include_usage"] = True
                return call, dict(kwargs, stream_options=options), True, False
        except Exception as exc:  # the call is begun: go on without asking for usage
            record_fault("stream-usage", exc)
    return call, kwargs, False, raw is not None


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
    api: ApiSpec, call: LlmCall, result: Any, hide: bool, raw: Any, is_async: bool
) -> Any:
    """
    Zone 3: record a plain reply, or return the stream behind a recording proxy.

    ``raw`` is false, or the parsed reply of a ``with_raw_response`` call: the SDKs'
    ``parse()`` caches its answer, so the caller's own ``parse()`` returns the same object.
    """
    if raw is not False:
        call.succeed(functools.partial(_read_raw_reply, api, raw, result))
        return result
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


def make_call_wrapper(
    integration: Integration, api: ApiSpec, switch: Switch, *, is_async: bool
) -> Wrapper:
    """The wrapper of a ``create``-like method (sync or async)."""

    def before(kwargs: dict[str, Any]) -> tuple[Optional[LlmCall], dict[str, Any], bool, bool]:
        if not switch.active:
            return None, kwargs, False, False
        try:
            return _prepare(integration, api, kwargs)
        except Exception as exc:
            record_fault("before-call", exc)
            return None, kwargs, False, False

    def after(call: LlmCall, result: Any, hide: bool, raw: Any) -> Any:
        try:
            if raw is True:
                raw = result.parse()
            return _wrap_result(api, call, result, hide, raw, is_async)
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
            call, call_kwargs, hide, raw = before(kwargs)
            if call is None:
                return await wrapped(*args, **call_kwargs)
            call.restart_clock()
            try:
                with entered(call.span):
                    result = await wrapped(*args, **call_kwargs)
            except BaseException as exc:
                failed(call, exc)
                raise
            if raw:
                try:
                    raw = result.parse()  # openai's async raw response parses synchronously
                    if inspect.isawaitable(raw):
                        raw = await raw
                except Exception as exc:
                    record_fault("after-call", exc)
                    _abandon(call)
                    return result
            return after(call, result, hide, raw)

        return async_wrapper

    def sync_wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        call, call_kwargs, hide, raw = before(kwargs)
        if call is None:
            return wrapped(*args, **call_kwargs)
        call.restart_clock()
        try:
            with entered(call.span):
                result = wrapped(*args, **call_kwargs)
        except BaseException as exc:
            failed(call, exc)
            raise
        return after(call, result, hide, raw)

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


def make_stream_helper_wrapper(
    integration: Integration, api: ApiSpec, switch: Switch, *, is_async: bool
) -> Wrapper:
    """The wrapper of Anthropic's ``messages.stream(...)``: the manager records when entered."""

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        manager = wrapped(*args, **kwargs)
        if not switch.active:
            return manager
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
