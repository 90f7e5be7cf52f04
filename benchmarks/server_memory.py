"""
Peak memory of ``provenant serve`` while clients read a large list.

15 agents with 4.9 MB descriptions (a 73 MB ``GET /api/agents`` answer), read by
8 keep-alive clients at once, 3 times each. Prints the server's resident memory once
the agents are stored (the baseline) beside its peak (``VmHWM``) while answering,
from the same run. Linux only (reads ``/proc``).

    python benchmarks/server_memory.py [AGENTS] [CLIENTS]
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading

KEY = "pk_live_" + "ce" * 16
DESCRIPTION_BYTES = 4_900_000
ROUNDS = 3


def _memory_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def _read_lists(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    for _ in range(ROUNDS):
        conn.request("GET", "/api/agents", headers={"Authorization": f"Bearer {KEY}"})
        response = conn.getresponse()
        while response.read(1 << 20):
            pass
        assert response.status == 200, response.status
    conn.close()


def main() -> None:
    agents = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    with tempfile.TemporaryDirectory() as directory:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "provenant",
                "serve",
                "--port",
                "0",
                "--api-key",
                KEY,
                "--db",
                os.path.join(directory, "bench.db"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            match = re.search(r":(\d+)$", server.stdout.readline().strip())
            assert match, "no start line"
            port = int(match.group(1))
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
            for i in range(agents):
                body = json.dumps({"name": f"Agent {i}", "description": "x" * DESCRIPTION_BYTES})
                conn.request("POST", "/api/agents/get-or-create", body, headers)
                conn.getresponse().read()
            conn.close()
            baseline = _memory_kib(server.pid, "VmRSS")
            before = _memory_kib(server.pid, "VmHWM")
            threads = [threading.Thread(target=_read_lists, args=(port,)) for _ in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            peak = _memory_kib(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(10)
    answer_mb = agents * DESCRIPTION_BYTES / 1e6
    print(f"server resident, agents stored (baseline): {baseline / 1024:7.0f} MB")
    print(f"server peak while storing them:            {before / 1024:7.0f} MB")
    print(
        f"server peak, {clients} clients reading a {answer_mb:.0f} MB list {ROUNDS}x:"
        f" {peak / 1024:7.0f} MB"
    )


if __name__ == "__main__":
    main()
