"""
The cost of tracing on the caller's thread, while the worker delivers to a live server.

Two claims, each printed beside baselines from the same run:

* an empty ``@trace`` function inside an active session costs at most 1 us over the
  bare call (median of interleaved rounds), with OpenTelemetry's
  ``start_as_current_span`` child span measured as the reference;
* a session block (enter and exit: its create and end events enqueued) costs at most
  20 us, with an OpenTelemetry root span as the reference.

The local server runs in a separate process (``start_server`` in a child Python), and a
feeder thread keeps the exporter delivering turns to it during every measurement::

    python benchmarks/bench_tracing.py
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Iterator

from provenant import ProvenantClient

TRACE_TARGET_US = 1.0
SESSION_TARGET_US = 20.0
ROUNDS = 101
CALLS_PER_ROUND = 2_000
SESSION_ROUNDS = 21
SESSIONS_PER_ROUND = 200

_SERVER_CODE = """
import sys, time
from provenant.server import start_server
server = start_server(sys.argv[1], port=0)
print(server.url, server.api_keys[0], flush=True)
sys.stdin.read()
server.stop()
"""


@contextlib.contextmanager
def live_server() -> Iterator[tuple[str, str]]:
    """A local server in a child process: yields (url, api_key)."""
    with tempfile.TemporaryDirectory(prefix="provenant-bench-") as directory:
        child = subprocess.Popen(
            [sys.executable, "-c", _SERVER_CODE, os.path.join(directory, "bench.db")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            url, key = child.stdout.readline().split()
            yield url, key
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=30)


@contextlib.contextmanager
def delivering(client: ProvenantClient) -> Iterator[None]:
    """Keep the exporter busy: a thread records a turn every millisecond."""
    stop = threading.Event()

    def feed() -> None:
        with client.session("Feeder Bot") as session:
            while not stop.is_set():
                session.add_turn("ASSISTANT", "background turn " * 8, output_tokens=12)
                time.sleep(0.001)

    thread = threading.Thread(target=feed, name="bench-feeder", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - started) / calls / 1000.0


def interleaved(
    candidates: dict[str, Callable[[], Any]], rounds: int, calls: int
) -> dict[str, float]:
    """Median per-call time of each candidate, rounds interleaved so noise hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            samples[name].append(per_call_us(fn, calls))
    return {name: statistics.median(values) for name, values in samples.items()}


def each_block(
    candidates: dict[str, Callable[[], Any]], rounds: int, calls: int
) -> dict[str, float]:
    """Median latency of single calls (each timed alone), rounds interleaved.

    A block lasts microseconds; timing each one alone gives the latency a caller sees,
    while the worker's share of the GIL (it is delivering meanwhile) shows in the tail.
    """
    clock = time.perf_counter_ns
    samples: dict[str, list[int]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            out = samples[name]
            for _ in range(calls):
                started = clock()
                fn()
                out.append(clock() - started)
    readings = []
    for _ in range(1001):  # what one clock reading adds to each sample
        first = clock()
        readings.append(clock() - first)
    timer = statistics.median(readings)
    return {name: (statistics.median(v) - timer) / 1000.0 for name, v in samples.items()}


def verdict(value: float, target: float) -> str:
    return "PASS" if value <= target else "FAIL"


def main() -> int:
    from opentelemetry.sdk.trace import TracerProvider

    otel = TracerProvider().get_tracer("bench")

    def bare() -> None:
        return None

    def otel_child() -> None:
        with otel.start_as_current_span("child"):
            return None

    with live_server() as (url, key):
        client = ProvenantClient(base_url=url, api_key=key, agent_id="Bench Bot")
        traced = client.trace(bare)
        failures = 0
        with delivering(client):
            time.sleep(0.2)
            with client.session("Bench Bot"), otel.start_as_current_span("root"):
                hot = interleaved(
                    {"bare": bare, "traced": traced}, rounds=ROUNDS, calls=CALLS_PER_ROUND
                )
                reference = interleaved(
                    {"bare": bare, "otel": otel_child}, rounds=11, calls=CALLS_PER_ROUND // 4
                )
            overhead = hot["traced"] - hot["bare"]
            otel_overhead = reference["otel"] - reference["bare"]
            print("empty function inside an active session (median per call)")
            print(f"  bare call                          {hot['bare']:8.3f} us")
            print(f"  @trace                             {hot['traced']:8.3f} us")
            print(
                f"  @trace overhead                    {overhead:8.3f} us   "
                f"target <= {TRACE_TARGET_US} us  {verdict(overhead, TRACE_TARGET_US)}"
            )
            print(f"  OpenTelemetry child span overhead  {otel_overhead:8.3f} us   (reference)")
            failures += overhead > TRACE_TARGET_US

            def session_block() -> None:
                with client.session("Bench Bot"):
                    pass

            def otel_root() -> None:
                with otel.start_as_current_span("session"):
                    pass

            def empty_block() -> None:
                with contextlib.nullcontext():
                    pass

            blocks = each_block(
                {"empty": empty_block, "session": session_block, "otel": otel_root},
                rounds=SESSION_ROUNDS,
                calls=SESSIONS_PER_ROUND,
            )
            print("session enter + exit while the worker delivers (median over single blocks)")
            print(f"  empty with-block                   {blocks['empty']:8.3f} us")
            print(
                f"  provenant session block            {blocks['session']:8.3f} us   "
                f"target <= {SESSION_TARGET_US} us  {verdict(blocks['session'], SESSION_TARGET_US)}"
            )
            print(f"  OpenTelemetry root span            {blocks['otel']:8.3f} us   (reference)")
            failures += blocks["session"] > SESSION_TARGET_US
        client.shutdown(timeout=30)
        stats = client.stats()
        print(f"exporter: delivered {stats['delivered']}, dropped {stats['dropped']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
