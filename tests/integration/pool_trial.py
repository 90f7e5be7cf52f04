"""
A new user's ``multiprocessing`` program, run as a fresh interpreter by the pool tests::

    python pool_trial.py BASE_URL API_KEY PROVIDER_URL [METHOD]

Instruments the Anthropic SDK process-wide and runs 8 pool tasks of 20 calls each to
the fake provider inside ``with Pool(4)`` (whose exit ends the workers with SIGTERM),
each call its own session. Prints one line: ``done``.
"""

from __future__ import annotations

import multiprocessing
import sys

import anthropic

import provenant

URL, KEY, PROVIDER = sys.argv[1:4]
METHOD = sys.argv[4] if len(sys.argv) > 4 else "fork"
provenant.configure(base_url=URL, api_key=None if KEY == "-" else KEY, agent_id="Pool Bot")
provenant.instrument()


def task(index: int) -> int:
    client = anthropic.Anthropic(base_url=PROVIDER, api_key="k", max_retries=0)
    for call in range(20):
        client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=16,
            messages=[{"role": "user", "content": f"task {index} call {call}"}],
        )
    return index


if __name__ == "__main__":
    with multiprocessing.get_context(METHOD).Pool(4) as pool:
        assert sorted(pool.map(task, range(8))) == list(range(8))
    print("done", flush=True)
