"""
Record every call of an Anthropic client, with one line.

    ANTHROPIC_API_KEY=... python examples/anthropic_quickstart.py     # the real API
    python examples/run_offline.py examples/anthropic_quickstart.py   # a scripted model

With no PROVENANT_API_KEY and no PROVENANT_BASE_URL, the records go to the local store
.provenant/provenant.db; browse them with `provenant sessions list`.
"""

from __future__ import annotations

import anthropic

import provenant as prov

MODEL = "claude-sonnet-5-5"


def main() -> None:
    # The one line: the same client object comes back, now recorded. (Used as a context
    # manager, the client closes its connections at the end, as the SDK recommends.)
    with prov.instrument(anthropic.Anthropic(), agent_id="Quickstart Bot") as client:
        message = client.messages.create(
            model=MODEL,
            max_tokens=256,
            system="You are a friendly assistant.",
            messages=[{"role": "user", "content": "Say hello to Provenant in five words."}],
        )
        print(message.content[0].text)

    # Outside any session, a call is a session of its own: SYSTEM, USER, ASSISTANT.
    # Delivery happens in the background; flush() waits for it (so does the exit).
    prov.flush()
    print("Recorded. See it with: provenant sessions list")


if __name__ == "__main__":
    main()
