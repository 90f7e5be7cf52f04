"""
Record every call of a Google GenAI (Gemini) client: one call, then a chat in a session.

    GEMINI_API_KEY=... python examples/google_genai_quickstart.py        # the real API
    python examples/run_offline.py examples/google_genai_quickstart.py   # a scripted model
"""

from __future__ import annotations

from google import genai
from google.genai import types

import provenant as prov

MODEL = "gemini-3.8-flash"


def main() -> None:
    client = prov.instrument(genai.Client(), agent_id="Gemini Bot")

    # Outside any session: a single-call session of its own.
    response = client.models.generate_content(
        model=MODEL, contents="Say hello to Provenant in five words."
    )
    print(response.text)

    # A chat resends its history on every message; each message is recorded once.
    chat = client.chats.create(
        model=MODEL,
        config=types.GenerateContentConfig(system_instruction="Answer in one sentence."),
    )
    with prov.session("Gemini Bot", user_id="user-42"):
        print(chat.send_message("What does an AgentOps platform record?").text)
        for chunk in chat.send_message_stream("And why does it matter?"):
            print(chunk.text or "", end="")
        print()

    client.close()
    prov.flush()


if __name__ == "__main__":
    main()
