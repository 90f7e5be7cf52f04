"""
The per-session transcript fingerprint that keeps chat history from being recorded twice.

Chat APIs resend the whole history on every call. A session's :class:`Transcript`
remembers what it has recorded, so each call records only what is new::

    changed, new = session.transcript.select_new(system, messages)   # record these
    session.transcript.note_tool_result(value)    # a traced tool recorded this result

How a message is recognised: every non-assistant message gets a *chain key*, a hash of
its own content chained onto the key of the non-assistant message before it (assistant
messages are left out of the chain: callers often re-serialise them, so their exact form
is not stable). A message whose chain key is known was recorded already. So a repeated
``"yes"`` later in a conversation is new (its prefix differs), several independent
conversations in one session each record their own messages, and a retried call records
nothing twice. The one blind spot: two conversations whose whole history so far is
identical are indistinguishable from a retry, and the second records only its reply.

Callers also trim their history (a sliding window, a summary in place of the oldest
messages): the chain then breaks where messages were left out. A message before the
call's last assistant message was answered already, so it is history: when its chain
key is unknown but the session recorded the same message (role, tool call id, content),
the chain picks up where that message was recorded, and nothing is recorded again. The
call's own input, after its last assistant message, is always judged by its chain.

A resumed session is seeded with the turns the server keeps, whose content may be
masked, cut or left out; its calls' messages are then recognised in that same form.

The system prompt is recorded when it differs from the one in effect where the
conversation's known prefix ends (for a new conversation: when this session never
recorded it). Tool results that a traced tool recorded already (``note_tool_result``)
are not recorded again when they come back to the model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from typing import Any, Callable, Hashable, Optional, Sequence

__all__ = ["NormalizedMessage", "Transcript", "content_key", "last_assistant_index", "result_forms"]

_ROOT = "provenant-transcript-root"
_NO_SYSTEM: Hashable = ("no-system",)
# A session is finite, but a runaway loop must not grow the memory without bound: past
# this many known chain keys the oldest half is forgotten (at worst a duplicate turn).
_MAX_KNOWN_KEYS = 200_000


@dataclasses.dataclass(frozen=True)
class NormalizedMessage:
    """
    One chat message in the provider-neutral form the transcript and the turns use.

    Args:
        role: ``"SYSTEM"``, ``"USER"``, ``"ASSISTANT"`` or ``"TOOL"``.
        content: A string, or a list of JSON parts (images summarised, never inlined).
        tool_calls: For assistant messages, ``{"id", "name", "arguments"}`` dicts.
        tool_call_id: For tool results, the id of the call answered.
        name: For tool results, the tool's name when the provider says it.
    """

    role: str
    content: Any
    tool_calls: tuple[Any, ...] = ()
    tool_call_id: Optional[str] = None
    name: Optional[str] = None


def content_key(content: Any) -> Hashable:
    """Return a hashable key of a message content: the text itself, or canonical JSON."""
    if isinstance(content, str):
        return content
    try:
        return json.dumps(content, sort_keys=True, separators=(",", ":"), default=repr)
    except (TypeError, ValueError):  # e.g. keys of mixed types
        return repr(content)


def result_forms(value: Any) -> frozenset[str]:
    """The textual forms a tool result may take when it is sent back to the model."""
    forms: set[str] = set()
    if isinstance(value, str):
        text = value.strip()
        forms.add(text)
        try:
            value = json.loads(text)
        except ValueError:
            return frozenset(forms)
    with contextlib.suppress(TypeError, ValueError):
        forms.add(json.dumps(value, sort_keys=True, separators=(",", ":")))
    if not isinstance(value, str):
        forms.add(str(value).strip())
    return frozenset(forms)


def _message_text(content: Any) -> str:
    """The text of a tool message's content (a string or a list of text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(t for t in texts if isinstance(t, str))
    return ""


