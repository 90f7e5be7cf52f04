"""
The bookkeeping of the LangChain handler: what it keeps per run, which runs are spans,
how a run's name and outcome read.

Used by :mod:`provenant.integrations.langchain` only; langchain-core is not imported.
"""

from __future__ import annotations

from contextvars import Token
from typing import TYPE_CHECKING, Any, Mapping, Optional

from provenant._logging import log_fault
from provenant.integrations._framework import now_ms
from provenant.tracing._context import Frame

if TYPE_CHECKING:
    from provenant.integrations._call import LlmCall
    from provenant.tracing._session import Session
    from provenant.tracing._span import Span

__all__ = [
    "RunNode",
    "RunRoot",
    "end_status",
    "error_text",
    "fault",
    "is_interrupt",
    "is_span",
    "run_name",
]


def is_interrupt(error: BaseException) -> bool:
    """LangGraph's control flow (an interrupt, a command to the parent graph) is not a failure."""
    return any(cls.__name__ == "GraphBubbleUp" for cls in type(error).__mro__)


def end_status(error: Optional[BaseException]) -> str:
    if error is None or is_interrupt(error):
        return "COMPLETED"
    if isinstance(error, GeneratorExit) or type(error).__name__ == "CancelledError":
        return "CANCELLED"
    return "FAILED"


def error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class RunRoot:
    """The session an invocation records into and whether it ends it."""

    __slots__ = ("owned", "session", "thread_id")

    def __init__(self, session: Session, owned: bool, thread_id: Optional[str]) -> None:
        self.session = session
        self.owned = owned  # ended when the invocation ends
        self.thread_id = thread_id


class RunNode:
    """One LangChain run as recorded."""

    __slots__ = (
        "call",
        "first_token_ms",
        "frame",
        "name",
        "root",
        "span",
        "started_ms",
        "suppress_token",
        "token",
        "tool_call_id",
        "tool_input",
    )

    def __init__(self, frame: Frame, span: Optional[Span], name: str) -> None:
        self.frame = frame
        self.span = span
        self.name = name
        self.started_ms = now_ms()
        self.root: Optional[RunRoot] = None
        self.call: Optional[LlmCall] = None
        self.first_token_ms: Optional[float] = None
        self.token: Optional[Token[Any]] = None
        self.suppress_token: Optional[Token[bool]] = None
        self.tool_call_id: Optional[str] = None
        self.tool_input: Any = None


def run_name(
    serialized: Optional[Mapping[str, Any]], kwargs: Mapping[str, Any], default: str
) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if serialized:
        name = serialized.get("name")
        if isinstance(name, str) and name:
            return name
        ids = serialized.get("id")
        if isinstance(ids, list) and ids and isinstance(ids[-1], str):
            return ids[-1]
    return default


def is_span(
    name: str, tags: Optional[list[str]], metadata: Optional[Mapping[str, Any]], parent: str
) -> bool:
    """Which chains are spans: inside a LangGraph graph its nodes only (not the runnables
    each node is made of, one of which may bear its name); elsewhere every chain that
    LangChain does not mark hidden."""
    if tags and "langsmith:hidden" in tags:
        return False
    if metadata and "langgraph_node" in metadata:
        return name == metadata.get("langgraph_node") and name != parent
    return True


def fault(kind: str, exc: BaseException) -> None:
    log_fault(
        f"langchain-{kind}",
        f"could not record a LangChain event ({kind}); the run goes on",
        exc,
    )
