"""
Run every benchmark in this folder, one after the other, and summarise.

    python benchmarks/run_all.py

Each benchmark prints its own figures beside its baseline and exits non-zero when a
target is missed; this script runs them in separate processes (so one's background
threads never load another's measurement) and exits non-zero if any missed.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

_HERE = pathlib.Path(__file__).resolve().parent
_ORDER = (
    "bench_tracing.py",
    "bench_instrument.py",
    "bench_process_cpu.py",
    "bench_floor.py",
    "bench_delivery.py",
    "bench_delivery_rate.py",
    "bench_memory.py",
    "bench_otel.py",
    "bench_frameworks.py",
    "bench_cost.py",
    "server_throughput.py",
    "server_memory.py",
    "viewer_list.py",
    "bench_read_answers.py",
)


def main() -> int:
    """Run each benchmark and return 1 if any of them missed its target."""
    outcomes: list[tuple[str, int]] = []
    for name in _ORDER:
        print(f"=== {name}", flush=True)
        status = subprocess.call([sys.executable, str(_HERE / name)])
        outcomes.append((name, status))
    print("=== summary")
    for name, status in outcomes:
        print(f"  {'PASS' if status == 0 else 'FAIL'}  {name}")
    return 0 if all(status == 0 for _, status in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
