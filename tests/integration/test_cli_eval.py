"""The `provenant eval` commands against the real local server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from provenant import ProvenantClient
from provenant._cli import main
from provenant.server import LocalServer

_TASK_MODULE = """
import asyncio


def answer(case_input):
    return case_input["q"] if case_input.get("right", True) else "wrong"


async def answer_async(case_input):
    await asyncio.sleep(0)
    return answer(case_input)
"""


@pytest.fixture
def suite_id(provenant_client: ProvenantClient) -> str:
    """A suite of four cases of which the task module's answer gets three right."""
    suite = provenant_client.create_eval_suite("gate")
    for index in range(4):
        provenant_client.add_eval_case(
            str(suite["id"]),
            f"case {index}",
            {"q": f"answer {index}", "right": index != 3},
            {"answer": f"answer {index}"},
        )
    return str(suite["id"])


def _eval_run(
    server: LocalServer, api_key: str, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "gate_task.py").write_text(_TASK_MODULE, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    for name in ("PROVENANT_BASE_URL", "PROVENANT_API_KEY", "PROVENANT_AGENT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "provenant", "eval", "run", *args]
    if "--base-url" not in args:
        command += ["--base-url", server.url, "--api-key", api_key]
    return subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )


def test_gate_exits_0_when_the_pass_rate_reaches_the_threshold(
    provenant_server: LocalServer, provenant_api_key: str, suite_id: str, tmp_path: Path
) -> None:
    """`eval run` exits 0 and prints the report when the pass rate reaches --min-pass-rate."""
    done = _eval_run(
        provenant_server, provenant_api_key, tmp_path,
        "--suite", suite_id, "--task", "gate_task:answer", "--min-pass-rate", "0.75",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "3/4 passed (75.0%)" in done.stdout
    assert done.stdout.rstrip().endswith("PASS: pass rate 75.0% >= minimum 75.0%")
    assert done.stderr == ""  # not a TTY: no progress line


def test_gate_exits_1_when_the_pass_rate_falls_short(
    provenant_server: LocalServer, provenant_api_key: str, suite_id: str, tmp_path: Path
) -> None:
    """`eval run` exits 1 when the pass rate is under --min-pass-rate, with --json on stdout."""
    done = _eval_run(
        provenant_server, provenant_api_key, tmp_path,
        "--suite", suite_id, "--task", "gate_task:answer_async", "--min-pass-rate", "0.8",
        "--agent", "Gate Bot", "--json",
    )  # fmt: skip

    assert done.returncode == 1, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["passRate"] == 0.75
    assert report["serverPassRate"] == 0.75
    assert report["gate"] == {"minPassRate": 0.8, "passed": False}
    assert "FAIL: pass rate 75.0% < minimum 80.0%" in done.stderr


def test_gate_default_minimum_is_0_8(
    provenant_server: LocalServer,
    provenant_api_key: str,
    provenant_client: ProvenantClient,
    suite_id: str,
    tmp_path: Path,
) -> None:
    """Without --min-pass-rate, `eval run` gates on 0.8: a 4/5 pass rate exits 0."""
    provenant_client.add_eval_case(suite_id, "case 4", {"q": "answer 4"}, {"answer": "answer 4"})
    done = _eval_run(
        provenant_server, provenant_api_key, tmp_path,
        "--suite", suite_id, "--task", "gate_task:answer",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "4/5 passed (80.0%)" in done.stdout
    assert done.stdout.rstrip().endswith("PASS: pass rate 80.0% >= minimum 80.0%")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "no_such_module:answer"], "cannot load --task no_such_module:answer"),
        (["--task", "gate_task:missing"], "cannot load --task gate_task:missing"),
        (["--task", "gate_task"], "expected MODULE:FUNCTION"),
        (["--task", "gate_task:answer", "--min-pass-rate", "1.5"], "not between 0 and 1"),
        (["--task", "gate_task:answer", "--suite", "0000"], "NotFoundError"),
    ],
)
def test_gate_exits_2_on_usage_errors(
    provenant_server: LocalServer,
    provenant_api_key: str,
    suite_id: str,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    """`eval run` exits 2, saying why, when the task, the threshold or the suite is wrong."""
    done = _eval_run(provenant_server, provenant_api_key, tmp_path, "--suite", suite_id, *args)

    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def answer(case_input:\n", "SyntaxError: "),
        ("raise RuntimeError('no config\\nsecond line')\n", "RuntimeError: no config ..."),
        ("import sys\nsys.exit(5)\n", "SystemExit: 5"),
    ],
)
def test_gate_exits_2_with_one_line_when_the_task_module_fails_to_import(
    provenant_server: LocalServer,
    provenant_api_key: str,
    suite_id: str,
    tmp_path: Path,
    source: str,
    message: str,
) -> None:
    """A --task module that fails at import in any way exits 2 with one line, no traceback."""
    (tmp_path / "broken_task.py").write_text(source, encoding="utf-8")
    done = _eval_run(
        provenant_server, provenant_api_key, tmp_path,
        "--suite", suite_id, "--task", "broken_task:answer",
    )  # fmt: skip

    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("provenant eval run: cannot load --task broken_task:answer: ")
    assert message in done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stdout == ""


