"""
The least that recording a call costs on this machine, under the REST contract.

    python benchmarks/bench_floor.py [--calls 50] [--rounds 40]

``bench_instrument.py`` holds an instrumented call to at most 1.05 times the raw call.
This benchmark asks how much of that budget any in-process recorder must spend, whatever
its code, because the contract has no batch route: a single-call session is four HTTP
requests (create, USER turn, ASSISTANT turn, end), each answered before the next of the
same session may go.

One process times ``messages.create`` on one ``anthropic.Anthropic`` client against the
fake provider (a child process), in alternating phases of back-to-back calls:

- ``raw``: the plain call;
- ``sdk -> server``: instrumented, delivering to a live local Provenant server at the
  lowest CPU priority (the figure of ``bench_instrument.py``);
- ``sdk -> sink``: instrumented, delivering to a sink that answers every request at almost
  no CPU (a stand-in for a platform whose work happens on other machines);
- ``sdk, nothing sent``: instrumented, its exporter's backend swapped for one that encodes
  each body and answers at once without any I/O: what recording costs in this process
  before the first byte is sent;
- ``sdk, caller only``: instrumented, its worker dropping every event as it takes it
  (nothing built, nothing sent): what the SDK's work on the caller's thread costs alone;
- ``bare, one by one``: no SDK; after each call a background thread sends the four
  requests of a single-call session to the sink, prebuilt bytes on a raw socket, each
  answered before the next, as the contract's in-order delivery requires;
- ``bare, pipelined``: the same requests, but everything pending written at once and the
  answers read after (HTTP/1.1 pipelining, which in-order delivery cannot use: a retried
  429 or 503 would land after the requests sent behind it);
- ``bare, child process``: the same requests sent one by one by a child process, which
  the background thread feeds through a pipe (delivery off the caller's interpreter);
- ``capture here, record in a child``: the least an out-of-process recorder would leave
  in this process, whatever its design: a pass-through wrapper keeps each call's request
  and reply, and a background thread pickles what is pending, one pipe write per wake,
  to a child process at the lowest CPU priority that records each call with a real
  ``ProvenantClient`` (a single-call session delivered to the sink);
- ``raw, X% busy beside``: the plain call while an unrelated process keeps the CPU busy
  X% of the time (busy for a slice, then asleep): what background work costs the call
  on this machine when it runs elsewhere, with no interpreter and no socket shared;
- ``raw, 5% busy thread``: the same slices of work run as Python by a thread of this
  process, which holds the interpreter lock the caller's thread needs while it runs;
- ``raw, again``: the plain call once more, in phases of its own: how far two phases of
  the very same call differ in this run, the resolution of every figure above.

Each ratio is beside the raw call of the same run; the variants take turns in a shuffled
(seeded) order each round, so that none always follows the same neighbour. Recording a
call takes CPU somewhere while later calls run: the SDK's worker builds and encodes the
turns and sends four requests, and the platform (here a local server) handles them. The
busy variants show what a given share of background CPU costs the caller here, whoever
spends it.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import pickle
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Callable, Mapping, Optional

import anthropic
import wrapt
from bench_instrument import _call, _start_servers, _stop_servers, _timed

import provenant
from provenant._json import compact_json
from provenant.backends._http_exporter import HttpExporter
from provenant.client import ProvenantClient

_REQUESTS_PER_SESSION = 4
_IDLE_WAIT_S = 0.005  # how often the bare senders look for work, as the SDK's worker does

# A stand-in platform: answers each request with a fixed reply as soon as it is read, at
# the lowest CPU priority. Creates get a fresh id; the rest an empty object.
_SINK_CHILD = r"""
import json, os, socket, sys, threading, uuid
if hasattr(os, "nice"):
    os.nice(19)

def answer(status, body):
    data = json.dumps(body).encode()
    head = f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
    return (head + f"Content-Length: {len(data)}\r\n\r\n").encode() + data

