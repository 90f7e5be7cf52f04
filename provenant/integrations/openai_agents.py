"""
Record OpenAI Agents SDK runs: install a tracing processor in one line.

::

    import provenant as prov
    from provenant.integrations import openai_agents

    openai_agents.install()                     # or:
    # agents.add_trace_processor(openai_agents.ProvenantTracingProcessor())

    result = await Runner.run(agent, "What's the weather in Paris?")

Each run (each Agents SDK trace: a ``Runner.run`` / ``run_sync`` / ``run_streamed``, or
a ``with agents.trace(...)`` block around several) is one session, or joins the active
``provenant.session()`` / ``@provenant.trace``. The model calls are USER / ASSISTANT turns
(tokens, latency, tool calls; history de-duplicated), each function tool call and each
handoff a TOOL turn, and agents, handoffs and guardrails are spans on the turns recorded
inside them. A model call is recorded once even when the OpenAI client underneath is
instrumented too. A run that raises ends its session ``FAILED``.

The processor is called by the SDK on the run's own task; it only keeps a few ids and
enqueues work, and a fault inside it is logged (``provenant`` logger), never raised.

Requires the ``openai-agents`` extra: ``pip install 'provenant-sdk[openai-agents]'``.

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from contextvars import Token
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

try:
    from agents import tracing as _agents_tracing
    from agents.tracing import (
        AgentSpanData,
        FunctionSpanData,
        GenerationSpanData,
        GuardrailSpanData,
        HandoffSpanData,
        ResponseSpanData,
        TaskSpanData,
        TracingProcessor,
        TurnSpanData,
    )
except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
    raise ImportError(
        "provenant.integrations.openai_agents needs the OpenAI Agents SDK: "
        "pip install 'provenant-sdk[openai-agents]'"
    ) from exc

from provenant._logging import log_fault
from provenant.integrations import _suppress
from provenant.integrations._agents_spans import (
    GENERATION,
    SpanFailure,
    describe,
    end_model_call,
    end_status,
    mcp_metadata,
    new_exception,
)
from provenant.integrations._call import LlmCall
from provenant.integrations._extract import parse_arguments
from provenant.integrations._framework import (
    child_frame,
    end_span,
    model_call,
    now_ms,
    open_session,
    record_tool,
    recorder,
    root_frame,
)
from provenant.integrations.openai import RESPONSES
from provenant.tracing._arguments import check_session_arguments
from provenant.tracing._context import Frame, get_frame, reset_current, set_frame

if TYPE_CHECKING:
    from agents.tracing import Span as AgentsSpan
    from agents.tracing import Trace

    from provenant.client import ProvenantClient
    from provenant.tracing._session import Session
    from provenant.tracing._span import Span

__all__ = ["ProvenantTracingProcessor", "install", "uninstall"]


class _Run:
    """One Agents SDK trace: the session it records into, opened at its first span."""

    __slots__ = ("baseline", "frame", "joined", "lock", "owned", "session", "trace")

    def __init__(self, trace: Trace, joined: Optional[Frame]) -> None:
        self.trace = trace
        self.lock = threading.Lock()
        self.joined = joined  # the provenant frame current where the trace started
        self.baseline = sys.exc_info()[1]
        self.session: Optional[Session] = None
        self.frame: Optional[Frame] = None
        self.owned = False


class _Node:
    """One Agents SDK span as recorded: its frame, span, and what its end needs."""

    __slots__ = ("baseline", "call", "frame", "span", "started_ms", "suppress_token", "token")

    def __init__(self, frame: Frame, span: Optional[Span]) -> None:
        self.frame = frame
        self.span = span
        self.started_ms = now_ms()
        self.baseline = sys.exc_info()[1]
        self.call: Optional[LlmCall] = None
        self.token: Optional[Token[Any]] = None
        self.suppress_token: Optional[Token[bool]] = None


class ProvenantTracingProcessor(TracingProcessor):
    """
    An Agents SDK ``TracingProcessor`` that records runs into Provenant sessions.

    Register it with :func:`install` or ``agents.add_trace_processor(...)``; the SDK's own
    processors (its exporter to the OpenAI dashboard) keep running beside it.

    Args:
        agent_id: The agent of the sessions runs open (default: the client's default
            agent, else the name of the run's first agent).
        provenant: The :class:`~provenant.ProvenantClient` to record with (default: the
            default client, looked up at each run).
        user_id: ``userId`` of the sessions runs open.
        agent_version_id: ``agentVersionId`` of those sessions.
        environment_id: ``environmentId`` of those sessions.
        metadata: More ``metadata`` of those sessions.
        tags: ``tags`` of those sessions.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        agent_id: Optional[str] = None,
        provenant: Optional[ProvenantClient] = None,
        user_id: Optional[str] = None,
        agent_version_id: Optional[str] = None,
        environment_id: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        tags: Optional[Sequence[str]] = None,
    ) -> None:
        # The agent is resolved per run (a framework names its own): not in the options.
        self._options = check_session_arguments(
            "ProvenantTracingProcessor()",
            agent_id,
            user_id=user_id,
            agent_version_id=agent_version_id,
            environment_id=environment_id,
            metadata=metadata,
            tags=tags,
        )._replace(agent_id=None)
        self._agent_id = agent_id
        self._provenant = provenant
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._nodes: dict[str, _Node] = {}
        self._skipped: dict[str, Optional[str]] = {}  # span id -> its parent's (task/turn)

    # -- traces -------------------------------------------------------------------------

    def on_trace_start(self, trace: Trace) -> None:
        """Remember the trace; its session opens (or joins) at its first span."""
        try:
            run = _Run(trace, get_frame())
            with self._lock:
                self._runs[trace.trace_id] = run
        except Exception as exc:
            _fault("trace-start", exc)

    def on_trace_end(self, trace: Trace) -> None:
        """End the session the trace opened: ``FAILED`` when the run raised."""
        try:
            with self._lock:
                run = self._runs.pop(trace.trace_id, None)
            if run is None or run.session is None or not run.owned:
                return
            run.session.end(end_status(new_exception(run.baseline)))
        except Exception as exc:
            _fault("trace-end", exc)

    def _open(self, run: _Run, first: Any) -> Optional[Frame]:
        """The frame a trace's spans hang from: its joined session's, or a new session's."""
        if run.frame is not None or run.session is not None:
            return run.frame
        joined = run.joined
        if joined is not None:
            run.session = joined.session
            if not run.session.sampled:
                return None
            run.frame = joined
            return joined
        tracer = recorder(self._provenant)._tracer
        trace = run.trace
        agent = self._agent_id or tracer.settings.agent_id
        if agent is None:
            data = first.span_data
            agent = data.name if isinstance(data, AgentSpanData) else trace.name
        metadata: dict[str, Any] = {
            "framework": "openai-agents",
            "traceId": trace.trace_id,
            "workflowName": trace.name,
        }
        group_id = getattr(trace, "group_id", None)
        if group_id:
            metadata["groupId"] = group_id
        trace_metadata = getattr(trace, "metadata", None)
        if trace_metadata:
            metadata["traceMetadata"] = trace_metadata
        session = open_session(tracer, agent, metadata=metadata, options=self._options)
        run.owned = session is not None
        if session is None:
            return None
        run.session = session
        run.frame = root_frame(session)
        return run.frame

    # -- spans --------------------------------------------------------------------------

    def on_span_start(self, span: AgentsSpan[Any]) -> None:
        """Map the span under its parent: a provenant span, a tool, or a model call."""
        try:
            self._start(span)
        except Exception as exc:
            _fault("span-start", exc)

    def _parent_frame(self, span: AgentsSpan[Any], run: _Run) -> Optional[Frame]:
        parent_id = span.parent_id
        with self._lock:
            while parent_id is not None and parent_id in self._skipped:
                parent_id = self._skipped[parent_id]
            node = self._nodes.get(parent_id) if parent_id is not None else None
        if node is not None:
            return node.frame
        with run.lock:  # spans of one trace may start on several threads at once
            return self._open(run, span)

    def _start(self, span: AgentsSpan[Any]) -> None:
        with self._lock:
            run = self._runs.get(span.trace_id)
        if run is None:
            return  # a trace started before the processor was added
        data = span.span_data
        if isinstance(data, (TaskSpanData, TurnSpanData)):
            with self._lock:  # bookkeeping spans: their children hang from their parent
                self._skipped[span.span_id] = span.parent_id
            return
        parent = self._parent_frame(span, run)
        if parent is None:
            return  # not recorded (disabled or not sampled)
        node: _Node
        if isinstance(data, (ResponseSpanData, GenerationSpanData)):
            name = "response" if isinstance(data, ResponseSpanData) else "generation"
            api = RESPONSES if isinstance(data, ResponseSpanData) else GENERATION
            node = _Node(parent, None)
            node.call = model_call(parent, api, name=name)
            # The OpenAI client underneath (if instrumented) must not record it again.
            node.suppress_token = _suppress.suppress()
        else:
            name, kind, attributes = describe(data)
            frame, our_span = child_frame(parent, name, kind, attributes)
            node = _Node(frame, our_span)
            if kind in ("tool", "step"):
                # Tool bodies and guardrails run the user's code: what it records (a traced
                # function, an instrumented call) joins the session, in this span.
                node.token = set_frame(frame)
        with self._lock:
            self._nodes[span.span_id] = node

    def on_span_end(self, span: AgentsSpan[Any]) -> None:
        """Record what the span did (a model call's turns, a tool's TOOL turn) and end it."""
        try:
            with self._lock:
                node = self._nodes.pop(span.span_id, None)
                self._skipped.pop(span.span_id, None)
            if node is None:
                return
            try:
                self._end(span, node)
            finally:
                if node.token is not None:
                    _reset(node.token)
                _suppress.restore(node.suppress_token)
        except Exception as exc:
            _fault("span-end", exc)

    def _end(self, span: AgentsSpan[Any], node: _Node) -> None:
        data = span.span_data
        error = span.error
        latency_ms = round(now_ms() - node.started_ms)
        call = node.call
        if call is not None:
            end_model_call(call, data, error, new_exception(node.baseline))
            return
        failure = SpanFailure(error) if error is not None else None
        if isinstance(data, FunctionSpanData):
            record_tool(
                node.frame,
                data.name,
                parse_arguments(data.input) if data.input is not None else None,
                data.output,
                latency_ms=latency_ms,
                error=str(failure) if failure is not None else None,
                extra=mcp_metadata(data),
            )
        elif isinstance(data, HandoffSpanData):
            _record_handoff(node, data, latency_ms)
        elif isinstance(data, GuardrailSpanData) and node.span is not None:
            node.span.set_attribute("triggered", bool(data.triggered))
        end_span(node.span, error=failure)

    def shutdown(self) -> None:
        """Nothing to release: delivery belongs to the Provenant client."""

    def force_flush(self) -> None:
        """Deliver what was recorded (bounded wait), as :func:`provenant.flush` does."""
        try:
            recorder(self._provenant).flush()
        except Exception as exc:
            _fault("flush", exc)