_BROKEN_EVALUATE_MODULE = """
class Unprintable:
    def __repr__(self):
        raise RuntimeError("cannot show\\nmyself")


def unprintable(case_input):
    return Unprintable()


class Nameless:
    @property
    def __name__(self):
        raise RuntimeError("no name")

    def __call__(self, case_input):
        return case_input["q"]


nameless = Nameless()
"""


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("broken_evaluate:unprintable", "RuntimeError: cannot show ..."),
        ("broken_evaluate:nameless", "RuntimeError: no name"),
    ],
)
def test_gate_exits_2_with_one_line_when_evaluate_itself_fails(
    provenant_server: LocalServer,
    provenant_api_key: str,
    suite_id: str,
    tmp_path: Path,
    task: str,
    message: str,
) -> None:
    """A non-Provenant error raised by evaluate itself (not by the task) exits 2 with one line."""
    (tmp_path / "broken_evaluate.py").write_text(_BROKEN_EVALUATE_MODULE, encoding="utf-8")
    done = _eval_run(
        provenant_server, provenant_api_key, tmp_path, "--suite", suite_id, "--task", task
    )

    assert done.returncode == 2, done.stderr
    assert done.stderr == message + "\n"
    assert done.stdout == ""


def test_gate_exits_2_when_the_server_cannot_be_reached(
    provenant_server: LocalServer, suite_id: str, tmp_path: Path
) -> None:
    """`eval run` exits 2 with a ConnectionError line when nothing listens at --base-url."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    done = _eval_run(
        provenant_server, "pk_live_" + "0" * 32, tmp_path,
        "--suite", suite_id, "--task", "gate_task:answer",
        "--base-url", f"http://127.0.0.1:{closed_port}", "--api-key", "pk_live_" + "0" * 32,
    )  # fmt: skip

    assert done.returncode == 2
    assert done.stderr.startswith("ConnectionError: ")


def _destination(server: LocalServer, api_key: str) -> list[str]:
    return ["--base-url", server.url, "--api-key", api_key]


def test_import_then_list_suites_and_cases(
    provenant_server: LocalServer,
    provenant_api_key: str,
    provenant_client: ProvenantClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`eval import` adds one case per JSONL line; `eval suites` and `eval cases` list them."""
    suite_id = str(provenant_client.create_eval_suite("imported")["id"])
    cases_file = tmp_path / "cases.jsonl"
    cases_file.write_text(
        '{"name": "capital", "input": {"q": "France"}, "expectedOutput": "Paris"}\n'
        "\n"
        '{"input": {"q": "2+2"}, "expected": {"answer": "4"}, "scoringFn": "contains",'
        ' "weight": 2}\n',
        encoding="utf-8",
    )
    where = _destination(provenant_server, provenant_api_key)

    assert main(["eval", "import", suite_id, str(cases_file), *where]) == 0
    assert capsys.readouterr().out == f"imported 2 cases into suite {suite_id}\n"

    assert main(["eval", "suites", *where]) == 0
    suites_out = capsys.readouterr().out
    assert suite_id in suites_out and "imported" in suites_out

    assert main(["eval", "cases", suite_id, "--json", *where]) == 0
    cases = json.loads(capsys.readouterr().out)
    assert [(c["name"], c["expectedOutput"], c["scoringFn"], c["weight"]) for c in cases] == [
        ("capital", "Paris", "exact_match", 1.0),
        ("case 2", {"answer": "4"}, "contains", 2.0),
    ]
    assert main(["eval", "cases", suite_id, *where]) == 0
    table = capsys.readouterr().out
    assert table.startswith("suite imported: 2 cases\n")
    assert "capital" in table and "contains" in table


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"input": {"q": 1}}\nnot json\n', "line 2 is not JSON"),
        ('{"input": "text"}\n', "line 1 needs 'input', a JSON object"),
        ('{"input": {}, "expectd": 1}\n', "line 1 has unknown keys expectd"),
        ('{"input": {}, "expected": 1, "expectedOutput": 2}\n', "gives expected_output twice"),
        ("\n", "holds no cases"),
    ],
)
def test_import_refuses_a_bad_file_and_adds_nothing(
    provenant_server: LocalServer,
    provenant_api_key: str,
    provenant_client: ProvenantClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    message: str,
) -> None:
    """`eval import` checks every line first: a bad file exits 2 naming the line, adding nothing."""
    suite_id = str(provenant_client.create_eval_suite("strict")["id"])
    cases_file = tmp_path / "bad.jsonl"
    cases_file.write_text(content, encoding="utf-8")

    status = main(
        [
            "eval",
            "import",
            suite_id,
            str(cases_file),
            *_destination(provenant_server, provenant_api_key),
        ]
    )

    assert status == 2
    assert message in capsys.readouterr().err
    assert provenant_client.get_eval_suite(suite_id)["cases"] == []


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_gate_draws_progress_on_a_terminal(
    provenant_server: LocalServer, provenant_api_key: str, suite_id: str, tmp_path: Path
) -> None:
    """With standard error on a terminal, `eval run` draws cases done and the pass rate so far."""
    (tmp_path / "gate_task.py").write_text(_TASK_MODULE, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    primary, secondary = os.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "provenant", "eval", "run", "--suite", suite_id,
             "--task", "gate_task:answer", "--max-concurrency", "1",
             *_destination(provenant_server, provenant_api_key)],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=secondary, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        os.close(secondary)
        secondary = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # Linux answers EIO once the terminal's other side is closed
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(primary)
        if secondary != -1:
            os.close(secondary)

    assert done.returncode == 1  # 75% < the default minimum of 80%
    text = drawn.decode()
    assert "eval: 1/4 cases, pass rate 100.0%" in text
    assert "eval: 4/4 cases, pass rate 75.0%" in text
    assert "eval:" not in done.stdout
