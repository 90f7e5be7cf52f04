"""
The ``provenant eval`` commands: run a suite as a CI gate, list suites and cases, import cases.

::

    provenant eval run --suite SUITE_ID --task my_agent:answer --min-pass-rate 0.9
    provenant eval suites
    provenant eval cases SUITE_ID
    provenant eval import SUITE_ID cases.jsonl

``eval run`` exits 0 when the pass rate reaches ``--min-pass-rate``, 1 when it does
not, and 2 when the run could not be made (bad arguments, a task that cannot be
imported, an unreachable or refusing server).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any, Callable, Sequence, TextIO

from provenant._cli._common import add_destination_options
from provenant.client import ProvenantClient
from provenant.errors import ProvenantError

__all__ = ["add_commands"]

_EXIT_OK = 0
_EXIT_GATE_FAILED = 1
_EXIT_USAGE = 2
_DEFAULT_MIN_PASS_RATE = 0.8
_CELL_CHARS = 40
# Keys of a JSONL line, by the wire name they map to.
_IMPORT_KEYS = {
    "name": "name",
    "description": "description",
    "input": "input",
    "expectedOutput": "expected_output",
    "expected_output": "expected_output",
    "expected": "expected_output",
    "scoringFn": "scoring_fn",
    "scoring_fn": "scoring_fn",
    "weight": "weight",
    "tags": "tags",
}


def add_commands(subparsers: Any) -> None:
    """Add ``eval`` with its ``run``, ``suites``, ``cases`` and ``import`` subcommands."""
    group = subparsers.add_parser(
        "eval", help="run eval suites against your agent, list and import cases"
    )
    commands = group.add_subparsers(dest="eval_command", metavar="EVAL_COMMAND")
    group.set_defaults(handler=lambda _args: _usage(group))

    run = commands.add_parser(
        "run",
        help="run a suite through a task and gate on its pass rate",
        description="Run every case of a suite through TASK, submit the results, print the "
        "report. Exit 0 when the pass rate reaches --min-pass-rate, 1 when not, 2 when the "
        "run could not be made.",
    )
    run.add_argument("--suite", required=True, help="the eval suite's id")
    run.add_argument(
        "--task",
        required=True,
        metavar="MODULE:FUNCTION",
        help="the function called with each case's input (sync or async), e.g. my_agent:answer",
    )
    run.add_argument(
        "--agent", default=None, help="the agent evaluated, a name or id (default: the task's)"
    )
    run.add_argument(
        "--min-pass-rate",
        type=_fraction,
        default=_DEFAULT_MIN_PASS_RATE,
        metavar="RATE",
        help="pass rate (0..1) the run must reach to exit 0 (default: 0.8)",
    )
    run.add_argument(
        "--max-concurrency", type=_positive_int, default=4, help="cases run at once (default: 4)"
    )
    run.add_argument("--json", action="store_true", help="print the report as JSON")
    add_destination_options(run)
    run.set_defaults(handler=_run)

    suites = commands.add_parser("suites", help="list the eval suites")
    suites.add_argument("--json", action="store_true", help="print JSON")
    add_destination_options(suites)
    suites.set_defaults(handler=_suites)

    cases = commands.add_parser("cases", help="list the cases of a suite")
    cases.add_argument("suite_id", metavar="SUITE_ID")
    cases.add_argument("--json", action="store_true", help="print JSON")
    add_destination_options(cases)
    cases.set_defaults(handler=_cases)

    imports = commands.add_parser(
        "import",
        help="add cases to a suite from a JSONL file",
        description="Add one case per line of FILE ('-' for standard input). Each line is "
        "an object with 'input' (an object) and any of 'name', 'expectedOutput' (or "
        "'expected'), 'scoringFn', 'weight', 'description', 'tags'. Every line is checked "
        "before any case is added.",
    )
    imports.add_argument("suite_id", metavar="SUITE_ID")
    imports.add_argument("file", metavar="FILE.jsonl")
    add_destination_options(imports)
    imports.set_defaults(handler=_import)


# -- eval run --------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from provenant.evals import evaluate

    try:
        task = _load_task(args.task)
    except (Exception, SystemExit) as exc:  # the module may fail at import in any way
        print(
            f"provenant eval run: cannot load --task {args.task}: {_one_line(exc)}",
            file=sys.stderr,
        )
        return _EXIT_USAGE
    # Tracing stays on here: each case's LLM calls are recorded in its session.
    try:
        client = ProvenantClient(base_url=args.base_url, api_key=args.api_key)
    except ProvenantError as exc:
        return _could_not_run(exc)
    try:
        report = evaluate(
            args.suite,
            task,
            agent_id=args.agent,
            max_concurrency=args.max_concurrency,
            metadata={"source": "provenant eval run", "task": args.task},
            client=client,
        )
    except Exception as exc:  # the task's own errors are per-case results, never raised
        return _could_not_run(exc)
    finally:
        client.shutdown()
    gate_passed = report.pass_rate >= args.min_pass_rate
    verdict = "PASS" if gate_passed else "FAIL"
    relation = ">=" if gate_passed else "<"
    gate = (
        f"{verdict}: pass rate {report.pass_rate:.1%} {relation} minimum {args.min_pass_rate:.1%}"
    )
    if args.json:
        document = report.to_dict()
        document["gate"] = {"minPassRate": args.min_pass_rate, "passed": gate_passed}
        print(json.dumps(document, indent=2, ensure_ascii=False))
        print(gate, file=sys.stderr)
    else:
        print(report)
        print(gate)
    return _EXIT_OK if gate_passed else _EXIT_GATE_FAILED


def _could_not_run(exc: BaseException) -> int:
    print(_one_line(exc), file=sys.stderr)
    return _EXIT_USAGE


def _one_line(exc: BaseException) -> str:
    """``ClassName: message`` on one line (the first line of a longer message)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    more = " ..." if len(lines) > 1 else ""
    return f"{type(exc).__name__}: {lines[0]}{more}"


