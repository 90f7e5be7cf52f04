"""
The recording of one LLM call: its session, its span, its new input turns, its reply.

:meth:`LlmCall.begin` runs before the provider call (what is new in the request goes
into the session at once); :meth:`LlmCall.succeed` / :meth:`LlmCall.fail` run after it,
or when a stream ends. Nothing here talks to the network: turns are enqueued.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

from provenant._logging import log_fault
from provenant.integrations._extract import ReplyInfo, RequestInfo
from provenant.tracing._context import current_span_path
from provenant.tracing._transcript import NormalizedMessage

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
        read_request: ``(kwargs, stream=) -> RequestInfo``.
        read_reply: The provider's reply object -> ``ReplyInfo``.
        make_accumulator: ``(hide_usage_chunk) ->`` a stream accumulator.
        request_id_header: The response header carrying the provider's request id.
    """

    provider: str
    name: str
    read_request: Callable[..., RequestInfo]
    read_reply: Callable[[Any], ReplyInfo]
    make_accumulator: Callable[[bool], Any]
    request_id_header: str


@dataclasses.dataclass(frozen=True)
class Integration:
    """
    The settings of one ``instrument()`` call, shared by the client and its copies.

    Args:
        provenant: The client that records (``None``: the default client, looked up at
            each call, so that ``provenant.configure()`` later is followed).
        session_kwargs: The arguments of ``tracer.session_for_call``.
        stream_usage: Ask OpenAI chat streams for usage, hiding the extra chunk.
    """

    provenant: Optional[ProvenantClient]
    session_kwargs: Mapping[str, Any]
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
    return {
        "type": type(exc).__name__,
        "status": getattr(exc, "status_code", None),
        "message": message if isinstance(message, str) else str(exc),
    }


