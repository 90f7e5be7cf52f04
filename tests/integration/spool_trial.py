"""
A recording process of the spool tests, run as a fresh interpreter::

    python spool_trial.py BASE_URL API_KEY NAME SESSIONS TURNS MODE

(``API_KEY`` ``-`` for none: the embedded store at ``sqlite:///...``.)

Records ``SESSIONS`` sessions (external ids ``NAME-0``...) of ``TURNS`` user turns each
(``t0``...), then by ``MODE``: ``hang`` prints ``spooled`` once the records are on disk
(the SDK's bound is 100 ms) and waits to be killed; ``flush`` flushes (waits for the
API) and prints one JSON line: whether it was, and ``stats()``.
"""

from __future__ import annotations

import json
import sys
import time

import provenant


def main() -> None:
    url, key, name, sessions, turns, mode = sys.argv[1:7]
    client = provenant.ProvenantClient(
        base_url=url, api_key=None if key == "-" else key, agent_id="Spool Bot"
    )
    for index in range(int(sessions)):
        with client.session(external_id=f"{name}-{index}") as session:
            for turn in range(int(turns)):
                session.add_turn("USER", f"t{turn}")
    if mode == "hang":
        time.sleep(0.1)  # the bound within which records are on disk
        print("spooled", flush=True)
        time.sleep(600)
        return
    delivered = client.flush(60)
    print(json.dumps({"delivered": delivered, "stats": client.stats()}), flush=True)
    client.shutdown(5)


if __name__ == "__main__":
    main()
