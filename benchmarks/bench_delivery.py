"""
Delivery throughput of the exporter to a live local server over HTTP.

20,000 turns spread over 100 sessions are recorded as fast as the caller can, then the
clock runs until ``flush()`` says all of it was delivered (one HTTP request per turn:
the contract has no batch route). The baseline, from the same run, is one in-order
sender: explicit ``client.add_turn`` REST calls one after another::

    python benchmarks/bench_delivery.py [TURNS]
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_tracing import live_server

from provenant import ProvenantClient

TARGET_TURNS_PER_S = 2_000.0
SESSIONS = 100
BASELINE_TURNS = 2_000
CONTENT = "The answer is 42, as computed by the agent after some thought. " * 4


def exporter_rate(url: str, key: str, turns: int) -> tuple[float, dict[str, object]]:
    client = ProvenantClient(
        base_url=url, api_key=key, agent_id="Delivery Bot", max_queue_size=turns * 2
    )
    with client.session("Warm Up"):
        pass
    client.flush(30)
    handles = [client.start_session("Delivery Bot") for _ in range(SESSIONS)]
    started = time.perf_counter()
    for index in range(turns):
        handles[index % SESSIONS].add_turn(
            "ASSISTANT", CONTENT, input_tokens=120, output_tokens=40, latency_ms=900
        )
    for handle in handles:
        handle.end()
    recorded = time.perf_counter() - started
    delivered = client.flush(300)
    elapsed = time.perf_counter() - started
    client.shutdown(timeout=30)
    stats = client.stats()
    stats["record_s"] = round(recorded, 3)
    stats["all_delivered"] = delivered
    return turns / elapsed, stats


def sequential_rate(url: str, key: str, turns: int) -> float:
    client = ProvenantClient(base_url=url, api_key=key)
    session_id = client.create_session("Baseline Bot")["id"]
    started = time.perf_counter()
    for _ in range(turns):
        client.add_turn(session_id, "ASSISTANT", CONTENT, input_tokens=120, output_tokens=40)
    elapsed = time.perf_counter() - started
    client.shutdown()
    return turns / elapsed


def main() -> int:
    turns = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with live_server() as (url, key):
        baseline = sequential_rate(url, key, BASELINE_TURNS)
        rate, stats = exporter_rate(url, key, turns)
    verdict = "PASS" if rate >= TARGET_TURNS_PER_S and stats["dropped"] == {} else "FAIL"
    print(f"delivery of {turns} turns over {SESSIONS} sessions to a live local server (HTTP)")
    print(f"  one in-order sender (explicit add_turn calls)   {baseline:8.0f} turns/s (baseline)")
    print(
        f"  exporter, enqueue to flush()                    {rate:8.0f} turns/s   "
        f"target >= {TARGET_TURNS_PER_S:.0f}  {verdict}"
    )
    print(f"  exporter stats: {stats}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
