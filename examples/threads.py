"""
Worker threads recording into the session of the code that started them.

    python examples/run_offline.py examples/threads.py

Plain threads do not inherit the active session; `prov.ThreadPoolExecutor` (a drop-in
executor) and `prov.wrap_context(fn)` carry it into them.
"""

from __future__ import annotations

import threading

import anthropic

import provenant as prov

MODEL = "claude-sonnet-5-5"
QUESTIONS = [
    "Summarise ticket 101.",
    "Summarise ticket 102.",
    "Summarise ticket 103.",
    "Summarise ticket 104.",
]

client = prov.instrument(anthropic.Anthropic())


def ask(question: str) -> str:
    message = client.messages.create(
        model=MODEL, max_tokens=256, messages=[{"role": "user", "content": question}]
    )
    return message.content[0].text


def main() -> None:
    with client, prov.session("Triage Bot", metadata={"batch": "morning"}):
        # Each task runs in a copy of this context: all four calls land in this session.
        with prov.ThreadPoolExecutor(max_workers=4) as pool:
            summaries = list(pool.map(ask, QUESTIONS))

        # A thread of your own: wrap the target.
        answers: list[str] = []
        worker = threading.Thread(
            target=prov.wrap_context(lambda: answers.append(ask("Which ticket is urgent?")))
        )
        worker.start()
        worker.join()

    print(f"{len(summaries) + len(answers)} calls from threads, one session")
    prov.flush()


if __name__ == "__main__":
    main()
