"""
An async agent serving many users at once: one session per conversation, concurrently.

    python examples/run_offline.py examples/async_agent.py

asyncio tasks carry the active session by themselves, so the five conversations below
run interleaved and each session still gets exactly its own turns.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic

import provenant as prov

MODEL = "claude-sonnet-5-5"


async def converse(client: anthropic.AsyncAnthropic, customer: int) -> str:
    """Two exchanges with one customer, recorded as one session."""
    history: list[Any] = []
    async with prov.session("Async Bot", user_id=f"customer-{customer}") as session:
        for text in (f"I am customer {customer}.", f"What number am I? ({customer})"):
            history.append({"role": "user", "content": text})
            message = await client.messages.create(model=MODEL, max_tokens=256, messages=history)
            history.append({"role": "assistant", "content": message.content[0].text})
    return session.external_id


async def main() -> None:
    # Closing the client at the end releases its connections before the loop stops.
    async with prov.instrument(anthropic.AsyncAnthropic()) as client:
        external_ids = await asyncio.gather(*(converse(client, n) for n in range(1, 6)))
    print(f"{len(external_ids)} conversations recorded side by side")
    prov.flush()


if __name__ == "__main__":
    asyncio.run(main())
