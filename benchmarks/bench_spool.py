"""
Memory during a long outage: 200,000 turns recorded while the API refuses connections
stay on disk (the spool), not in memory.

    python benchmarks/bench_spool.py [--turns 200000] [--per-session 100]

A child process records ``--turns`` turns (sessions of ``--per-session`` turns) to an
API URL where nothing listens, in chunks of 5,000, letting each chunk reach the spool
before the next (the in-memory queue holds 10,000 events: a faster burst is the
queue's policy's business, not the spool's). It prints its resident memory (VmRSS)
after the first chunk (the SDK, SQLite and the forwarder are warm then) and after the
last, the spool's backlog and what was dropped. The issue's target: growth under 50 MB.

The caller thread's CPU per instrumented call against the commit before the spool is
``bench_process_cpu.py --baseline 7c13ca7`` (same run, both trees).

The machine is shared (2 cores, other engineers' runs): times vary between runs; the
memory figure does not much.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap

_TARGET_MB = 50.0

_CHILD = """
import json, sys, time
import provenant

def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0

url, turns, per_session = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = provenant.ProvenantClient(base_url=url, api_key="pk_live_" + "0" * 32, agent_id="Bot")
processor = client._tracer._processor
chunk, done, first = 5000, 0, None
started = time.monotonic()
while done < turns:
    target = min(turns, done + chunk)
    while done < target:
        with client.session() as session:
            for n in range(per_session):
                session.add_turn("USER", f"turn {n} of a session recorded during an outage")
        done += per_session
    processor.flush(60, to_destination=False)  # on disk, the API still unreachable
    if first is None:
        first = rss_mb()
elapsed = time.monotonic() - started
stats = client.stats()
print(json.dumps({
    "rss_first_mb": first, "rss_last_mb": rss_mb(), "turns": done, "seconds": elapsed,
    "spool_records": stats["spool"]["records"], "dropped": stats["dropped"],
}), flush=True)
client.shutdown(0.1)
"""


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--turns", type=int, default=200_000)
    parser.add_argument("--per-session", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-spool-") as directory:
        env = {**os.environ, "PROVENANT_SPOOL_DIR": directory}
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                textwrap.dedent(_CHILD),
                _closed_port_url(),
                str(args.turns),
                str(args.per_session),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        spool_mb = (
            sum(os.path.getsize(os.path.join(directory, name)) for name in os.listdir(directory))
            / 1e6
        )
    growth = result["rss_last_mb"] - result["rss_first_mb"]
    print(
        f"outage of {result['turns']:,} turns ({args.per_session} per session), "
        f"recorded in {result['seconds']:.1f} s"
    )
    print(f"  resident memory after the first 5,000 turns  {result['rss_first_mb']:8.1f} MB")
    print(f"  resident memory after the last               {result['rss_last_mb']:8.1f} MB")
    verdict = "under" if growth < _TARGET_MB else "OVER"
    print(
        f"  growth                                       {growth:8.1f} MB  "
        f"({verdict} the {_TARGET_MB:.0f} MB target)"
    )
    print(
        f"  spool backlog {result['spool_records']:,} records, files {spool_mb:.1f} MB; "
        f"dropped {result['dropped'] or 'nothing'}"
    )


if __name__ == "__main__":
    main()
