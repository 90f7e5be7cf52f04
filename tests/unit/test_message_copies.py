"""The integrations' message copies: one copy per message while it is unchanged, a new
one when it changed, never the caller's objects."""

from __future__ import annotations

from provenant.integrations._extract import MessageCopies, copy_messages


def test_an_unchanged_message_keeps_its_copy_and_a_changed_one_is_copied_again() -> None:
    """Across calls, a message still equal to its copy reuses it; one changed in place is
    copied as it is now; later changes never reach a copy."""
    copies = MessageCopies()
    part = {"type": "text", "text": "hello"}
    first = {"role": "user", "content": [part]}
    [copy_one] = copy_messages([first], copies=copies)
    assert copy_one == first and copy_one is not first
    assert copy_one["content"][0] is not part
    again, other = copy_messages([first, {"role": "assistant", "content": "hi"}], copies=copies)
    assert again is copy_one
    part["text"] = "changed"
    [changed] = copy_messages([first], copies=copies)
    assert changed["content"][0]["text"] == "changed"
    assert copy_one["content"][0]["text"] == "hello"
    assert other == {"role": "assistant", "content": "hi"}
