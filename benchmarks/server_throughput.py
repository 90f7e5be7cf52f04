"""
Turns per second the local server takes over keep-alive connections.

``provenant serve`` runs in its own process (as it does for the exporter's
delivery); four sender threads here each post turns to their own session over one
persistent ``http.client`` connection with an ``Idempotency-Key`` (what the
exporter does). Prints the rate beside a ``GET /health`` baseline from the same run,
and again while one unauthenticated client has sent a write's headers and stalls (which
must cost the writers nothing: it used to make every commit wait out the 50 ms
grouping window).

    python benchmarks/server_throughput.py [TURNS_PER_THREAD]
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

THREADS = 4
KEY = "pk_live_" + "be" * 16


def _rate(port: int, per_thread: int, sessions: list[str], health: bool) -> float:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    body = json.dumps(
        {
            "role": "ASSISTANT",
            "content": "The answer is 42. " * 10,
            "latencyMs": 120,
            "inputTokens": 50,
            "outputTokens": 20,
            "metadata": {"model": "claude-x", "provider": "anthropic", "stopReason": "end_turn"},
        }
    )
    barrier = threading.Barrier(THREADS + 1)

    def send(session_id: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        barrier.wait()
        for _ in range(per_thread):
            if health:
                conn.request("GET", "/health")
            else:
                sent = dict(headers, **{"Idempotency-Key": str(uuid.uuid4())})
                conn.request("POST", f"/api/sessions/{session_id}/turns", body, sent)
            response = conn.getresponse()
            response.read()
            assert response.status in (200, 201), response.status
        conn.close()

    threads = [threading.Thread(target=send, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return THREADS * per_thread / (time.perf_counter() - start)


def main() -> None:
    per_thread = int(sys.argv[1]) if len(sys.argv) > 1 else 2500
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
            conn = http.client.HTTPConnection("127.0.0.1", port)
            headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
            conn.request(
                "POST", "/api/agents/get-or-create", json.dumps({"name": "bench"}), headers
            )
            agent = json.loads(conn.getresponse().read())
            sessions = []
            for _ in range(THREADS):
                conn.request("POST", "/api/sessions", json.dumps({"agentId": agent["id"]}), headers)
                sessions.append(json.loads(conn.getresponse().read())["id"])
            conn.close()
            baseline = _rate(port, per_thread, sessions, health=True)
            turns = _rate(port, per_thread, sessions, health=False)
            with socket.create_connection(("127.0.0.1", port)) as staller:
                staller.sendall(
                    f"POST /api/sessions/{sessions[0]}/turns HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Content-Length: 1000\r\n\r\n{".encode()
                )
                time.sleep(0.2)
                stalled = _rate(port, per_thread, sessions, health=False)
        finally:
            server.terminate()
            server.wait(10)
    print(f"GET /health (baseline): {baseline:8.0f} req/s   ({THREADS} keep-alive threads)")
    print(f"POST .../turns:         {turns:8.0f} turns/s ({THREADS} keep-alive threads)")
    print(f"  ... one client stalled: {stalled:6.0f} turns/s (unauthenticated, headers sent)")


if __name__ == "__main__":
    main()
