"""evaluate() with a task calling an instrumented model: LLM calls land in the case's session."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

import provenant
from provenant import ProvenantClient
from provenant._fake_provider import FakeProvider, RecordedRequest, Reply, last_user_text

_QUESTIONS = ["France", "Peru", "Japan", "Kenya", "Chile"]


def _answer(request: RecordedRequest) -> Reply:
    country = last_user_text(request)
    capitals = {"France": "Paris", "Peru": "Lima", "Japan": "Tokyo", "Kenya": "Nairobi"}
    return Reply(
        text=f"The capital is {capitals.get(country, 'unknown')}.",
        input_tokens=len(country),
        output_tokens=4,
    )


def _text(message: anthropic.types.Message) -> str:
    block = message.content[0]
    assert isinstance(block, anthropic.types.TextBlock)
    return block.text


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_llm_calls_of_each_case_are_recorded_linked_and_counted(
    provenant_client: ProvenantClient, fake_provider: FakeProvider, flavour: str
) -> None:
    """Each case's LLM call is recorded in its own linked session and counted in tokenCount."""
    fake_provider.set_responder(_answer)
    suite_id = str(provenant_client.create_eval_suite("capitals")["id"])
    for country, capital in zip(_QUESTIONS, ["Paris", "Lima", "Tokyo", "Nairobi", "Santiago"]):
        provenant_client.add_eval_case(
            suite_id, country, {"country": country}, {"answer": capital}, scoring_fn="contains"
        )

    llm = provenant.instrument(
        anthropic.Anthropic(base_url=fake_provider.url, api_key="x", max_retries=0),
        provenant=provenant_client,
    )

    def sync_task(case_input: dict[str, Any]) -> str:
        message = llm.messages.create(
            model="claude-test",
            max_tokens=50,
            messages=[{"role": "user", "content": case_input["country"]}],
        )
        return _text(message)

    async def async_task(case_input: dict[str, Any]) -> str:
        # An async client's connections belong to one event loop: evaluate() runs the
        # cases on a loop of its own, so the client lives inside the task here.
        async with anthropic.AsyncAnthropic(
            base_url=fake_provider.url, api_key="x", max_retries=0
        ) as raw:
            message = await provenant.instrument(raw, provenant=provenant_client).messages.create(
                model="claude-test",
                max_tokens=50,
                messages=[{"role": "user", "content": case_input["country"]}],
            )
        return _text(message)

    task: Any = sync_task if flavour == "sync" else async_task
    with llm:
        report = provenant.evaluate(suite_id, task, agent_id="Geo Bot", client=provenant_client)

    assert report.passed == 4 and report.pass_rate == 0.8
    assert {r.name: r.token_count for r in report.results} == {
        country: len(country) + 4 for country in _QUESTIONS
    }
    assert provenant_client.flush(timeout=10)
    server_results = provenant_client.get_eval_run(report.run_id)["results"]
    assert {r["case"]["name"]: r["tokenCount"] for r in server_results} == {
        country: len(country) + 4 for country in _QUESTIONS
    }
    sessions = provenant_client.list_sessions(report.agent_id)
    assert len(sessions) == 5
    for summary in sessions:
        session = provenant_client.get_session(summary["id"])
        assert session["metadata"]["evalRunId"] == report.run_id
        assert [t["role"] for t in session["turns"]] == ["USER", "ASSISTANT"]
        case = next(r for r in report.results if r.case_id == session["metadata"]["caseId"])
        assert session["turns"][0]["content"] == case.input["country"]