def _record_handoff(node: _Node, data: HandoffSpanData, latency_ms: int) -> None:
    """A handoff is the SDK answering the model's transfer call: a TOOL turn in its span."""
    target = data.to_agent
    frame = node.frame
    if target is not None:
        frame = Frame(f"handoff to {target}", frame.kind, frame.parent, frame.session, frame.span)
        if node.span is not None:
            node.span.name = frame.name
            node.span.set_attribute("to_agent", target)
    # The SDK's transfer message (``Handoff.get_transfer_message``): noted as the result,
    # so that the same output sent back to the next agent's model is not recorded again.
    output = json.dumps({"assistant": target}) if target is not None else None
    record_tool(
        frame,
        "handoff",
        None,
        output,
        latency_ms=latency_ms,
        extra={"handoff": {"from": data.from_agent, "to": target}},
    )


def _reset(token: Token[Any]) -> None:
    # Ended in another context than it started in: nothing of ours to undo there.
    with contextlib.suppress(ValueError):
        reset_current(token)


def _fault(kind: str, exc: BaseException) -> None:
    log_fault(
        f"openai-agents-{kind}",
        f"could not record an OpenAI Agents SDK event ({kind}); the run goes on",
        exc,
    )


_installed: Optional[ProvenantTracingProcessor] = None
_install_lock = threading.Lock()


