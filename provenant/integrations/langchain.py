"""
Record LangChain and LangGraph runs with a callback handler.

::

    from provenant.integrations.langchain import ProvenantCallbackHandler

    handler = ProvenantCallbackHandler(agent_id="Support Bot")
    graph.invoke(inputs, config={"callbacks": [handler], "configurable": {"thread_id": "t1"}})

    # or for every run of the process:
    from provenant.integrations import langchain as prov_langchain
    prov_langchain.install(agent_id="Support Bot")

A chain or graph invocation opens a session, or joins the active ``provenant.session()``
/ ``@provenant.trace``. A LangGraph ``thread_id`` is one session across invocations (a
chat over a checkpointer), until :meth:`ProvenantCallbackHandler.end_thread` or
:meth:`~ProvenantCallbackHandler.close`. Chat model calls are USER / ASSISTANT turns
(history de-duplicated; recorded once even when the provider client is instrumented
too), tool runs TOOL turns, graph nodes and chains spans. An invocation that raises ends
its session ``FAILED``; the error propagates unchanged. Sync, async and streaming
(``stream``, ``astream``, ``astream_events``) alike.

The handler runs inline (``run_inline``): it only keeps run ids and enqueues work, and a
fault inside it is logged (``provenant`` logger), never raised.

Requires the ``langchain`` extra: ``pip install 'provenant-sdk[langchain]'``.

.. versionadded:: 0.1
"""

from __future__ import annotations

import collections
import contextlib
import threading
import weakref
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence, cast
from uuid import UUID

try:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.tracers.context import register_configure_hook
except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
    raise ImportError(
        "provenant.integrations.langchain needs langchain-core: "
        "pip install 'provenant-sdk[langchain]'"
    ) from exc

from provenant.integrations import _suppress
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
from provenant.integrations._langchain_read import api_for, read_reply
from provenant.integrations._langchain_runs import (
    RunNode,
    RunRoot,
    end_status,
    error_text,
    fault,
    is_interrupt,
    is_span,
    run_name,
)
from provenant.tracing._arguments import check_session_arguments
from provenant.tracing._context import Frame, get_frame, reset_current, set_frame

if TYPE_CHECKING:
    from provenant.client import ProvenantClient
    from provenant.tracing._session import Session

__all__ = ["ProvenantCallbackHandler", "install", "uninstall"]

# Thread sessions kept open at once: past this many, the least recently used is ended.
_MAX_THREADS = 1024