def _load_task(reference: str) -> Callable[..., Any]:
    """Import ``module:function`` (dotted attributes allowed), from the working directory too."""
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError("expected MODULE:FUNCTION, e.g. my_agent:answer")
    # Like `python -m`, find modules of the directory the command runs in.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{reference} is a {type(target).__name__}, not a function")
    return target  # type: ignore[no-any-return]


# -- eval suites / cases ---------------------------------------------------------------


def _suites(args: argparse.Namespace) -> int:
    with _client(args) as client:
        suites = client.list_eval_suites()
    if args.json:
        print(json.dumps(suites, indent=2, ensure_ascii=False))
        return _EXIT_OK
    rows = [
        [
            str(s.get("id")),
            str(s.get("name") or ""),
            _cell(s.get("description") or ""),
            str(s.get("createdAt") or ""),
        ]
        for s in suites
    ]
    _print_table(["id", "name", "description", "created"], rows, empty="no eval suites")
    return _EXIT_OK


def _cases(args: argparse.Namespace) -> int:
    with _client(args) as client:
        suite = client.get_eval_suite(args.suite_id)
    cases: list[dict[str, Any]] = list(suite.get("cases") or [])
    if args.json:
        print(json.dumps(cases, indent=2, ensure_ascii=False))
        return _EXIT_OK
    rows = [
        [
            str(c.get("id")),
            str(c.get("name") or ""),
            str(c.get("scoringFn") or "exact_match"),
            f"{c.get('weight', 1.0):g}" if isinstance(c.get("weight"), (int, float)) else "1",
            _cell(c.get("input")),
            _cell(c.get("expectedOutput")),
        ]
        for c in cases
    ]
    print(f"suite {suite.get('name') or args.suite_id}: {len(cases)} cases")
    _print_table(["id", "name", "scoring", "weight", "input", "expected"], rows, empty="")
    return _EXIT_OK


# -- eval import -----------------------------------------------------------------------


def _import(args: argparse.Namespace) -> int:
    try:
        if args.file == "-":
            cases = _read_cases(sys.stdin, "<stdin>")
        else:
            with open(args.file, encoding="utf-8") as handle:
                cases = _read_cases(handle, args.file)
    except (OSError, ValueError) as exc:
        print(f"provenant eval import: {exc}", file=sys.stderr)
        return _EXIT_USAGE
    if not cases:
        print(f"provenant eval import: {args.file} holds no cases", file=sys.stderr)
        return _EXIT_USAGE
    with _client(args) as client:
        for fields in cases:
            client.add_eval_case(args.suite_id, **fields)
    print(f"imported {len(cases)} cases into suite {args.suite_id}")
    return _EXIT_OK


def _read_cases(lines: TextIO, source: str) -> list[dict[str, Any]]:
    """Parse and check every line first, so a bad file adds nothing."""
    cases: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}, line {number}"
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{where} is not JSON: {exc}") from exc
        if not isinstance(record, dict):
            raise ValueError(f"{where} is not a JSON object")
        unknown = sorted(set(record) - set(_IMPORT_KEYS))
        if unknown:
            raise ValueError(
                f"{where} has unknown keys {', '.join(unknown)}; "
                f"known: {', '.join(sorted(_IMPORT_KEYS))}"
            )
        if not isinstance(record.get("input"), dict):
            raise ValueError(f"{where} needs 'input', a JSON object")
        fields: dict[str, Any] = {}
        for key, value in record.items():
            target = _IMPORT_KEYS[key]
            if target in fields:
                raise ValueError(f"{where} gives {target} twice (as {key!r} too)")
            fields[target] = value
        fields.setdefault("name", f"case {len(cases) + 1}")
        weight = fields.get("weight")
        if weight is not None and (
            isinstance(weight, bool) or not isinstance(weight, (int, float))
        ):
            raise ValueError(f"{where} has a weight that is not a number: {weight!r}")
        cases.append(fields)
    return cases


# -- shared ----------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> ProvenantClient:
    return ProvenantClient(base_url=args.base_url, api_key=args.api_key, enabled=False)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return _EXIT_USAGE


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is below 1")
    return value


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 3] + "..."


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, empty: str) -> None:
    if not rows:
        if empty:
            print(empty)
        return
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
