"""
Turns per second the local server takes over keep-alive connections.

Four sender threads, each posting turns to its own session over one persistent
``http.client`` connection (what the exporter does), against ``provenant serve``'s
server in this process. Prints the rate beside a ``GET /health`` baseline.

    python benchmarks/server_throughput.py [TURNS_PER_THREAD]
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import tempfile
import threading
import time

from provenant.server import start_server

THREADS = 4


def _run(url: str, key: str, per_thread: int, health: bool) -> float:
    host, port = url[len("http://") :].split(":")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    sessions = []
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("POST", "/api/agents/get-or-create", json.dumps({"name": "bench"}), headers)
    agent = json.loads(conn.getresponse().read())
    for _ in range(THREADS):
        conn.request("POST", "/api/sessions", json.dumps({"agentId": agent["id"]}), headers)
        sessions.append(json.loads(conn.getresponse().read())["id"])
    conn.close()
    body = json.dumps(
        {
            "role": "ASSISTANT",
            "content": "The answer is 42. " * 10,
            "latencyMs": 120,
            "inputTokens": 50,
            "outputTokens": 20,
            "metadata": {"model": "claude", "provider": "anthropic"},
        }
    )
    barrier = threading.Barrier(THREADS + 1)

    def send(session_id: str) -> None:
        c = http.client.HTTPConnection(host, int(port))
        barrier.wait()
        for _ in range(per_thread):
            if health:
                c.request("GET", "/health")
            else:
                c.request("POST", f"/api/sessions/{session_id}/turns", body, headers)
            response = c.getresponse()
            response.read()
            assert response.status in (200, 201), response.status
        c.close()

    threads = [threading.Thread(target=send, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return THREADS * per_thread / (time.perf_counter() - start)


def main() -> None:
    per_thread = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as directory, start_server(
        os.path.join(directory, "bench.db")
    ) as server:
        key = server.api_keys[0]
        baseline = _run(server.url, key, per_thread, health=True)
        turns = _run(server.url, key, per_thread, health=False)
    print(f"GET /health (baseline): {baseline:8.0f} req/s  ({THREADS} keep-alive threads)")
    print(f"POST turns:             {turns:8.0f} turns/s ({THREADS} keep-alive threads)")


if __name__ == "__main__":
    main()