class ProvenantCallbackHandler(BaseCallbackHandler):
    """
    A LangChain callback handler recording chains, graphs, chat models and tools.

    Pass it in ``config={"callbacks": [handler]}`` of any runnable, or turn it on for the
    whole process with :func:`install`. One handler may serve many concurrent runs.

    Args:
        agent_id: The agent of the sessions invocations open (default: the client's
            default agent, else the invoked chain's or graph's name).
        provenant: The :class:`~provenant.ProvenantClient` to record with (default: the
            default client, looked up at each invocation).
        user_id: ``userId`` of the sessions invocations open.
        agent_version_id: ``agentVersionId`` of those sessions.
        environment_id: ``environmentId`` of those sessions.
        metadata: More ``metadata`` of those sessions.
        tags: ``tags`` of those sessions.

    .. versionadded:: 0.1
    """

    run_inline = True  # called on the run's own thread and task: never run in an executor
    raise_error = False

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
            "ProvenantCallbackHandler()",
            agent_id,
            user_id=user_id,
            agent_version_id=agent_version_id,
            environment_id=environment_id,
            metadata=metadata,
            tags=tags,
        )._replace(agent_id=None)
        super().__init__()
        self._agent_id = agent_id
        self._provenant = provenant
        self._lock = threading.Lock()
        self._nodes: dict[UUID, RunNode] = {}
        self._skipped: dict[UUID, Optional[UUID]] = {}  # run id -> its parent's (no span)
        self._threads: collections.OrderedDict[str, Session] = collections.OrderedDict()
        # Per session: the tool call ids whose results a tool run recorded (read by the
        # worker when it reads the next chat model call's messages).
        self._tool_ids: weakref.WeakKeyDictionary[Session, set[str]] = weakref.WeakKeyDictionary()

    # -- threads ------------------------------------------------------------------------

    def end_thread(self, thread_id: str, status: str = "COMPLETED") -> None:
        """
        End the session of a LangGraph thread (the next invocation on it opens a new one).

        .. versionadded:: 0.1
        """
        with self._lock:
            session = self._threads.pop(thread_id, None)
        if session is not None:
            self._forget(session)
            session.end(status)

    def close(self) -> None:
        """
        End every thread session this handler keeps open.

        .. versionadded:: 0.1
        """
        with self._lock:
            threads = list(self._threads)
        for thread_id in threads:
            self.end_thread(thread_id)

    def _forget(self, session: Session) -> None:
        with self._lock:
            self._tool_ids.pop(session, None)

    # -- where a run records ------------------------------------------------------------

    def _parent(self, parent_run_id: Optional[UUID]) -> Optional[RunNode]:
        with self._lock:
            while parent_run_id is not None and parent_run_id in self._skipped:
                parent_run_id = self._skipped[parent_run_id]
            return self._nodes.get(parent_run_id) if parent_run_id is not None else None

    def _open_root(
        self, name: str, metadata: Optional[Mapping[str, Any]]
    ) -> Optional[tuple[Frame, RunRoot, bool]]:
        """A run with no recorded parent: ``(parent frame, root, joined)`` or ``None``."""
        joined = get_frame()
        if joined is not None:
            session = joined.session
            if not session.sampled:
                return None
            return joined, RunRoot(session, False, None), True
        thread = metadata.get("thread_id") if metadata else None
        thread_id = str(thread) if isinstance(thread, (str, int)) else None
        if thread_id is not None:
            with self._lock:
                kept = self._threads.get(thread_id)
                if kept is not None and not kept.ended:
                    self._threads.move_to_end(thread_id)
                    return root_frame(kept), RunRoot(kept, False, thread_id), False
        tracer = recorder(self._provenant)._tracer
        agent = self._agent_id or tracer.settings.agent_id or name
        extra: dict[str, Any] = {"framework": "langchain", "runName": name}
        if thread_id is not None:
            extra["threadId"] = thread_id
        opened = open_session(tracer, agent, metadata=extra, options=self._options)
        if opened is None:
            return None
        if thread_id is None:
            return root_frame(opened), RunRoot(opened, True, None), False
        evicted: Optional[Session] = None
        with self._lock:
            self._threads[thread_id] = opened
            if len(self._threads) > _MAX_THREADS:
                evicted = self._threads.popitem(last=False)[1]
        if evicted is not None:
            self._forget(evicted)
            evicted.end()
        return root_frame(opened), RunRoot(opened, False, thread_id), False

    def _begin(
        self,
        run_id: UUID,
        parent_run_id: Optional[UUID],
        name: str,
        kind: str,
        metadata: Optional[Mapping[str, Any]],
        attributes: Optional[Mapping[str, Any]] = None,
        *,
        own_span: bool = True,
    ) -> Optional[RunNode]:
        """Map a run under its parent; a root run opens or joins its session."""
        parent = self._parent(parent_run_id)
        root: Optional[RunRoot] = None
        if parent is not None:
            parent_frame = parent.frame
            joined = False
        else:
            opened = self._open_root(name, metadata)
            if opened is None:
                return None
            parent_frame, root, joined = opened
            # The invocation that opened its session is that session's root span.
            own_span = own_span and (joined or kind != "step")
        if own_span:
            frame, span = child_frame(parent_frame, name, kind, attributes)
        else:
            frame, span = parent_frame, None
        node = RunNode(frame, span, name)
        node.root = root
        with self._lock:
            self._nodes[run_id] = node
        return node

    def _finish(
        self,
        run_id: UUID,
        error: Optional[BaseException] = None,
        record: Optional[Callable[[RunNode], None]] = None,
    ) -> Optional[RunNode]:
        """Forget a run, end its span, run ``record`` (its call's turns), and end the
        session it owns: the end follows the run's turns."""
        with self._lock:
            node = self._nodes.pop(run_id, None)
            self._skipped.pop(run_id, None)
        if node is None:
            return None
        if node.token is not None:
            with contextlib.suppress(ValueError):  # ended in another context than begun
                reset_current(node.token)
        _suppress.restore(node.suppress_token)
        failed = error is not None and not is_interrupt(error)
        end_span(node.span, error=error if failed else None)
        if record is not None:
            try:
                record(node)
            except Exception as exc:  # the session still ends
                fault("llm-record", exc)
        root = node.root
        if root is not None:
            status = end_status(error)
            if root.owned:
                self._forget(root.session)
                root.session.end(status)
            elif root.thread_id is not None and status != "COMPLETED":
                self.end_thread(root.thread_id, status)
        return node

    # -- chains and graph nodes ---------------------------------------------------------

    def on_chain_start(
        self,
        serialized: Optional[dict[str, Any]],
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: Optional[UUID] = None,
        tags: Optional[list[str]] = None,
        metadata: Optional[dict[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        """A chain, a graph or a graph node starts: a span (nodes and named chains)."""
        try:
            name = run_name(serialized, kwargs, "chain")
            if parent_run_id is not None:
                parent = self._parent(parent_run_id)
                if parent is not None and not is_span(name, tags, metadata, parent.name):
                    with self._lock:
                        self._skipped[run_id] = parent_run_id
                    return
            self._begin(run_id, parent_run_id, name, "step", metadata)
        except Exception as exc:
            fault("chain-start", exc)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain ends (an invocation that opened its session ends it)."""
        try:
            self._finish(run_id)
        except Exception as exc:
            fault("chain-end", exc)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain raised: its span errs; an invocation's session ends ``FAILED``."""
        try:
            self._finish(run_id, error)
        except Exception as exc:
            fault("chain-error", exc)

    # -- chat models ----------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: Optional[dict[str, Any]],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: Optional[UUID] = None,
        tags: Optional[list[str]] = None,
        metadata: Optional[dict[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        """A chat model call starts: its messages are the request (de-duplicated)."""
        try:
            prompt = list(messages[0]) if messages else []
            self._begin_model(run_id, parent_run_id, serialized, metadata, kwargs, messages=prompt)
        except Exception as exc:
            fault("chat-start", exc)

    def on_llm_start(
        self,
        serialized: Optional[dict[str, Any]],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: Optional[UUID] = None,
        tags: Optional[list[str]] = None,
        metadata: Optional[dict[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        """A text LLM call starts: its prompt is a USER turn."""
        try:
            prompt = list(prompts[:1])
            self._begin_model(run_id, parent_run_id, serialized, metadata, kwargs, prompts=prompt)
        except Exception as exc:
            fault("llm-start", exc)

    def _begin_model(
        self,
        run_id: UUID,
        parent_run_id: Optional[UUID],
        serialized: Optional[dict[str, Any]],
        metadata: Optional[Mapping[str, Any]],
        kwargs: Mapping[str, Any],
        **request: Any,
    ) -> None:
        name = run_name(serialized, kwargs, "chat_model")
        node = self._begin(run_id, parent_run_id, name, "llm", metadata, own_span=False)
        if node is None:
            return
        params = kwargs.get("invocation_params") or {}
        model = (
            (metadata or {}).get("ls_model_name") or params.get("model") or params.get("model_name")
        )
        provider = (metadata or {}).get("ls_provider")
        session = node.frame.session
        with self._lock:
            skip = self._tool_ids.setdefault(session, set())
        call = model_call(
            node.frame,
            api_for(provider if isinstance(provider, str) else None),
            name=f"chat {model}" if model else "chat",
        )
        call.kwargs = {"model": model, "skip_tool_ids": skip, **request}
        node.call = call
        # The provider client underneath (if instrumented) must not record it again.
        node.suppress_token = _suppress.suppress()

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A streamed token: the first one gives the time to first token."""
        node = self._nodes.get(run_id)
        if node is not None and node.first_token_ms is None:
            node.first_token_ms = now_ms()

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """The model answered: its ASSISTANT turn (tokens, latency, tool calls)."""

        def record(node: RunNode) -> None:
            if node.call is None:
                return
            stream: Optional[dict[str, Any]] = None
            if node.first_token_ms is not None:
                stream = {
                    "stream": True,
                    "timeToFirstTokenMs": round(node.first_token_ms - node.started_ms),
                }
            node.call.succeed(lambda: read_reply(response), stream_metadata=stream)

        try:
            self._finish(run_id, record=record)
        except Exception as exc:
            fault("llm-end", exc)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """The model call raised: an empty ASSISTANT turn with ``metadata.error``; a lone
        chat model's session ends ``FAILED``."""

        def record(node: RunNode) -> None:
            if node.call is not None:
                node.call.fail(error)

        try:
            self._finish(run_id, error, record=record)
        except Exception as exc:
            fault("llm-error", exc)

    # -- tools ----------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: Optional[dict[str, Any]],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: Optional[UUID] = None,
        tags: Optional[list[str]] = None,
        metadata: Optional[dict[str, Any]] = None,
        inputs: Optional[dict[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        """A tool starts: a span, current while it runs (what it records joins it)."""
        try:
            name = run_name(serialized, kwargs, "tool")
            node = self._begin(run_id, parent_run_id, name, "tool", metadata, {"tool_name": name})
            if node is None:
                return
            node.tool_input = inputs if inputs is not None else input_str
            call_id = kwargs.get("tool_call_id")
            node.tool_call_id = call_id if isinstance(call_id, str) else None
            node.token = set_frame(node.frame)
        except Exception as exc:
            fault("tool-start", exc)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """The tool returned: a TOOL turn with its input and output."""
        try:
            with self._lock:
                node = self._nodes.get(run_id)
            if node is not None:
                self._record_tool(node, output, None)
            self._finish(run_id)
        except Exception as exc:
            fault("tool-end", exc)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """The tool raised: a TOOL turn with the error (the error goes on unchanged)."""
        try:
            with self._lock:
                node = self._nodes.get(run_id)
            if node is not None:
                self._record_tool(node, None, error)
            self._finish(run_id, error)
        except Exception as exc:
            fault("tool-error", exc)

    def _record_tool(self, node: RunNode, output: Any, error: Optional[BaseException]) -> None:
        call_id = node.tool_call_id
        content = output
        if output is not None and type(output).__name__ in ("ToolMessage", "Command"):
            call_id = call_id or getattr(output, "tool_call_id", None)
            content = getattr(output, "content", output)
        session = node.frame.session
        on_worker = None
        if call_id is not None:
            with self._lock:
                ids = self._tool_ids.setdefault(session, set())

            def on_worker() -> None:
                ids.add(call_id)

        record_tool(
            node.frame,
            node.name,
            node.tool_input,
            content,
            latency_ms=round(now_ms() - node.started_ms),
            error=error_text(error) if error is not None else None,
            tool_call_id=call_id,
            on_worker=on_worker,
            note=call_id is None,
        )


# -- the process-wide switch ----------------------------------------------------------------


class _ProcessHandler:
    """What LangChain's configure hook reads (``.get()``, as of a context variable): the
    handler :func:`install` set, in every thread and task, or ``None``."""

    handler: Optional[ProvenantCallbackHandler] = None

    def get(self) -> Optional[ProvenantCallbackHandler]:
        return self.handler


_process = _ProcessHandler()
_hook_lock = threading.Lock()
_hooked = False


def install(
    *,
    agent_id: Optional[str] = None,
    provenant: Optional[ProvenantClient] = None,
    user_id: Optional[str] = None,
    agent_version_id: Optional[str] = None,
    environment_id: Optional[str] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    tags: Optional[Sequence[str]] = None,
) -> ProvenantCallbackHandler:
    """
    Record every LangChain / LangGraph run of the process, as if each had the handler in
    its ``callbacks``. A second call returns the handler already installed (call
    :func:`uninstall` first to change its settings).

    Returns:
        The :class:`ProvenantCallbackHandler` in use (for ``end_thread`` / ``close``).

    .. versionadded:: 0.1
    """
    global _hooked
    with _hook_lock:
        if not _hooked:
            # The hook reads .get() only; a context variable's value would not reach
            # threads that the process starts later, this object's does.
            register_configure_hook(cast("ContextVar[Any]", _process), inheritable=True)
            _hooked = True
        if _process.handler is None:
            _process.handler = ProvenantCallbackHandler(
                agent_id=agent_id,
                provenant=provenant,
                user_id=user_id,
                agent_version_id=agent_version_id,
                environment_id=environment_id,
                metadata=metadata,
                tags=tags,
            )
        return _process.handler


def uninstall() -> None:
    """
    Stop recording the runs :func:`install` turned on (thread sessions are ended).

    .. versionadded:: 0.1
    """
    with _hook_lock:
        handler, _process.handler = _process.handler, None
    if handler is not None:
        handler.close()
