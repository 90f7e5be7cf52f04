"""
The cost of OpenTelemetry export on the caller's thread.

Printed side by side, from the same run (median of interleaved rounds):

* an empty ``@trace`` function inside an active session, with OTel export off and on
  (a ``TracerProvider`` with a ``BatchSpanProcessor`` over a no-op exporter), beside a
  raw OpenTelemetry ``start_as_current_span`` child span on the same provider;
* a session block (enter and exit), with OTel export off and on, beside a raw
  OpenTelemetry root span.

Both clients deliver their Provenant records to a live local server in a child process,
as the tracing core's benchmark does::

    python benchmarks/bench_otel.py
"""

from __future__ import annotations

import contextlib
import statistics
import sys
from typing import Sequence

# Run as a script from this folder, like bench_delivery.py: the shared helpers live there.
from bench_tracing import interleaved, live_server, per_call_us
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from provenant import ProvenantClient

ROUNDS = 41
CALLS_PER_ROUND = 1_000
SESSION_ROUNDS = 21
SESSIONS_PER_ROUND = 200


class CountingExporter(SpanExporter):
    """Exports nowhere; counts the spans it was given."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def main() -> int:
    exporter = CountingExporter()
    provider = TracerProvider()
    # A queue large enough that no span is dropped: the figure is the cost of exporting.
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=200_000))
    raw = provider.get_tracer("bench")

    def bare() -> None:
        return None

    def raw_child() -> None:
        with raw.start_as_current_span("child"):
            return None

    # The attributes an exported step span carries (kind, conversation id, function).
    step_attributes = {
        "provenant.span.kind": "step",
        "gen_ai.conversation.id": "5f0c6b8e-3d0a-4a43-9a53-0b8f3f0e6a11",
        "code.function.name": "bench.bare",
    }

    def raw_child_attributes() -> None:
        with raw.start_as_current_span("child", attributes=step_attributes):
            return None

    with live_server() as (url, key):
        off = ProvenantClient(base_url=url, api_key=key, agent_id="Bench Bot")
        on = ProvenantClient(base_url=url, api_key=key, agent_id="Bench Bot", otel=provider)
        traced_off = off.trace(kind="step")(bare)
        traced_on = on.trace(kind="step")(bare)

        # Each candidate runs inside its own client's session (OTel root current for raw).
        samples: dict[str, list[float]] = {
            "bare": [],
            "off": [],
            "on": [],
            "raw": [],
            "raw_attributes": [],
        }
        for _ in range(ROUNDS):
            samples["bare"].append(per_call_us(bare, CALLS_PER_ROUND))
            with off.session("Bench Bot"):
                samples["off"].append(per_call_us(traced_off, CALLS_PER_ROUND))
            with on.session("Bench Bot"):
                samples["on"].append(per_call_us(traced_on, CALLS_PER_ROUND))
            with raw.start_as_current_span("root"):
                samples["raw"].append(per_call_us(raw_child, CALLS_PER_ROUND))
                samples["raw_attributes"].append(per_call_us(raw_child_attributes, CALLS_PER_ROUND))
        hot = {name: statistics.median(values) for name, values in samples.items()}
        print("empty @trace(kind='step') inside an active session (median per call)")
        print(f"  bare call                          {hot['bare']:8.3f} us")
        print(
            f"  @trace, OTel export off            {hot['off']:8.3f} us   "
            f"(+{hot['off'] - hot['bare']:.3f} us)"
        )
        print(
            f"  @trace, OTel export on             {hot['on']:8.3f} us   "
            f"(+{hot['on'] - hot['bare']:.3f} us)"
        )
        print(
            f"  raw OTel start_as_current_span     {hot['raw']:8.3f} us   "
            f"(+{hot['raw'] - hot['bare']:.3f} us)"
        )
        print(
            f"  the same with the step attributes  {hot['raw_attributes']:8.3f} us   "
            f"(+{hot['raw_attributes'] - hot['bare']:.3f} us)"
        )

        def session_off() -> None:
            with off.session("Bench Bot"):
                pass

        def session_on() -> None:
            with on.session("Bench Bot"):
                pass

        def raw_root() -> None:
            with raw.start_as_current_span("session"):
                pass

        def empty_block() -> None:
            with contextlib.nullcontext():
                pass

        blocks = interleaved(
            {"empty": empty_block, "off": session_off, "on": session_on, "raw": raw_root},
            rounds=SESSION_ROUNDS,
            calls=SESSIONS_PER_ROUND,
        )
        print("session enter + exit, the worker delivering to a live server (median per block)")
        print(f"  empty with-block                   {blocks['empty']:8.3f} us")
        print(f"  session block, OTel export off     {blocks['off']:8.3f} us")
        print(
            f"  session block, OTel export on      {blocks['on']:8.3f} us   "
            f"(+{blocks['on'] - blocks['off']:.3f} us for the span)"
        )
        print(f"  raw OTel root span                 {blocks['raw']:8.3f} us")
        off.shutdown(timeout=60)
        on.shutdown(timeout=60)
    provider.shutdown()
    print(
        f"spans exported: {exporter.exported}; Provenant delivered: "
        f"{off.stats()['delivered'] + on.stats()['delivered']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