def last_assistant_index(messages: Sequence[NormalizedMessage]) -> int:
    """The index of the call's last assistant message, -1 without one: the messages
    before it were answered already, the ones after it are the call's own input."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "ASSISTANT":
            return index
    return -1


def _item_key(
    message: NormalizedMessage, form: Optional[Callable[[Any], Any]] = None
) -> tuple[str, Optional[str], Hashable]:
    """What identifies a message in the chain: its role, tool call id and content (in
    ``form``, when given)."""
    content = message.content if form is None else form(message.content)
    return (message.role, message.tool_call_id, content_key(content))


class Transcript:
    """
    Remembers what one session has recorded, so resent history is not recorded again.

    Thread-safe; every method is cheap (a hash per message) and never does I/O.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # chain key -> the system prompt key in effect when that message was recorded
        self._known: dict[Hashable, Hashable] = {}
        # (role, tool call id, content key) -> the chain key it was last recorded under
        self._latest: dict[Hashable, Hashable] = {}
        self._systems: set[Hashable] = set()
        self._tool_results: list[frozenset[str]] = []
        self._replies = 0
        # Replies recorded per server-side conversation (the Responses API's
        # ``conversation``), so that each call's input starts a chain of its own.
        self._answered: dict[str, int] = {}
        self._seed_pending = False
        # A resumed session's: a message's content as the session records it (masked,
        # cut, or left out), the form its seed turns have on the server.
        self._form: Optional[Callable[[Any], Any]] = None

    def select_new(
        self,
        system: Optional[Any],
        messages: Sequence[NormalizedMessage],
        *,
        root: Optional[Hashable] = None,
    ) -> tuple[bool, list[NormalizedMessage]]:
        """
        Return what a call adds to the session, and remember it as recorded.

        Args:
            system: The call's system prompt (``None`` when it has none).
            messages: The call's messages in order, history included.
            root: Anchors the chain elsewhere than the start of a conversation (the
                Responses API's ``previous_response_id``, or :meth:`conversation_root`:
                its input is all new).

        Returns:
            ``(system_changed, new_messages)``: whether to record the system prompt, and
            the non-assistant messages not recorded before, in order. Tool results a
            traced tool recorded already are left out (and forgotten, one per result).
        """
        form = self._form
        if system is None:
            system_key = _NO_SYSTEM
        else:
            system_key = content_key(system if form is None else form(system))
        chain: Hashable = _ROOT if root is None else (_ROOT, root)
        new: list[NormalizedMessage] = []
        answered = last_assistant_index(messages)
        with self._lock:
            known = self._known
            latest = self._latest
            prefix_system: Optional[Hashable] = None
            for index, message in enumerate(messages):
                if message.role == "ASSISTANT":
                    continue
                item = _item_key(message, form)
                chain = hash((chain, *item))
                recorded_under = known.get(chain)
                if recorded_under is None and index < answered:
                    # History out of the chain's order (trimmed): pick up where the same
                    # message was recorded, if it was.
                    anchor = latest.get(item)
                    if anchor is not None and anchor in known:
                        chain = anchor
                        recorded_under = known[anchor]
                if recorded_under is not None:
                    prefix_system = recorded_under
                    continue
                known[chain] = system_key
                latest[item] = chain
                if message.role == "TOOL" and self._take_tool_result(message.content):
                    continue
                new.append(message)
            if prefix_system is None:
                system_changed = system is not None and system_key not in self._systems
            else:
                system_changed = system is not None and prefix_system != system_key
            if system is not None:
                self._systems.add(system_key)
            if len(known) > _MAX_KNOWN_KEYS:
                for key in list(known)[: _MAX_KNOWN_KEYS // 2]:
                    del known[key]
                for stale in list(latest)[: max(0, len(latest) - len(known))]:
                    del latest[stale]
        return system_changed, new

    def conversation_root(self, conversation: str) -> Hashable:
        """
        The root of a call in a conversation the server keeps (the Responses API's
        ``conversation``): its input is all new, but a retry of a call that got no reply
        sends it again. So the root is the conversation's place: the replies recorded in
        it so far (:meth:`note_answered`).
        """
        with self._lock:
            return ("conversation", conversation, self._answered.get(conversation, 0))

    def note_answered(self, conversation: str) -> None:
        """A call in ``conversation`` was answered: the next call's input is new."""
        with self._lock:
            self._answered[conversation] = self._answered.get(conversation, 0) + 1

    def expect_seed(self, recorded_form: Optional[Callable[[Any], Any]] = None) -> None:
        """
        Mark this transcript as one of a resumed session, to be :meth:`seed`-ed once.

        Args:
            recorded_form: Turns a message's content into the form the session records
                (masked, cut, or left out): the form of the turns it is seeded with, in
                which the messages of its calls are then recognised.
        """
        self._form = recorded_form
        self._seed_pending = True

    def take_seed(self) -> bool:
        """True exactly once after :meth:`expect_seed`: the caller then seeds it."""
        with self._lock:
            pending, self._seed_pending = self._seed_pending, False
        return pending

    def seed(self, history: Sequence[NormalizedMessage]) -> None:
        """
        Remember a resumed session's turns, in their recorded order, as recorded already.

        ``SYSTEM`` messages set the system prompt in effect; ``USER`` and ``TOOL``
        messages extend one chain from the start of a conversation; assistant messages
        are left out, as in :meth:`select_new`.
        """
        chain: Hashable = _ROOT
        system_key = _NO_SYSTEM
        with self._lock:
            for message in history:
                if message.role == "SYSTEM":
                    system_key = content_key(message.content)
                    self._systems.add(system_key)
                elif message.role != "ASSISTANT":
                    item = _item_key(message)
                    chain = hash((chain, *item))
                    self._known.setdefault(chain, system_key)
                    self._latest[item] = chain

    def note_reply(self, messages: Sequence[NormalizedMessage], reply: NormalizedMessage) -> None:
        """
        Note that a call's reply was recorded (optional; kept for the HACKING.md seam).

        Assistant messages are not part of the chain (see the module docstring), so a
        reply changes nothing the de-duplication relies on; this only counts replies.
        """
        self._replies += 1  # a counter for diagnostics; a lost increment is harmless

    def note_tool_result(self, value: Any) -> None:
        """Remember a result a traced tool recorded as a TOOL turn, to skip it once later."""
        self.note_result_forms(result_forms(value))

    def note_result_forms(self, forms: frozenset[str]) -> None:
        """:meth:`note_tool_result` with the forms of the result taken already
        (:func:`result_forms`, on the caller's thread: the value may change later)."""
        if forms:
            with self._lock:
                self._tool_results.append(forms)

    @property
    def replies(self) -> int:
        """How many replies were noted."""
        return self._replies

    def _take_tool_result(self, content: Any) -> bool:
        """Forget and return True for the first noted result matching ``content``."""
        if not self._tool_results:
            return False
        incoming = result_forms(_message_text(content))
        for index, forms in enumerate(self._tool_results):
            if forms & incoming:
                del self._tool_results[index]
                return True
        return False
