"""
What answering the JSON columns decoded costs ``provenant serve`` on a read.

One session of 2,000 turns (text and JSON content, tool calls, metadata of a recorded
LLM call) is read over HTTP with ``GET /api/sessions/:id`` by a keep-alive client,
in rounds that alternate three ways of sending the list from the same server in one
process: the columns as JSON text (what 0.1 answered, the baseline), decoded by parsing
each column and encoding the record again, and decoded by splicing the stored JSON text
into the answer (what it does now). Prints the median milliseconds per read of each. The machine is
shared (2 cores, other work running): expect noise of several percent.

    python benchmarks/bench_read_answers.py [TURNS] [ROUNDS]
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
import time
from typing import Any

from provenant.server import _sessions, start_server
from provenant.server._records import turn_json, turn_record

_KEYS = (
    "id",
    "sessionId",
    "role",
    "content",
    "toolCalls",
    "latencyMs",
    "inputTokens",
    "outputTokens",
    "metadata",
    "createdAt",
)


def _as_text(row: Any) -> bytes:
    """The 0.1 server's answer: every column as the text it is stored as."""
    return json.dumps(dict(zip(_KEYS, row[:10]))).encode("utf-8")


def _parsed(row: Any) -> bytes:
    """Columns decoded by parsing each one and encoding the record again."""
    return json.dumps(turn_record(row)).encode("utf-8")


VARIANTS = {
    "columns as JSON text (0.1, the baseline)": _as_text,
    "decoded by parsing and re-encoding": _parsed,
    "decoded, stored text spliced (now)": turn_json,
}


def _fill(backend_url: str, key: str, turns: int) -> str:
    from provenant.client import ProvenantClient

    client = ProvenantClient(base_url=backend_url, api_key=key, enabled=False)
    session = client.create_session("Bench Bot", metadata={"input": {"q": "hello"}})
    for i in range(turns):
        if i % 2:
            client.add_turn(
                session["id"],
                "ASSISTANT",
                [{"type": "text", "text": f"answer {i} " * 8}],
                tool_calls=[{"id": f"c{i}", "name": "lookup", "input": {"q": i}}],
                input_tokens=120,
                output_tokens=40,
                metadata={"model": "m", "provider": "p", "stopReason": "end_turn", "span": ["a"]},
            )
        else:
            client.add_turn(session["id"], "USER", f"question {i} " * 8, metadata={"span": ["a"]})
    client.shutdown()
    return str(session["id"])


def _read_ms(port: int, key: str, session_id: str, reads: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    for _ in range(reads):
        start = time.perf_counter()
        conn.request(
            "GET", f"/api/sessions/{session_id}", headers={"Authorization": f"Bearer {key}"}
        )
        body = conn.getresponse().read()
        times.append((time.perf_counter() - start) * 1000)
        assert body
    conn.close()
    return statistics.median(times)


def main() -> None:
    turns = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_server(db_path=f"{tmp}/bench.db", host="127.0.0.1", port=0) as server,
    ):
        key = server.api_keys[0]
        session_id = _fill(server.url, key, turns)
        port = int(server.url.rsplit(":", 1)[1])
        results: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(rounds):
            for name, encode in VARIANTS.items():
                _sessions.turn_json = encode  # what get_session's turns are sent by
                results[name].append(_read_ms(port, key, session_id, 5))
        _sessions.turn_json = turn_json
    base = statistics.median(results[next(iter(VARIANTS))])
    print(f"GET /api/sessions/:id with {turns} turns, median of {rounds} rounds of 5 reads")
    for name, times in results.items():
        median = statistics.median(times)
        print(f"  {name:42s} {median:7.1f} ms  ({(median / base - 1) * 100:+.0f}%)")


if __name__ == "__main__":
    main()
