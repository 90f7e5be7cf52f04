"""
Record a multi-turn conversation as one session.

    python examples/run_offline.py examples/multi_turn_session.py

Chat APIs resend the whole history on every call; the session records each message
once, so three exchanges record SYSTEM, then USER and ASSISTANT three times.
"""

from __future__ import annotations

from typing import Any

import anthropic

import provenant as prov

MODEL = "claude-sonnet-5-5"
SYSTEM = "You are the support agent of an online shop."
QUESTIONS = [
    "Hi, I ordered a lamp last week.",
    "It arrived broken. Can I get a new one?",
    "Great, thank you!",
]


def main() -> None:
    client = prov.instrument(anthropic.Anthropic())
    history: list[dict[str, Any]] = []

    with client, prov.session("Support Bot", user_id="customer-42", tags=["example"]) as session:
        for question in QUESTIONS:
            history.append({"role": "user", "content": question})
            message = client.messages.create(
                model=MODEL, max_tokens=512, system=SYSTEM, messages=history
            )
            answer = message.content[0].text
            history.append({"role": "assistant", "content": answer})
            print(f"user: {question}\nassistant: {answer}\n")

    prov.flush()
    print(f"Session {session.id}: provenant sessions show {session.id}")


if __name__ == "__main__":
    main()
