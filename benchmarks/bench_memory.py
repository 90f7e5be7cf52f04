"""
Memory while the server is down: the queue is bounded and every dropped event is counted.

200,000 turns (over 1,000 sessions) are recorded against a port where nothing listens.
Resident memory must grow by less than 100 MB, and after a bounded shutdown every event
must be accounted for (delivered + dropped by reason == produced). The baseline, from
the same run, is the growth of building the same turn contents without recording::

    python benchmarks/bench_memory.py [TURNS]
"""

from __future__ import annotations

import gc
import os
import socket
import sys
import time

from provenant import ProvenantClient

TARGET_GROWTH_MB = 100.0
SESSIONS = 1_000


def rss_mb() -> float:
    """Resident set size of this process, from /proc (Linux) or getrusage's peak."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def content(index: int) -> str:
    return f"turn {index}: " + "the server is down but the agent keeps talking. " * 4


def baseline_growth(turns: int) -> float:
    gc.collect()
    before = rss_mb()
    kept = [content(i) for i in range(turns)]
    grown = rss_mb() - before
    del kept
    return grown


def main() -> int:
    turns = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    baseline = baseline_growth(turns)
    gc.collect()
    client = ProvenantClient(
        base_url=closed_port_url(), api_key="pk_live_" + "0" * 32, agent_id="Offline Bot"
    )
    before = rss_mb()
    peak = before
    started = time.perf_counter()
    per_session = turns // SESSIONS
    produced = 0
    for session_index in range(SESSIONS):
        with client.session() as session:
            produced += 2  # the create and the end
            for n in range(per_session):
                session.add_turn("USER", content(session_index * per_session + n), input_tokens=9)
                produced += 1
        if session_index % 50 == 0:
            peak = max(peak, rss_mb())
    recorded_s = time.perf_counter() - started
    peak = max(peak, rss_mb())
    during = client.stats()
    client.shutdown(timeout=1.0)
    final = client.stats()
    growth = peak - before
    accounted = final["delivered"] + sum(final["dropped"].values())
    counted = accounted == produced and final["queue_depth"] == 0
    ok = growth < TARGET_GROWTH_MB and counted
    print(f"{turns} turns over {SESSIONS} sessions recorded while the server is down")
    print(f"  same contents kept in a list (baseline)   {baseline:7.1f} MB")
    print(
        f"  resident growth while recording (peak)    {growth:7.1f} MB   "
        f"target < {TARGET_GROWTH_MB:.0f} MB  {'PASS' if growth < TARGET_GROWTH_MB else 'FAIL'}"
    )
    print(f"  recording took {recorded_s:.2f} s ({recorded_s / produced * 1e6:.1f} us per event)")
    print(f"  while down: enqueued {during['enqueued']}, queue depth {during['queue_depth']}")
    print(f"  dropped by reason after shutdown: {final['dropped']}")
    print(
        f"  produced {produced}, delivered + dropped {accounted}   "
        f"every event counted  {'PASS' if counted else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
