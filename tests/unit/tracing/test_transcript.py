"""The transcript: which messages of a call are new to its session."""

from __future__ import annotations

from provenant.tracing._transcript import NormalizedMessage, Transcript


def user(text: str) -> NormalizedMessage:
    return NormalizedMessage("USER", text)


def assistant(text: str) -> NormalizedMessage:
    return NormalizedMessage("ASSISTANT", text)


def new_texts(transcript: Transcript, messages: list[NormalizedMessage]) -> list[str]:
    return [message.content for message in transcript.select_new(None, messages)[1]]


def conversation(turns: int, keep: int) -> list[list[str]]:
    """The new user texts of each call of a conversation whose history is cut to its
    last ``keep`` messages before each new question."""
    transcript = Transcript()
    history: list[NormalizedMessage] = []
    recorded = []
    for turn in range(turns):
        history.append(user(f"question {turn}"))
        recorded.append(new_texts(transcript, history))
        history.append(assistant(f"answer {turn}"))
        history = history[-keep:]
    return recorded


def test_growing_history_records_each_question_once() -> None:
    assert conversation(6, keep=100) == [[f"question {n}"] for n in range(6)]


def test_a_sliding_window_records_each_question_once() -> None:
    """History cut to the last messages: what is left of it was recorded, and only the
    call's new question is."""
    for keep in (1, 2, 3, 4, 5):
        assert conversation(8, keep) == [[f"question {n}"] for n in range(8)], keep


def test_history_with_its_middle_cut_out_records_each_question_once() -> None:
    transcript = Transcript()
    history: list[NormalizedMessage] = []
    recorded = []
    for turn in range(8):
        history.append(user(f"question {turn}"))
        recorded.append(new_texts(transcript, history))
        history.append(assistant(f"answer {turn}"))
        if len(history) > 4:
            history = history[:1] + history[-3:]  # the first question, and the latest
    assert recorded == [[f"question {n}"] for n in range(8)]


def test_a_summary_in_place_of_old_history_is_recorded_once() -> None:
    """An agent that replaces its oldest messages with a summary sends the model new
    text: recorded once, and not again while it stays in the history."""
    transcript = Transcript()
    assert new_texts(transcript, [user("a"), assistant("1"), user("b")]) == ["a", "b"]
    summarised = [user("summary: a"), assistant("ok"), user("b"), assistant("2"), user("c")]
    assert new_texts(transcript, summarised) == ["summary: a", "c"]
    assert new_texts(transcript, [*summarised, assistant("3"), user("d")]) == ["d"]


def test_a_question_asked_again_is_new() -> None:
    """The call's own input is judged by its place in the conversation: a "yes" said
    again is recorded again, also when the history before it was cut."""
    transcript = Transcript()
    assert new_texts(transcript, [user("yes")]) == ["yes"]
    assert new_texts(transcript, [user("yes"), assistant("sure?"), user("yes")]) == ["yes"]
    cut = [user("go on"), assistant("ok"), user("yes")]
    assert new_texts(transcript, cut) == ["go on", "yes"]


def test_a_retried_call_records_nothing_with_its_history_cut() -> None:
    transcript = Transcript()
    full = [user("a"), assistant("1"), user("b"), assistant("2"), user("c")]
    assert new_texts(transcript, full) == ["a", "b", "c"]
    assert new_texts(transcript, full[2:]) == []


def test_answered_history_the_session_never_saw_is_recorded() -> None:
    """Joining a conversation midway: its earlier messages were never recorded here, so
    they are recorded once, before the new question."""
    transcript = Transcript()
    assert new_texts(transcript, [user("x")]) == ["x"]
    joined = [user("a"), assistant("1"), user("b"), assistant("2"), user("c")]
    assert new_texts(transcript, joined) == ["a", "b", "c"]