def serve(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = b""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
            continue
        head = buffer[:end].decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        while len(buffer) < end + 4 + length:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
        buffer = buffer[end + 4 + length:]
        target = head.split(" ", 2)[1]
        if target.endswith(("/api/sessions", "/get-or-create")):
            reply = answer(201, {"id": str(uuid.uuid4()), "name": "Bench Bot"})
        else:
            reply = answer(201, {})
        conn.sendall(reply)

listener = socket.create_server(("127.0.0.1", 0))
print(json.dumps({"sink": f"http://127.0.0.1:{listener.getsockname()[1]}"}), flush=True)
threading.Thread(target=lambda: sys.stdin.read() or os._exit(0), daemon=True).start()
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


class NothingSent:
    """A backend that encodes each body as the HTTP backend would and sends nothing."""

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Optional[Mapping[str, str]] = None,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
        retries: Optional[int] = None,
        decode: bool = True,
    ) -> Any:
        compact_json(body).encode("utf-8")
        if path.endswith(("/api/sessions", "/get-or-create")):
            return {"id": str(uuid.uuid4()), "name": "Bench Bot"}
        return None  # the exporter reads no other answer

    def close(self) -> None:
        pass


def _start_sink() -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _SINK_CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    return child, str(json.loads(child.stdout.readline())["sink"])


