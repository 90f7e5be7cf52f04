"""
Run an eval suite against an agent, score it, and record the run.

    python examples/run_offline.py examples/evaluation_run.py

The suite is created on first run (in the local store, or on your platform). The same
task gates a CI pipeline with:

    provenant eval run --suite SUITE_ID --task examples.evaluation_run:answer --min-pass-rate 0.9
"""

from __future__ import annotations

from typing import Any

import anthropic

import provenant as prov

MODEL = "claude-sonnet-5-5"
SUITE = "Example: shop questions"
CASES = [
    # name, input, expected output, scoring function
    ("capital", {"question": "What is the capital of France?"}, {"answer": "Paris"}, "contains"),
    ("arithmetic", {"question": "What is 2 + 2? Only the number."}, {"answer": "4"}, "exact_match"),
    (
        "order as JSON",
        {"question": "Give order A1234 and its status as JSON."},
        {"status": "shipped"},
        "json_match",
    ),
]

client = prov.instrument(anthropic.Anthropic())


def answer(case_input: dict[str, Any]) -> str:
    """The task: the agent's answer to one case. Its LLM call is recorded in the case's session."""
    message = client.messages.create(
        model=MODEL,
        max_tokens=256,
        messages=[{"role": "user", "content": case_input["question"]}],
    )
    return message.content[0].text


def suite_id() -> str:
    """Find the example suite by name, or create it with its cases."""
    platform = prov.get_client()
    for suite in platform.list_eval_suites():
        if suite["name"] == SUITE:
            return str(suite["id"])
    suite = platform.create_eval_suite(SUITE, description="Questions a shop's agent answers.")
    for name, case_input, expected, scoring_fn in CASES:
        platform.add_eval_case(suite["id"], name, case_input, expected, scoring_fn=scoring_fn)
    return str(suite["id"])


def main() -> None:
    with client:  # closes the client's connections at the end
        report = prov.evaluate(suite_id(), answer, agent_id="Shop Bot", max_concurrency=2)
    print(report)
    print(f"pass rate {report.pass_rate:.0%}, run {report.run_id}")


if __name__ == "__main__":
    main()
