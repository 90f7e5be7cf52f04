"""
The recording of one LLM call: its session, its span, its new input turns, its reply.

:meth:`LlmCall.begin` runs before the provider call (it snapshots the request);
:meth:`LlmCall.succeed` / :meth:`LlmCall.fail` run after it, or when a stream ends. The
turns themselves are built by the exporter's worker, in the session's event order.
Nothing here talks to the network.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import time
from typing import TYPE_CHECKING, Any, Callable, Hashable, Mapping, Optional, Union

from provenant._cost import price_reply
from provenant._logging import log_fault
from provenant.integrations._description import CallDescription, request_attributes
from provenant.integrations._extract import MessageCopies, ReplyInfo, RequestInfo, copy_request
from provenant.integrations._suppress import provider_recording_suppressed
from provenant.tracing._arguments import SessionOptions
from provenant.tracing._context import Frame, frame_path, get_frame
from provenant.tracing._resume import seed_resumed
from provenant.tracing._session import exit_status
from provenant.tracing._transcript import NormalizedMessage, last_assistant_index
from provenant.tracing._turns import Turn, recorded_content

if TYPE_CHECKING:
    from provenant.client import ProvenantClient
    from provenant.tracing._session import Session
    from provenant.tracing._span import Span

__all__ = ["ApiSpec", "Integration", "LlmCall"]


@dataclasses.dataclass(frozen=True)
class ApiSpec:
    """
    How to read one provider API.

    Args:
        provider: ``"anthropic"`` or ``"openai"``.
        name: A short name of the API (``"messages"``, ``"chat"``, ``"responses"``).
        read_request: ``(snapshot, stream=) -> RequestInfo``, run on the worker.
        read_reply: The provider's reply object -> ``ReplyInfo``.
        make_accumulator: ``(hide_usage_chunk) ->`` a stream accumulator.
        request_id_header: The response header carrying the provider's request id.
        read_error: The provider's exception -> ``ReplyInfo`` (what it tells of the
            call: LiteLLM's names the provider and model); ``None``: its request id.
        snapshot_request: ``(kwargs, copies=None) -> dict``, run on the caller's thread
            before the call: a copy of exactly the keyword arguments ``read_request``
            reads, their message dicts and lists copied (``copy_messages``), so that what
            the caller changes after the call is not what gets recorded. ``copies`` (the
            session's :class:`MessageCopies`, given when the function takes it) lets
            messages unchanged since the session's last call keep their copies. Name the
            provider's own; the default copies every keyword argument.
    """

    provider: str
    name: str
    read_request: Callable[..., RequestInfo]
    read_reply: Callable[[Any], ReplyInfo]
    make_accumulator: Callable[[bool], Any]
    request_id_header: str
    read_error: Optional[Callable[[BaseException], ReplyInfo]] = None
    snapshot_request: Callable[..., dict[str, Any]] = copy_request
    # Whether snapshot_request takes the session's message copies (decided once).
    takes_copies: bool = dataclasses.field(init=False, default=False, repr=False)

    def __post_init__(self) -> None:
        try:
            takes = "copies" in inspect.signature(self.snapshot_request).parameters
        except (TypeError, ValueError):
            takes = False
        object.__setattr__(self, "takes_copies", takes)


@dataclasses.dataclass(frozen=True)
class Integration:
    """
    The settings of one ``instrument()`` call, shared by the client and its copies.

    Args:
        provenant: The client that records (``None``: the default client, looked up at
            each call, so that ``provenant.configure()`` later is followed).
        session: The session options of ``tracer.session_for_call``.
        stream_usage: Ask OpenAI chat streams for usage, hiding the extra chunk.
    """

    provenant: Optional[ProvenantClient]
    session: SessionOptions
    stream_usage: bool

    def recorder(self) -> ProvenantClient:
        """The client that records this call."""
        if self.provenant is not None:
            return self.provenant
        from provenant._default import get_client

        return get_client()


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _error_info(exc: BaseException) -> dict[str, Any]:
    message = getattr(exc, "message", None)
    status = getattr(exc, "status_code", None)
    if status is None:  # google-genai's APIError names it ``code``
        code = getattr(exc, "code", None)
        status = code if isinstance(code, int) and not isinstance(code, bool) else None
    return {
        "type": type(exc).__name__,
        "status": status,
        "message": message if isinstance(message, str) else str(exc),
    }


def _trailing(messages: list[NormalizedMessage]) -> list[NormalizedMessage]:
    """The messages after the last assistant message: one call's own new input."""
    return messages[last_assistant_index(messages) + 1 :]


ReplySource = Union[ReplyInfo, Callable[[], ReplyInfo]]


def _read(source: ReplySource) -> ReplyInfo:
    return source if isinstance(source, ReplyInfo) else source()


class LlmCall:
    """
    One instrumented provider call, from its request to its reply (or its failure).

    The caller's thread only takes timestamps, snapshots the request and keeps the
    provider's reply; reading them into turns (normalisation, de-duplication, payload
    safety) is deferred work the exporter's worker runs in the session's event order
    (:meth:`provenant.tracing.Session.add_deferred`). A plain call enqueues one record
    (its new input, then its reply) when it ends; a stream enqueues its input when it
    starts and its reply when it ends, so turns recorded while it streams stay between.
    """

    __slots__ = (
        "_done",
        "_path",
        "api",
        "capture_content",
        "frame",
        "kwargs",
        "observed",
        "owned",
        "request",
        "session",
        "span",
        "started",
        "stream",
    )

    def __init__(
        self,
        api: ApiSpec,
        kwargs: dict[str, Any],
        session: Session,
        owned: bool,
        span: Optional[Span],
        frame: Optional[Frame],
        capture_content: bool,
        observed: bool,
        stream: bool,
        request: Optional[RequestInfo] = None,
    ) -> None:
        self.api = api
        self.kwargs = kwargs
        self.session = session
        self.owned = owned
        self.span = span
        self.frame = frame
        self.capture_content = capture_content
        self.observed = observed
        self.stream = stream
        self.request = request
        self._path: Optional[list[str]] = None
        self.started = time.perf_counter()
        # A plain call ends on its caller's thread; a stream's StreamRecorder serialises
        # its ends under its own lock. So a flag suffices here.
        self._done = False

    @classmethod
    def begin(
        cls, integration: Integration, api: ApiSpec, kwargs: Mapping[str, Any], *, stream: bool
    ) -> Optional[LlmCall]:
        """
        Open (or join) the session, snapshot the request, and start the call's span.

        Returns ``None`` when nothing is recorded (tracing disabled, session unsampled).
        Raises on a fault of ours: the caller then calls the provider untraced.
        """
        if provider_recording_suppressed():  # recorded above this client (a framework)
            return None
        tracer = integration.recorder()._tracer
        if not tracer.enabled:
            return None
        session, owned = tracer.session_for_call(integration.session)
        try:
            if not session.sampled:
                if owned:
                    session.end()
                return None
            if api.takes_copies:
                # A session's calls resend its history: unchanged messages keep their
                # copies. Single-call sessions share their tracer's.
                holder: Any = tracer if owned else session
                copies = holder._message_copies
                if copies is None:
                    copies = holder._message_copies = MessageCopies()
                snapshot = api.snapshot_request(kwargs, copies=copies)
            else:
                snapshot = api.snapshot_request(kwargs)
            # A frame's path never changes: the worker reads the span path from it.
            frame = None if owned else get_frame()
            span: Optional[Span] = None
            request: Optional[RequestInfo] = None
            # Span attributes are read only by observers (the OpenTelemetry export): with
            # none, no span is built at all.
            observed = bool(tracer._observers)
            capture = observed and bool(tracer.capture_content)
            if observed:
                request = api.read_request(snapshot, stream=stream)
                attributes = request_attributes(
                    api.provider, request, stream=stream, capture_content=capture
                )
                span = tracer.start_span(
                    f"chat {request.model}" if request.model else "chat",
                    kind="llm",
                    session=session,
                    attributes=attributes,
                )
            call = cls(api, snapshot, session, owned, span, frame, capture, observed, stream)
            call.request = request
            if stream:
                session.add_deferred(call._input_turns)
        except BaseException:
            if owned:
                session.end("FAILED")
            raise
        return call

    def restart_clock(self) -> None:
        """Measure latency from now (a stream helper sends its request when entered)."""
        self.started = time.perf_counter()

    def _claim(self) -> bool:
        if self._done:
            return False
        self._done = True
        return True

    def succeed(
        self,
        reply: ReplySource,
        *,
        stream_metadata: Optional[Mapping[str, Any]] = None,
        error: Optional[BaseException] = None,
    ) -> None:
        """
        Record the reply (exactly once), end the span, end an owned session; never raises.

        Args:
            reply: The reply, or a function that reads it (called by the worker, or at
                once when observers need it for the span).
            stream_metadata: A stream's own metadata (time to first token...).
            error: The provider's exception, if the call failed.
        """
        if not self._claim():
            return
        try:
            latency_ms = _ms(time.perf_counter() - self.started)
            if self.observed:
                reply = _read(reply)  # the span's attributes need it now
            self.session.add_deferred(
                functools.partial(self._turns, reply, latency_ms, stream_metadata, error)
            )
            if self.span is not None:
                self._end_span(_read(reply), stream_metadata, error)
        except Exception as exc:
            record_fault("record-reply", exc)
        finally:
            if self.owned:
                self.session.end(exit_status(error) or "COMPLETED")

    def fail(self, exc: BaseException) -> None:
        """Record the provider's exception as an empty ASSISTANT turn with ``metadata.error``."""
        if self.api.read_error is not None:
            reply = self.api.read_error(exc)
        else:
            reply = ReplyInfo(request_id=getattr(exc, "request_id", None))
        self.succeed(reply, error=exc)

    # -- deferred: run by the exporter's worker, in the session's order -----------------

    def _request_info(self) -> RequestInfo:
        request = self.request
        if request is None:
            request = self.request = self.api.read_request(self.kwargs, stream=self.stream)
        return request

    def _span_path(self) -> Optional[list[str]]:
        path = self._path
        if path is None:
            frame = self.frame
            session = self.session
            path = self._path = frame_path(frame) if frame and frame.session is session else []
        return path

    def _input_turns(self) -> list[Turn]:
        """The turns of what is new in the request (transcript de-duplication)."""
        request = self._request_info()
        session = self.session
        messages = _trailing(request.messages) if self.owned else request.messages
        seed_resumed(session)  # a resumed session: its earlier turns, read once
        transcript = session.transcript
        root: Optional[Hashable] = request.root
        if request.conversation is not None:
            root = transcript.conversation_root(request.conversation)
        system_changed, new = transcript.select_new(request.system, messages, root=root)
        path = self._span_path()
        bodies: list[Optional[Turn]] = []
        if system_changed:
            bodies.append(session.build_turn("SYSTEM", request.system, span_path=path))
        for message in new:
            metadata = (
                None if message.tool_call_id is None else {"toolCallId": message.tool_call_id}
            )
            bodies.append(
                session.build_turn(message.role, message.content, metadata=metadata, span_path=path)
            )
        return [body for body in bodies if body is not None]

    def _turns(
        self,
        source: ReplySource,
        latency_ms: int,
        stream_metadata: Optional[Mapping[str, Any]],
        error: Optional[BaseException],
    ) -> list[Turn]:
        """A plain call's input turns then its reply; a stream's reply (its input went first)."""
        bodies = [] if self.stream else self._input_turns()
        reply = _read(source)
        request = self._request_info()
        described = CallDescription(self.api.provider, request, reply, stream=self.stream)
        metadata = described.turn_metadata()
        if self.session._processor is not None:  # on the worker (see add_deferred): price it
            cost = price_reply(
                self.session._tracer.settings.prices,
                self.api.provider,
                described.model,
                reply,
                self.started,
                request.model,
            )
            metadata.update(cost)
            self.session._add_cost(cost)
        if reply.thinking:
            # Content: masked and cut as the turn's text is (left out with capture off).
            metadata["thinking"] = recorded_content(self.session._tracer.settings, reply.thinking)
        if stream_metadata:
            metadata.update(stream_metadata)
        if error is not None:
            metadata["error"] = _error_info(error)
        body = self.session.build_turn(
            "ASSISTANT",
            reply.text,
            tool_calls=reply.tool_calls or None,
            latency_ms=latency_ms,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            metadata=metadata,
            span_path=self._span_path(),
        )
        # No transcript.note_reply(): replies are not part of the chain (see _transcript).
        if body is not None:
            bodies.append(body)
        if error is None and request.conversation is not None:
            self.session.transcript.note_answered(request.conversation)
        return bodies

    def _end_span(
        self,
        reply: ReplyInfo,
        stream_metadata: Optional[Mapping[str, Any]],
        error: Optional[BaseException],
    ) -> None:
        span = self.span
        if span is None:
            return
        try:
            described = CallDescription(
                self.api.provider, self._request_info(), reply, stream=self.stream
            )
            ttft = stream_metadata.get("timeToFirstTokenMs") if stream_metadata else None
            span.set_attributes(
                described.span_attributes(
                    capture_content=self.capture_content, time_to_first_token_ms=ttft
                )
            )
        finally:
            span.end(error=error, status="error" if error is not None else None)


def record_fault(kind: str, exc: BaseException) -> None:
    """Log a fault of ours around a provider call (rate-limited, never raises)."""
    log_fault(
        f"instrument-{kind}", f"could not record an LLM call ({kind}); it was not traced", exc
    )
