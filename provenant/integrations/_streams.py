"""
Stream proxies: the provider's own stream object, passed through chunk by chunk, recorded
when it ends.

A proxy subclasses :class:`wrapt.ObjectProxy`, so ``isinstance(proxy, Stream)`` holds and
every attribute (``response``, ``request_id``...) is the provider's. It implements
``__next__`` / ``__anext__`` itself rather than a generator ``__iter__``: a generator
misses an early ``break``, and openinference's proxy forwards ``close()`` and
``__exit__`` unrecorded (openinference-instrumentation-openai ``_stream.py``). The call is
recorded exactly once, whichever comes first: the stream is exhausted, raises, is closed,
leaves its ``with`` block, or is garbage-collected (then ``incomplete: true``).
"""

from __future__ import annotations

import inspect
import threading
import time
from typing import TYPE_CHECKING, Any, Optional

import wrapt

from provenant.integrations._call import LlmCall, _ms, record_fault
from provenant.integrations._extract import ReplyInfo

__all__ = ["AsyncStreamProxy", "StreamRecorder", "SyncStreamProxy"]

if TYPE_CHECKING:
    _Proxy = wrapt.ObjectProxy[Any]
else:
    _Proxy = wrapt.ObjectProxy


class StreamRecorder:
    """
    What a stream proxy knows of its call: the accumulator, the clock, the end.

    Args:
        call: The call being recorded.
        accumulator: Builds the reply from the chunks (``observe``, ``result``,
            ``complete``, ``has_token``).
        request_id: The provider's request id (from the response headers).
    """

    def __init__(self, call: LlmCall, accumulator: Any, request_id: Optional[str]) -> None:
        self.call = call
        self.accumulator = accumulator
        self.request_id = request_id
        self.opened = time.perf_counter()
        self.first_token: Optional[float] = None
        self._broken = False
        self._done = False
        self._lock = threading.Lock()

    def observe(self, item: Any) -> bool:
        """Take one chunk into account; True when the caller must not see it."""
        if self._broken:
            return False
        try:
            hide = bool(self.accumulator.observe(item))
            if self.first_token is None and self.accumulator.has_token:
                self.first_token = time.perf_counter()
            return hide
        except Exception as exc:
            # A chunk we cannot read: stop reading (the caller's stream goes on untouched).
            self._broken = True
            record_fault("stream-chunk", exc)
            return False

    def _reply(self) -> ReplyInfo:
        reply: ReplyInfo = self.accumulator.result()
        if reply.request_id is None:
            reply.request_id = self.request_id
        return reply

    def finish(self, error: Optional[BaseException] = None) -> None:
        """Record the call once; later calls do nothing. Never raises."""
        with self._lock:
            if self._done:
                return
            self._done = True
        self._broken = True  # no chunk is read after the end: the worker reads the reply
        try:
            now = time.perf_counter()
            metadata: dict[str, Any] = {
                "streamDurationMs": _ms(now - self.opened),
                "incomplete": not self.accumulator.complete,
            }
            if self.first_token is not None:
                metadata["timeToFirstTokenMs"] = _ms(self.first_token - self.call.started)
            self.call.succeed(self._reply, stream_metadata=metadata, error=error)
        except Exception as exc:
            record_fault("stream-end", exc)


def _finish_quietly(proxy: Any, error: Optional[BaseException] = None) -> None:
    recorder = getattr(proxy, "_self_recorder", None)
    if recorder is not None:
        recorder.finish(error)


class SyncStreamProxy(_Proxy):
    """A provider ``Stream`` that records its call when it ends."""

    def __init__(self, wrapped: Any, recorder: StreamRecorder) -> None:
        super().__init__(wrapped)
        self._self_recorder = recorder

    def __iter__(self) -> SyncStreamProxy:
        return self

    def __next__(self) -> Any:
        recorder = self._self_recorder
        while True:
            try:
                item = self.__wrapped__.__next__()
            except StopIteration:
                recorder.finish()
                raise
            except Exception as exc:
                recorder.finish(exc)
                raise
            except BaseException:  # cancelled, interrupted: broken off, not failed
                recorder.finish()
                raise
            if not recorder.observe(item):
                return item

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_recorder.finish()

    def __enter__(self) -> SyncStreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_recorder.finish()

    def __del__(self) -> None:
        _finish_quietly(self)


class AsyncStreamProxy(_Proxy):
    """A provider ``AsyncStream`` that records its call when it ends."""

    def __init__(self, wrapped: Any, recorder: StreamRecorder) -> None:
        super().__init__(wrapped)
        self._self_recorder = recorder

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        recorder = self._self_recorder
        while True:
            try:
                item = await self.__wrapped__.__anext__()
            except StopAsyncIteration:
                recorder.finish()
                raise
            except Exception as exc:
                recorder.finish(exc)
                raise
            except BaseException:  # cancelled, interrupted: broken off, not failed
                recorder.finish()
                raise
            if not recorder.observe(item):
                return item

    async def close(self) -> None:
        try:
            result = self.__wrapped__.close()
            if inspect.isawaitable(result):  # LiteLLM's stream closes synchronously
                await result
        finally:
            self._self_recorder.finish()

    async def aclose(self) -> None:
        """An async generator's ``aclose()`` (Gemini's streams), then the call is recorded."""
        try:
            await self.__wrapped__.aclose()
        finally:
            self._self_recorder.finish()

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_recorder.finish()

    def __del__(self) -> None:
        _finish_quietly(self)
