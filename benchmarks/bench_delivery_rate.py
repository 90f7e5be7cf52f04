"""
Delivery through the hosted API's rate limit, scaled to 20 requests per second.

A proxy reproducing the hosted limiter (fixed window, ``RateLimit-*`` headers on every
answer, plain-text 429 with ``Retry-After``; ``tests/integration/rate_limit_proxy.py``)
stands before a live local server and allows 200 requests per 10 s window, the hosted
200 per minute six times faster (the headers count whole seconds, so a shorter window
would be too coarse). A backlog several windows long is recorded at once, then the
clock runs until the proxy has passed all of it. The figure is the rate the proxy
passed, beside the allowed rate, with the 429s of each window::

    python benchmarks/bench_delivery_rate.py [SESSIONS]

Each session costs 4 requests (create, two turns, end), plus one agent lookup.
The same backlog straight to the server, unlimited, shows what the exporter can do.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration")
)

from bench_tracing import live_server
from rate_limit_proxy import RateLimitProxy

from provenant import ProvenantClient

LIMIT = 200
WINDOW_S = 10.0
ALLOWED_PER_S = LIMIT / WINDOW_S
TARGET_SHARE = 0.95
SESSIONS = 150


def record(client: ProvenantClient, sessions: int) -> None:
    for index in range(sessions):
        with client.session("Rate Bot") as session:
            session.add_turn("USER", f"question {index}")
            session.add_turn("ASSISTANT", f"answer {index}", input_tokens=12, output_tokens=8)


def unlimited_rate(url: str, key: str, sessions: int) -> float:
    """Requests per second with no limiter: the exporter's own pace, for comparison."""
    client = ProvenantClient(base_url=url, api_key=key)
    started = time.perf_counter()
    record(client, sessions)
    client.flush(120)
    elapsed = time.perf_counter() - started
    client.shutdown(timeout=30)
    return (sessions * 4 + 1) / elapsed


def main() -> int:
    sessions = int(sys.argv[1]) if len(sys.argv) > 1 else SESSIONS
    requests = sessions * 4 + 1
    with live_server() as (url, key):
        unlimited = unlimited_rate(url, key, sessions)
        proxy = RateLimitProxy(int(url.rsplit(":", 1)[1]), limit=LIMIT, window_s=WINDOW_S)
        try:
            client = ProvenantClient(base_url=proxy.url, api_key=key)
            record(client, sessions)
            timeout = requests / ALLOWED_PER_S * 2 + 30
            delivered = client.flush(timeout)
            client.shutdown(timeout=30)
            stats = client.stats()
        finally:
            proxy.close()
    seen = proxy.seen
    passed = [s for s in seen if s.status != 429]
    rate = (len(passed) - 1) / (passed[-1].at - passed[0].at)
    refused = proxy.refused_by_window()
    late_429s = sum(count for window, count in refused.items() if window > 0)
    ok = (
        delivered
        and stats["dropped"] == {}
        and len(passed) == requests
        and rate >= TARGET_SHARE * ALLOWED_PER_S
        and late_429s == 0
    )
    print(
        f"delivery of {sessions} sessions ({requests} requests) through a limiter of "
        f"{LIMIT} requests per {WINDOW_S:g} s window"
    )
    print(f"  allowed rate                                 {ALLOWED_PER_S:8.2f} requests/s")
    print(
        f"  achieved rate (first to last request passed) {rate:8.2f} requests/s   "
        f"{rate / ALLOWED_PER_S:6.1%} of allowed, target >= {TARGET_SHARE:.0%}"
    )
    print(f"  the same backlog unlimited, straight to the server {unlimited:8.0f} requests/s")
    windows = max(s.window for s in seen) + 1
    for window in range(windows):
        in_window = [s for s in seen if s.window == window]
        count_429 = refused.get(window, 0)
        passed_here = len(in_window) - count_429
        print(f"  window {window}: {passed_here:4d} passed, {count_429:3d} refused (429)")
    print(f"  429s after the first window: {late_429s}   {'PASS' if ok else 'FAIL'}")
    print(f"  client stats: {stats}")
    print("  (2 shared cores, other work running: the figures are noisy)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
