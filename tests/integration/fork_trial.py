"""
One trial of forking while the SDK delivers, run as a fresh interpreter by the fork tests::

    python fork_trial.py BASE_URL API_KEY MODE SEED

A thread records sessions without pause while the main thread, inside a session of its
own, forks at random moments: ``MODE`` ``os.fork`` forks children itself, ``pool`` starts
``multiprocessing`` pools with the ``fork`` method. Each child records a session of its
own and a turn into the inherited session, and flushes. A child that does not finish in
time is killed. Prints one JSON line: how each child ended, and what was stored.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import sys
import threading
import time
from typing import Any

import provenant

_FORKS = 3
_CHILD_DEADLINE_S = 10.0
_FIRST_FORK_WITHIN_S = 0.04  # the first delivery (and, before the fix, its imports)
_LATER_FORK_WITHIN_S = 0.02

client: provenant.ProvenantClient
outer: Any = None


def child_work(name: str, into_outer: bool) -> str:
    """What a child does: record into a session of its own, and into the inherited one
    when the parent saw it created before the fork."""
    with client.session(external_id=name) as session:
        session.add_turn("USER", f"{name} says hello")
    if into_outer:
        outer.add_turn("USER", f"{name} in the outer session")
    return "delivered" if client.flush(_CHILD_DEADLINE_S / 2) else "not delivered"


def fork_child(name: str, into_outer: bool) -> str:
    """Fork one child with os.fork and wait for it (bounded)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if child_work(name, into_outer) == "delivered" else 3
        finally:
            os._exit(code)
    deadline = time.monotonic() + _CHILD_DEADLINE_S
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return "delivered" if code == 0 else f"exit {code}"
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return "hung"
        time.sleep(0.005)


def pool_children(names: list[str], into_outer: bool) -> list[str]:
    """Start a fork pool of two processes and run the children's work in it (bounded)."""
    pool = multiprocessing.get_context("fork").Pool(2)
    try:
        work = [(name, into_outer) for name in names]
        return list(pool.starmap_async(child_work, work).get(_CHILD_DEADLINE_S))
    except multiprocessing.TimeoutError:
        return ["hung"]
    finally:
        pool.terminate()
        pool.join()


def main() -> None:
    global client, outer
    url, key, mode, seed = sys.argv[1:5]
    rng = random.Random(int(seed))
    client = provenant.ProvenantClient(base_url=url, api_key=key or None, agent_id="Fork Bot")
    stop = threading.Event()

    def record() -> None:
        count = 0
        while not stop.is_set():
            with client.session(external_id=f"parent-{seed}-{count}") as session:
                session.add_turn("USER", "from the parent")
            count += 1
            time.sleep(0.005)

    outcomes: list[str] = []
    children: list[str] = []
    in_outer: list[str] = []  # the children that add a turn to the outer session
    with client.session(external_id=f"outer-{seed}") as outer:
        recorder = threading.Thread(target=record)
        recorder.start()
        try:
            for fork in range(_FORKS):
                # The first fork falls within the first delivery (where, before the fix,
                # the worker imported the backend's modules).
                within = _FIRST_FORK_WITHIN_S if fork == 0 else _LATER_FORK_WITHIN_S
                time.sleep(rng.uniform(0, within))
                name = f"child-{seed}-{fork}"
                names = [name] if mode == "os.fork" else [f"{name}-{n}" for n in range(4)]
                children.extend(names)
                into_outer = outer.server_id is not None
                if into_outer:
                    in_outer.extend(names)
                if mode == "os.fork":
                    outcomes.append(fork_child(name, into_outer))
                else:
                    outcomes.extend(pool_children(names, into_outer))
        finally:
            stop.set()
            recorder.join()
    client.shutdown(10)
    reader = provenant.ProvenantClient(base_url=url, api_key=key or None, enabled=False)
    try:
        stored = {s["externalId"] for s in reader.list_sessions(q="says hello")}
        outer_turns = reader.get_session(outer.id)["turns"]
    finally:
        reader.shutdown()
    print(
        json.dumps(
            {
                "outcomes": outcomes,
                "children": children,
                "stored_children": sorted(n for n in children if n in stored),
                "outer_turns": sorted(t["content"] for t in outer_turns),
                "expected_outer_turns": sorted(f"{n} in the outer session" for n in in_outer),
            }
        )
    )


if __name__ == "__main__":
    main()