def _turn_request(port: int) -> bytes:
    """One turn POST as the SDK sends it, headers and body, to replay as is."""
    body = json.dumps(
        {
            "role": "ASSISTANT",
            "content": "To reset your password, open Settings.",
            "latencyMs": 1,
            "inputTokens": 12,
            "outputTokens": 30,
            "metadata": {"model": "claude-bench", "provider": "anthropic", "stream": False},
        }
    ).encode()
    head = (
        "POST /api/sessions/00000000-0000-4000-8000-000000000000/turns HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer bench\r\n"
        "Content-Type: application/json\r\n"
        "Idempotency-Key: 00000000-0000-4000-8000-000000000001\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _after_answer(sock: socket.socket, buffer: bytes) -> bytes:
    """Read one answer (headers and a Content-Length body); return the bytes after it."""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = buffer[:end].lower()
            start = head.find(b"content-length:") + len(b"content-length:")
            length = int(head[start:].split(b"\r\n", 1)[0])
            if len(buffer) >= end + 4 + length:
                return buffer[end + 4 + length :]
        buffer += sock.recv(65536)


def _deliver_from_stdin(port: int) -> None:
    """The delivery child (``--deliver PORT``): send each length-prefixed request read
    from stdin to the sink, read its answer before the next, and write a byte per answer."""
    sock = _connect(port)
    pipe = sys.stdin.buffer
    buffer = b""
    while True:
        line = pipe.readline()
        if not line:
            return
        sock.sendall(pipe.read(int(line)))
        buffer = _after_answer(sock, buffer)
        sys.stdout.buffer.write(b".")
        sys.stdout.buffer.flush()


class _Sender:
    """The calls recorded and not yet handed over, counted by a background thread."""

    def __init__(self) -> None:
        self._pending: collections.deque[Any] = collections.deque()

    def record(self) -> None:
        self._pending.append(None)

    def drain(self) -> None:
        """Wait until everything recorded was sent."""
        while self._pending:
            time.sleep(0.002)


class BareSender(_Sender):
    """
    A background thread that sends four requests per recorded call and does nothing else:
    the socket work of a recorder without its code.

    Args:
        port: The sink's port.
        pipelined: Write everything pending at once, then read the answers; else send
            each request after the previous one is answered.
    """

    def __init__(self, port: int, pipelined: bool) -> None:
        super().__init__()
        self._request = _turn_request(port)
        self._pipelined = pipelined
        self._sock = _connect(port)
        self._buffer = b""
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            if not self._pending:
                time.sleep(_IDLE_WAIT_S)
                continue
            calls = len(self._pending)
            if self._pipelined:
                self._sock.sendall(self._request * (_REQUESTS_PER_SESSION * calls))
                for _ in range(_REQUESTS_PER_SESSION * calls):
                    self._read_answer()
            else:
                for _ in range(_REQUESTS_PER_SESSION * calls):
                    self._sock.sendall(self._request)
                    self._read_answer()
            for _ in range(calls):
                self._pending.popleft()

    def _read_answer(self) -> None:
        self._buffer = _after_answer(self._sock, self._buffer)


class ChildSender(_Sender):
    """A background thread that writes four requests per recorded call into a pipe, to a
    child process that sends them one by one."""

    def __init__(self, port: int) -> None:
        super().__init__()
        request = _turn_request(port)
        self._framed = b"%d\n" % len(request) + request
        self._child = subprocess.Popen(
            [sys.executable, __file__, "--deliver", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._sent = 0
        self._answered = 0
        threading.Thread(target=self._run, daemon=True).start()

    def drain(self) -> None:
        """Wait until the child has sent everything handed to it."""
        super().drain()
        assert self._child.stdout is not None
        while self._answered < self._sent:
            self._answered += len(os.read(self._child.stdout.fileno(), self._sent - self._answered))

    def close(self) -> None:
        assert self._child.stdin is not None
        self._child.stdin.close()
        self._child.wait(10)

    def _run(self) -> None:
        assert self._child.stdin is not None
        pipe = self._child.stdin.fileno()
        while True:
            if not self._pending:
                time.sleep(_IDLE_WAIT_S)
                continue
            calls = len(self._pending)
            data = self._framed * (_REQUESTS_PER_SESSION * calls)
            self._sent += _REQUESTS_PER_SESSION * calls
            while data:
                data = data[os.write(pipe, data) :]
            for _ in range(calls):
                self._pending.popleft()


def _record_from_stdin(url: str) -> None:
    """
    The recording child (``--record URL``): at the lowest CPU priority, record each call
    of each pickled batch read from stdin as a single-call session of a real
    ``ProvenantClient`` delivering to ``url``; an empty frame asks for a flush, answered
    with one byte once everything read so far was delivered.
    """
    if hasattr(os, "nice"):
        os.nice(19)
    recorder = ProvenantClient(base_url=url, api_key="bench")
    pipe = sys.stdin.buffer
    while True:
        line = pipe.readline()
        if not line:
            break
        size = int(line)
        if not size:
            recorder.flush(60)
            sys.stdout.buffer.write(b".")
            sys.stdout.buffer.flush()
            continue
        for request, reply, latency_s in pickle.loads(pipe.read(size)):
            session = recorder.session("Bench Bot")
            with session:
                session.add_turn("USER", request["messages"][-1]["content"])
                session.add_turn(
                    "ASSISTANT",
                    reply.content[0].text,
                    latency_ms=int(latency_s * 1000),
                    input_tokens=reply.usage.input_tokens,
                    output_tokens=reply.usage.output_tokens,
                    metadata={"model": reply.model, "provider": "anthropic", "stream": False},
                )
    recorder.shutdown(30)


class ChildRecorder(_Sender):
    """
    Capture here, record in a child: a pass-through wrapper keeps each call's request
    (its kwargs, the message list copied) and reply; a background thread pickles what is
    pending, one pipe write per wake, to the recording child (see
    :func:`_record_from_stdin`).

    Args:
        url: Where the child delivers (the sink).
    """

    def __init__(self, url: str) -> None:
        super().__init__()
        self._child = subprocess.Popen(
            [sys.executable, __file__, "--record", url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        threading.Thread(target=self._run, daemon=True).start()

    def wrap(self, client: anthropic.Anthropic) -> anthropic.Anthropic:
        """Have ``client.messages.create`` hand each call over; returns ``client``."""
        pending = self._pending

        def capture(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            started = time.perf_counter()
            reply = wrapped(*args, **kwargs)
            request = dict(kwargs, messages=list(kwargs["messages"]))
            pending.append((request, reply, time.perf_counter() - started))
            return reply

        wrapt.wrap_function_wrapper(client.messages, "create", capture)
        return client

    def drain(self) -> None:
        """Wait until the child has delivered everything handed to it."""
        super().drain()
        self._write(b"0\n")
        assert self._child.stdout is not None
        self._child.stdout.read(1)

    def close(self) -> None:
        assert self._child.stdin is not None
        self._child.stdin.close()
        self._child.wait(30)

    def _write(self, data: bytes) -> None:
        assert self._child.stdin is not None
        pipe = self._child.stdin.fileno()
        while data:
            data = data[os.write(pipe, data) :]

    def _run(self) -> None:
        pending = self._pending
        while True:
            if not pending:
                time.sleep(_IDLE_WAIT_S)
                continue
            calls = [pending[index] for index in range(len(pending))]
            data = pickle.dumps(calls, pickle.HIGHEST_PROTOCOL)
            self._write(b"%d\n" % len(data) + data)
            for _ in calls:
                pending.popleft()


# Busy for a slice, then asleep, for the given share of the time; stopped (SIGSTOP)
# outside its own phases.
_BUSY_CHILD = """
import sys, time
busy = float(sys.argv[1]) * 0.002
while True:
    start = time.perf_counter()
    while time.perf_counter() - start < busy:
        pass
    time.sleep(0.002 - busy)
"""


class BusyProcess:
    """A process that keeps a CPU busy ``share`` of the time while resumed."""

    def __init__(self, share: float) -> None:
        self._child = subprocess.Popen([sys.executable, "-c", _BUSY_CHILD, str(share)])
        self.pause()

    def pause(self) -> None:
        os.kill(self._child.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self._child.pid, signal.SIGCONT)

    def close(self) -> None:
        self._child.kill()
        self._child.wait(10)


class BusyThread:
    """A thread of this process that runs Python ``share`` of the time while resumed."""

    def __init__(self, share: float) -> None:
        self._busy_s = share * 0.002
        self._running = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def close(self) -> None:
        self._running.clear()

    def _run(self) -> None:
        while True:
            self._running.wait()
            start = time.perf_counter()
            while time.perf_counter() - start < self._busy_s:
                pass
            time.sleep(0.002 - self._busy_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50, help="calls per round and variant")
    parser.add_argument("--rounds", type=int, default=40, help="rounds (the median is taken)")
    parser.add_argument("--deliver", type=int, help=argparse.SUPPRESS)  # a child's role
    parser.add_argument("--record", help=argparse.SUPPRESS)  # a child's role
    args = parser.parse_args(argv)
    if args.deliver is not None:
        _deliver_from_stdin(args.deliver)
        return 0
    if args.record is not None:
        _record_from_stdin(args.record)
        return 0

    children, urls = _start_servers()
    sink, sink_url = _start_sink()
    sink_port = int(sink_url.rsplit(":", 1)[1])
    raw = anthropic.Anthropic(base_url=urls["fake"], api_key="bench", max_retries=0)
    to_server = ProvenantClient(base_url=urls["server"], api_key=urls["key"])
    to_sink = ProvenantClient(base_url=sink_url, api_key="bench")
    in_process = ProvenantClient(base_url=sink_url, api_key="bench")
    processor = in_process._tracer._processor
    assert processor is not None
    exporter = processor._exporter
    assert isinstance(exporter, HttpExporter)
    exporter._backend = NothingSent()  # used from the first event on: nothing is sent
    caller_only = ProvenantClient(base_url=sink_url, api_key="bench")
    dropping = caller_only._tracer._processor
    assert dropping is not None

    def drop_all(batch: list[Any]) -> None:
        for event in batch:
            dropping._drop(event, "bench")

    # Each event is dropped (counted, its session's bookkeeping done) as a worker takes it.
    dropping._export = drop_all  # type: ignore[method-assign]
    recorders = (to_server, to_sink, in_process, caller_only)
    one_by_one = BareSender(sink_port, pipelined=False)
    pipelined = BareSender(sink_port, pipelined=True)
    via_child = ChildSender(sink_port)
    recording_child = ChildRecorder(sink_url)

    def bare(sender: _Sender) -> None:
        _call(raw)
        sender.record()

    variants: dict[str, Callable[[], None]] = {
        "raw": functools.partial(_call, raw),
        "sdk -> server": functools.partial(
            _call, provenant.instrument(raw.copy(), provenant=to_server, agent_id="Bench Bot")
        ),
        "sdk -> sink": functools.partial(
            _call, provenant.instrument(raw.copy(), provenant=to_sink, agent_id="Bench Bot")
        ),
        "sdk, nothing sent": functools.partial(
            _call, provenant.instrument(raw.copy(), provenant=in_process, agent_id="Bench Bot")
        ),
        "sdk, caller only": functools.partial(
            _call, provenant.instrument(raw.copy(), provenant=caller_only, agent_id="Bench Bot")
        ),
        "bare, one by one": functools.partial(bare, one_by_one),
        "bare, pipelined": functools.partial(bare, pipelined),
        "bare, child process": functools.partial(bare, via_child),
        "capture here, record in a child": functools.partial(
            _call, recording_child.wrap(raw.copy())
        ),
    }
    busy: dict[str, BusyProcess | BusyThread] = {
        f"raw, {share:.0%} busy beside": BusyProcess(share) for share in (0.05, 0.2)
    }
    busy["raw, 5% busy thread"] = BusyThread(0.05)
    for name in (*busy, "raw, again"):
        variants[name] = variants["raw"]
    order = random.Random(0)
    walls: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(30):  # warm up: connections, agent ids, threads
            for call in variants.values():
                call()
        assert exporter._http is None, "the swapped backend is not in use"
        for _ in range(args.rounds):
            names = list(variants)
            order.shuffle(names)
            for name in names:
                call = variants[name]
                if name in busy:
                    busy[name].resume()
                    time.sleep(0.01)
                walls[name] += _timed(call, args.calls)[0]
                if name in busy:
                    busy[name].pause()
                # Let the phase's delivery finish before the next phase is timed.
                for recorder in recorders:
                    recorder.flush(60)
                one_by_one.drain()
                pipelined.drain()
                via_child.drain()
                recording_child.drain()
    finally:
        via_child.close()
        recording_child.close()
        for process in busy.values():
            process.close()
        for recorder in recorders:
            recorder.shutdown(30)
        _stop_servers(children)
        assert sink.stdin is not None
        sink.stdin.close()
        sink.wait(10)

    median = {name: statistics.median(values) for name, values in walls.items()}
    print(
        f"bench_floor: anthropic messages.create, single-call sessions, {args.calls} calls x "
        f"{args.rounds} rounds per variant, median wall per call"
    )
    for name, value in median.items():
        print(f"  {name:<32}{value * 1e6:9.1f} us{value / median['raw']:8.3f}")
    points = {name: (value / median["raw"] - 1) * 100 for name, value in median.items()}
    print(
        f"  of the 5.0 points bench_instrument allows: the SDK's work on the caller's thread "
        f"alone takes {points['sdk, caller only']:.1f}; recording in this process before any "
        f"I/O takes {points['sdk, nothing sent']:.1f}; four in-order exchanges per session "
        f"with no code at all take {points['bare, one by one']:.1f}; another process busy "
        f"5% of the time takes {points['raw, 5% busy beside']:.1f}, and 20% of the time "
        f"{points['raw, 20% busy beside']:.1f}; a thread here running Python 5% of the "
        f"time takes {points['raw, 5% busy thread']:.1f}; recording in a child, with only "
        f"the capture and a pipe write per wake left here, takes "
        f"{points['capture here, record in a child']:.1f}; two phases of the same raw call "
        f"differ by {points['raw, again']:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