def _trailing(messages: list[NormalizedMessage]) -> list[NormalizedMessage]:
    """The messages after the last assistant message: one call's own new input."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "ASSISTANT":
            return messages[index + 1 :]
    return messages


class LlmCall:
    """One instrumented provider call, from its request to its reply (or its failure)."""

    def __init__(
        self,
        api: ApiSpec,
        request: RequestInfo,
        session: Session,
        owned: bool,
        span: Span,
        span_path: list[str],
        capture_content: bool,
        observed: bool = True,
    ) -> None:
        self.api = api
        self.request = request
        self.session = session
        self.owned = owned
        self.span = span
        self.span_path = span_path
        self.capture_content = capture_content
        self.observed = observed
        self.started = time.perf_counter()
        # A plain call ends on its caller's thread; a stream's StreamRecorder serialises
        # its ends under its own lock. So a flag suffices here.
        self._done = False

    @classmethod
    def begin(
        cls, integration: Integration, api: ApiSpec, kwargs: Mapping[str, Any], *, stream: bool
    ) -> Optional[LlmCall]:
        """
        Open (or join) the session, record the call's new input, and start its span.

        Returns ``None`` when nothing is recorded (tracing disabled, session unsampled).
        Raises on a fault of ours: the caller then calls the provider untraced.
        """
        tracer = integration.recorder()._tracer
        if not tracer.enabled:
            return None
        session, owned = tracer.session_for_call(**integration.session_kwargs)
        try:
            if not session.sampled:
                if owned:
                    session.end()
                return None
            request = api.read_request(kwargs, stream=stream)
            messages = _trailing(request.messages) if owned else request.messages
            system_changed, new = session.transcript.select_new(
                request.system, messages, root=request.root
            )
            # Input turns carry no metadata of ours (each costs a JSON pass on the hot
            # path); the session adds the span path itself while a traced call runs.
            if system_changed:
                session.add_turn("SYSTEM", request.system)
            for message in new:
                if message.tool_call_id is None:
                    session.add_turn(message.role, message.content)
                else:
                    metadata = {"toolCallId": message.tool_call_id}
                    session.add_turn(message.role, message.content, metadata=metadata)
            path = [] if owned else current_span_path()
            # Span attributes are read only by observers (the OpenTelemetry export): the
            # costly ones (messages) are built only when someone will read them.
            observed = bool(getattr(tracer, "_observers", True))
            capture = observed and bool(tracer.capture_content)
            attributes: dict[str, Any] = {
                "provider": api.provider,
                "operation": "chat",
                "request_model": request.model,
                "stream": stream,
            }
            if capture:
                attributes["input_messages"] = _span_messages(request)
            span = tracer.start_span(
                f"chat {request.model}" if request.model else "chat",
                kind="llm",
                session=session,
                attributes=attributes,
            )
        except BaseException:
            if owned:
                session.end("FAILED")
            raise
        return cls(api, request, session, owned, span, path, capture, observed)

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
        reply: ReplyInfo,
        *,
        stream_metadata: Optional[Mapping[str, Any]] = None,
        error: Optional[BaseException] = None,
    ) -> None:
        """Record the reply (exactly once), end the span, end an owned session; never raises."""
        if not self._claim():
            return
        try:
            self._record(reply, stream_metadata, error)
        except Exception as exc:
            record_fault("record-reply", exc)
        finally:
            if self.owned:
                self.session.end("FAILED" if error is not None else "COMPLETED")

    def fail(self, exc: BaseException) -> None:
        """Record the provider's exception as an empty ASSISTANT turn with ``metadata.error``."""
        reply = ReplyInfo(request_id=getattr(exc, "request_id", None))
        self.succeed(reply, error=exc)

    def _record(
        self,
        reply: ReplyInfo,
        stream_metadata: Optional[Mapping[str, Any]],
        error: Optional[BaseException],
    ) -> None:
        request = self.request
        latency_ms = _ms(time.perf_counter() - self.started)
        metadata: dict[str, Any] = {
            "model": reply.model or request.model,
            "provider": self.api.provider,
            "stream": request.stream,
        }
        if reply.stop_reason is not None:
            metadata["stopReason"] = reply.stop_reason
        if reply.request_id is not None:
            metadata["requestId"] = reply.request_id
        if reply.response_id is not None:
            metadata["responseId"] = reply.response_id
        if stream_metadata:
            metadata.update(stream_metadata)
        if error is not None:
            metadata["error"] = _error_info(error)
        if self.span_path:
            metadata["span"] = self.span_path
        self.session.add_turn(
            "ASSISTANT",
            reply.text,
            tool_calls=reply.tool_calls or None,
            latency_ms=latency_ms,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            metadata=metadata,
        )
        # No transcript.note_reply(): replies are not part of the chain (see _transcript).
        self._end_span(reply, stream_metadata, error)

    def _end_span(
        self,
        reply: ReplyInfo,
        stream_metadata: Optional[Mapping[str, Any]],
        error: Optional[BaseException],
    ) -> None:
        try:
            if not self.observed:
                return
            attributes: dict[str, Any] = {
                "response_model": reply.model,
                "response_id": reply.response_id,
                "finish_reasons": [reply.stop_reason] if reply.stop_reason else [],
                "input_tokens": reply.input_tokens,
                "output_tokens": reply.output_tokens,
                "tool_calls": [
                    {"id": c.get("id"), "name": c.get("name"), "arguments": c.get("arguments")}
                    for c in reply.tool_calls
                ],
            }
            if stream_metadata and "timeToFirstTokenMs" in stream_metadata:
                attributes["time_to_first_token_ms"] = stream_metadata["timeToFirstTokenMs"]
            if self.capture_content:
                attributes["output_messages"] = [{"role": "assistant", "content": reply.text}]
            self.span.set_attributes({k: v for k, v in attributes.items() if v is not None})
        finally:
            self.span.end(error=error, status="error" if error is not None else None)


def _span_messages(request: RequestInfo) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if request.system is not None:
        messages.append({"role": "system", "content": request.system})
    for message in request.messages:
        messages.append({"role": message.role.lower(), "content": message.content})
    return messages


def record_fault(kind: str, exc: BaseException) -> None:
    """Log a fault of ours around a provider call (rate-limited, never raises)."""
    log_fault(
        f"instrument-{kind}", f"could not record an LLM call ({kind}); it was not traced", exc
    )
