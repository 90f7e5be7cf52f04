"""
Raw responses the caller reads itself: ``with_raw_response`` of a stream, and every
``with_streaming_response`` call, whose body is not read when the call returns.

The provider's response object is handed back behind a :class:`RawResponseProxy`
(``isinstance`` holds, every attribute is the provider's). Its call is recorded from what
the caller reads: ``parse()`` of a stream hands out the stream behind a recording stream
proxy; ``parse()`` of a reply records it; a body read another way (``read()``, ``json()``,
``text()``) is recorded when the response is closed; a response closed or dropped unread
is recorded as ``incomplete``.
"""

from __future__ import annotations

import functools
import inspect
import json
from typing import TYPE_CHECKING, Any, Optional

import wrapt

from provenant.integrations._call import ApiSpec, LlmCall, record_fault
from provenant.integrations._extract import ReplyInfo
from provenant.integrations._streams import AsyncStreamProxy, StreamRecorder, SyncStreamProxy

__all__ = ["RawResponseProxy"]

if TYPE_CHECKING:
    _Proxy = wrapt.ObjectProxy[Any]
else:
    _Proxy = wrapt.ObjectProxy


def _header(response: Any, name: str) -> Optional[str]:
    headers = getattr(response, "headers", None)
    value = headers.get(name) if headers is not None else None
    return value if isinstance(value, str) else None


def _reply_from_body(api: ApiSpec, body: bytes, request_id: Optional[str]) -> ReplyInfo:
    reply = api.read_reply(json.loads(body))
    reply.request_id = reply.request_id or request_id
    return reply


def _reply_from_parsed(api: ApiSpec, parsed: Any, request_id: Optional[str]) -> ReplyInfo:
    reply = api.read_reply(parsed)
    reply.request_id = reply.request_id or request_id
    return reply


class RawResponseProxy(_Proxy):
    """A provider's raw response that records its call from what the caller reads of it."""

    def __init__(self, wrapped: Any, api: ApiSpec, call: LlmCall) -> None:
        super().__init__(wrapped)
        self._self_api = api
        self._self_call = call
        self._self_stream: Any = None  # the provider's stream parse() returned
        self._self_proxy: Any = None  # what we handed out for it

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        """The provider's ``parse()``; a stream comes back behind a recording proxy."""
        result = self.__wrapped__.parse(*args, **kwargs)
        if inspect.isawaitable(result):
            return self._parse_later(result)
        return self._take(result)

    async def _parse_later(self, pending: Any) -> Any:
        return self._take(await pending)

    def _take(self, parsed: Any) -> Any:
        try:
            if parsed is self._self_stream:
                return self._self_proxy
            call = self._self_call
            api = self._self_api
            request_id = _header(self.__wrapped__, api.request_id_header)
            is_async = hasattr(type(parsed), "__anext__")
            if call.stream and (is_async or hasattr(type(parsed), "__next__")):
                if self._self_stream is not None:
                    return parsed  # parsed again into another type: not ours to record
                recorder = StreamRecorder(call, api.make_accumulator(False), request_id)
                proxy = (AsyncStreamProxy if is_async else SyncStreamProxy)(parsed, recorder)
                self._self_stream, self._self_proxy = parsed, proxy
                return proxy
            if not call.stream:
                call.succeed(functools.partial(_reply_from_parsed, api, parsed, request_id))
        except Exception as exc:
            record_fault("raw-parse", exc)
        return parsed

    def _finish(self) -> None:
        """The response is closed: record what was read of it, if nothing recorded it yet."""
        try:
            if self._self_proxy is not None:
                recorder = getattr(self._self_proxy, "_self_recorder", None)
                if recorder is not None:
                    recorder.finish()
                return
            call = self._self_call
            api = self._self_api
            request_id = _header(self.__wrapped__, api.request_id_header)
            body: Optional[bytes] = None
            if not call.stream:
                try:  # the body, when the caller read it (json(), text(), read())
                    body = self.__wrapped__.http_response.content
                except Exception:
                    body = None
            if isinstance(body, bytes):
                call.succeed(functools.partial(_reply_from_body, api, body, request_id))
            else:
                call.succeed(ReplyInfo(request_id=request_id), stream_metadata={"incomplete": True})
        except Exception as exc:
            record_fault("raw-close", exc)

    def close(self) -> Any:
        """The provider's ``close()``, then the call is recorded (if nothing recorded it)."""
        closer = self.__wrapped__.close
        try:
            result = closer()
        except BaseException:
            self._finish()
            raise
        if inspect.isawaitable(result):
            return self._close_later(result)
        self._finish()
        return result

    async def _close_later(self, pending: Any) -> Any:
        try:
            return await pending
        finally:
            self._finish()

    def __del__(self) -> None:
        call = getattr(self, "_self_call", None)
        if call is not None:
            self._finish()