def install(
    *,
    agent_id: Optional[str] = None,
    provenant: Optional[ProvenantClient] = None,
    user_id: Optional[str] = None,
    agent_version_id: Optional[str] = None,
    environment_id: Optional[str] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    tags: Optional[Sequence[str]] = None,
) -> ProvenantTracingProcessor:
    """
    Record every Agents SDK run of the process: add a :class:`ProvenantTracingProcessor`.

    A second call returns the processor already installed (call :func:`uninstall` first
    to change its settings). The arguments are those of the processor.

    Returns:
        The processor, added with ``agents.add_trace_processor``.

    .. versionadded:: 0.1
    """
    global _installed
    with _install_lock:
        if _installed is None:
            processor = ProvenantTracingProcessor(
                agent_id=agent_id,
                provenant=provenant,
                user_id=user_id,
                agent_version_id=agent_version_id,
                environment_id=environment_id,
                metadata=metadata,
                tags=tags,
            )
            _agents_tracing.add_trace_processor(processor)
            _installed = processor
        return _installed


def uninstall() -> None:
    """
    Remove the processor :func:`install` added (the SDK's other processors stay).

    .. versionadded:: 0.1
    """
    global _installed
    with _install_lock:
        processor, _installed = _installed, None
        if processor is None:
            return
        provider = _agents_tracing.get_trace_provider()
        remove = getattr(provider, "_multi_processor", None)
        processors = list(getattr(remove, "_processors", ()))
        if processor in processors:
            processors.remove(processor)
            provider.set_processors(processors)
