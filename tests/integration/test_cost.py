"""What calls cost: real provider clients on the fake provider, priced as genai-prices prices
them, recorded on the real local server, and summed there per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import openai
import pytest

# The cost extra needs Python 3.11: on older Pythons it installs nothing.
pytest.importorskip("genai_prices")
from genai_prices import Usage, calc_price
from provider_clients import anthropic_client, closed_after_test

import provenant
from provenant._cli import main
from provenant._fake_provider import FakeProvider, Reply
from provenant.client import ProvenantClient
from provenant.server import LocalServer

CLAUDE = "claude-sonnet-4-20250514"  # a model the table knows: the fake answers with it
O3_MINI = "o3-mini"


def table_price(usage: Usage, model: str, provider: str) -> float:
    """The cost genai-prices gives ``usage`` today, as the turn records it (a float)."""
    return float(calc_price(usage, model, provider_id=provider).total_price)


def ask(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def replies(session: dict[str, Any]) -> list[dict[str, Any]]:
    return [turn for turn in session["turns"] if turn["role"] == "ASSISTANT"]


def claude(fake: FakeProvider, recorder: ProvenantClient) -> Any:
    return provenant.instrument(anthropic_client(fake), provenant=recorder, agent_id="Cost Bot")


def gpt(fake: FakeProvider, recorder: ProvenantClient) -> Any:
    raw = openai.OpenAI(base_url=fake.openai_base_url, api_key="k", max_retries=0)
    return provenant.instrument(closed_after_test(raw), provenant=recorder, agent_id="Cost Bot")


@pytest.mark.parametrize("streamed", [False, True])
def test_an_anthropic_call_with_cache_reads_and_writes_is_priced_as_the_table_prices_it(
    streamed, fake_provider, provenant_client, recorded
):
    """Cache reads and writes are priced at the table's cache rates, the rest of the input
    and the output at theirs: the turn's costUsd is genai-prices' price of that usage."""
    fake_provider.script(
        Reply(
            text="cached",
            input_tokens=120,
            output_tokens=40,
            cache_read_tokens=3000,
            cache_creation_tokens=800,
        )
    )
    client = claude(fake_provider, provenant_client)
    result = client.messages.create(
        model=CLAUDE, max_tokens=50, messages=ask("Hi"), stream=streamed
    )
    if streamed:
        list(result)
    [session] = recorded()
    [reply] = replies(session)
    # Anthropic counts the cache apart from input_tokens; genai-prices' input is the whole.
    usage = Usage(
        input_tokens=120 + 3000 + 800,
        cache_read_tokens=3000,
        cache_write_tokens=800,
        output_tokens=40,
    )
    expected = table_price(usage, CLAUDE, "anthropic")
    assert reply["metadata"]["costUsd"] == expected
    assert "priceUnknown" not in reply["metadata"]
    # The cache's rates matter: the same tokens all at the input rate cost more.
    assert expected < table_price(Usage(input_tokens=3920, output_tokens=40), CLAUDE, "anthropic")
    assert (session["costUsd"], session["costPartial"]) == (expected, False)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_an_openai_call_with_reasoning_and_cached_tokens_is_priced_as_the_table_prices_it(
    api, fake_provider, provenant_client, recorded
):
    """Reasoning tokens are part of the output and cached tokens part of the input, priced
    as genai-prices prices them."""
    fake_provider.script(
        Reply(
            text="thought",
            input_tokens=64,
            output_tokens=900,
            cache_read_tokens=1024,
            reasoning_tokens=800,
        )
    )
    client = gpt(fake_provider, provenant_client)
    if api == "chat":
        client.chat.completions.create(model=O3_MINI, messages=ask("Think"))
    else:
        client.responses.create(model=O3_MINI, input="Think")
    [session] = recorded()
    [reply] = replies(session)
    usage = Usage(
        input_tokens=64 + 1024,
        cache_read_tokens=1024,
        output_tokens=900,
        output_reasoning_tokens=800,
    )
    expected = table_price(usage, O3_MINI, "openai")
    assert reply["metadata"]["costUsd"] == expected
    assert reply["metadata"]["reasoningTokens"] == 800
    assert session["costUsd"] == expected


def test_a_model_the_table_does_not_know_has_no_cost_and_says_so(
    fake_provider, provenant_client, recorded
):
    """An unknown model records priceUnknown and no costUsd (never $0); the session's
    total is null and marked partial."""
    fake_provider.script(Reply(text="who am I", input_tokens=10, output_tokens=5))
    client = claude(fake_provider, provenant_client)
    client.messages.create(model="claude-sonnet-4-made-up", max_tokens=9, messages=ask("Hi"))
    [session] = recorded()
    [reply] = replies(session)
    assert reply["metadata"]["priceUnknown"] is True
    assert "costUsd" not in reply["metadata"]
    assert (session["costUsd"], session["costPartial"]) == (None, True)


def test_the_model_the_reply_names_is_the_one_priced(fake_provider, provenant_client, recorded):
    """An alias asked for is priced as the dated model the provider says answered."""
    fake_provider.script(
        Reply(text="dated", input_tokens=1000, output_tokens=100, model="gpt-4o-mini")
    )
    client = gpt(fake_provider, provenant_client)
    client.chat.completions.create(model="my-alias", messages=ask("Hi"))
    [session] = recorded()
    [reply] = replies(session)
    usage = Usage(input_tokens=1000, output_tokens=100)
    assert reply["metadata"]["costUsd"] == table_price(usage, "gpt-4o-mini", "openai")


def test_your_prices_win_over_the_table_and_price_models_it_lacks(
    fake_provider,
    provenant_server: LocalServer,
    provenant_api_key: str,
    tmp_path: Path,
    monkeypatch,
):
    """prices= wins over the table for a model it knows, the file prices a model the table
    lacks, and the session sums both."""
    prices_file = tmp_path / "prices.json"
    prices_file.write_text(
        json.dumps({"acme-large": {"input_mtok": 2, "output_mtok": 8, "cache_read_mtok": 0.5}})
    )
    monkeypatch.setenv("PROVENANT_PRICES_FILE", str(prices_file))
    recorder = ProvenantClient(
        base_url=provenant_server.url,
        api_key=provenant_api_key,
        prices={CLAUDE: {"input_mtok": 1, "output_mtok": 10, "cache_read_mtok": 0.1}},
    )
    try:
        fake_provider.script(
            Reply(text="mine", input_tokens=100, output_tokens=20, cache_read_tokens=1000),
            Reply(text="acme", input_tokens=100, output_tokens=20, cache_read_tokens=1000),
        )
        client = claude(fake_provider, recorder)
        with recorder.session("Cost Bot") as handle:
            client.messages.create(model=CLAUDE, max_tokens=9, messages=ask("one"))
            client.messages.create(model="acme-large", max_tokens=9, messages=ask("two"))
        assert recorder.flush(10)
        session = recorder.get_session(handle.id or "")
    finally:
        recorder.shutdown(10)
    own, acme = (reply["metadata"]["costUsd"] for reply in replies(session))
    # 100 uncached input tokens, 1000 cache reads, 20 output tokens, per million.
    assert own == pytest.approx((100 * 1 + 1000 * 0.1 + 20 * 10) / 1e6, rel=1e-12)
    assert acme == pytest.approx((100 * 2 + 1000 * 0.5 + 20 * 8) / 1e6, rel=1e-12)
    table = table_price(
        Usage(input_tokens=1100, cache_read_tokens=1000, output_tokens=20), CLAUDE, "anthropic"
    )
    assert own != table
    assert session["costUsd"] == pytest.approx(own + acme, rel=1e-12)
    assert session["costPartial"] is False
    assert handle.cost == {"cost_usd": pytest.approx(own + acme, rel=1e-12), "cost_partial": False}


def test_session_totals_sum_known_costs_and_flag_unknown_ones(
    fake_provider, provenant_client, recorded
):
    """The server's costUsd sums the priced calls of a session, costPartial says one was
    not priced, and list and get agree; a session without calls has neither."""
    fake_provider.script(
        Reply(text="a", input_tokens=1000, output_tokens=100),
        Reply(text="b", input_tokens=2000, output_tokens=300),
        Reply(text="c", input_tokens=10, output_tokens=1),
    )
    client = claude(fake_provider, provenant_client)
    with provenant_client.session("Cost Bot") as handle:
        client.messages.create(model=CLAUDE, max_tokens=9, messages=ask("one"))
        client.messages.create(model=CLAUDE, max_tokens=9, messages=ask("two"))
        client.messages.create(model="claude-test", max_tokens=9, messages=ask("three"))
    with provenant_client.session("Cost Bot"):
        pass
    priced, empty = recorded()
    expected = table_price(Usage(input_tokens=1000, output_tokens=100), CLAUDE, "anthropic")
    expected += table_price(Usage(input_tokens=2000, output_tokens=300), CLAUDE, "anthropic")
    assert priced["costUsd"] == pytest.approx(expected, rel=1e-12)
    assert priced["costPartial"] is True
    assert (empty["costUsd"], empty["costPartial"]) == (None, False)
    listed = {s["id"]: s for s in provenant_client.list_sessions()}
    assert listed[priced["id"]]["costUsd"] == priced["costUsd"]
    assert listed[priced["id"]]["costPartial"] is True
    assert handle.cost["cost_usd"] == pytest.approx(expected, rel=1e-12)
    assert handle.cost["cost_partial"] is True


def test_turns_recorded_by_hand_count_only_numeric_costs(provenant_client):
    """The server sums metadata.costUsd where it is a number and ignores any other value."""
    agent = provenant_client.get_or_create_agent("Cost Bot")
    session = provenant_client.create_session(agent)
    for metadata in ({"costUsd": 0.25}, {"costUsd": "0.5"}, {"costUsd": None}, {"costUsd": 1}):
        provenant_client.add_turn(session["id"], "ASSISTANT", "x", metadata=metadata)
    provenant_client.add_turn(session["id"], "USER", "costUsd is a word")
    fetched = provenant_client.get_session(session["id"])
    assert (fetched["costUsd"], fetched["costPartial"]) == (1.25, False)


_SCRIPT = textwrap.dedent(
    """
    import json, sys, threading
    if sys.argv[1] == "blocked":
        sys.modules["genai_prices"] = None  # importing it raises ImportError, as if absent
    import anthropic
    import provenant
    from provenant._fake_provider import Reply, start_fake_provider

    class Watch:  # notes which thread imports the table
        importers = []
        def find_spec(self, name, path=None, target=None):
            if name == "genai_prices":
                self.importers.append(threading.current_thread().name)
            return None
    sys.meta_path.insert(0, Watch())

    url, key = sys.argv[2], sys.argv[3]
    prices = json.loads(sys.argv[4])
    recorder = provenant.ProvenantClient(base_url=url, api_key=key, prices=prices)
    out = {"calls": []}
    with start_fake_provider() as fake:
        fake.script(*[Reply(text="ok", input_tokens=100, output_tokens=10)] * 3)
        client = provenant.instrument(
            anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0),
            provenant=recorder, agent_id="Cost Bot",
        )
        with recorder.session("Cost Bot") as handle:
            for model in ("claude-sonnet-4-20250514", "acme-large", "claude-test"):
                message = client.messages.create(model=model, max_tokens=9, messages=[
                    {"role": "user", "content": model}])
                out["calls"].append(message.content[0].text)
            out["caller"] = threading.current_thread().name
            out["imported_by_then"] = "genai_prices" in sys.modules
        client.close()
    assert recorder.flush(10)
    session = recorder.get_session(handle.id)
    recorder.shutdown(10)
    out["metadata"] = [t["metadata"] for t in session["turns"] if t["role"] == "ASSISTANT"]
    out["session"] = [session["costUsd"], session["costPartial"]]
    out["importers"] = Watch.importers
    print(json.dumps(out))
    """
)


def run_script(mode: str, server: LocalServer, key: str, prices: dict[str, Any]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANT_")}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode, server.url, key, json.dumps(prices)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return dict(json.loads(done.stdout))


def test_without_the_extra_nothing_changes_and_nothing_fails(
    provenant_server: LocalServer, provenant_api_key: str
):
    """With genai-prices not importable, calls answer and record as before: no costUsd, no
    priceUnknown, no session cost, no error logged."""
    out = run_script("blocked", provenant_server, provenant_api_key, {})
    assert out["calls"] == ["ok", "ok", "ok"]
    assert all("costUsd" not in m and "priceUnknown" not in m for m in out["metadata"])
    assert [m["model"] for m in out["metadata"]] == [
        "claude-sonnet-4-20250514",
        "acme-large",
        "claude-test",
    ]
    assert out["session"] == [None, False]


def test_without_the_extra_your_own_prices_still_apply(
    provenant_server: LocalServer, provenant_api_key: str
):
    """Without the table, prices= prices its models; the others are unknown, not $0."""
    prices = {"acme-large": {"input_mtok": 2, "output_mtok": 8}}
    out = run_script("blocked", provenant_server, provenant_api_key, prices)
    plain, acme, unknown = out["metadata"]
    assert plain["priceUnknown"] is True and "costUsd" not in plain
    assert acme["costUsd"] == pytest.approx((100 * 2 + 10 * 8) / 1e6, rel=1e-12)
    assert unknown["priceUnknown"] is True
    assert out["session"][1] is True


def test_the_table_is_loaded_and_used_on_the_worker_never_the_callers_thread(
    provenant_server: LocalServer, provenant_api_key: str
):
    """genai-prices is imported by the exporter's worker (the caller's calls never wait
    on it), and its prices arrive all the same."""
    out = run_script("installed", provenant_server, provenant_api_key, {})
    assert out["importers"], "genai_prices was never imported"
    assert all(name.startswith("provenant-exporter") for name in out["importers"])
    assert out["caller"] not in out["importers"]
    usage = Usage(input_tokens=100, output_tokens=10)
    assert out["metadata"][0]["costUsd"] == table_price(usage, CLAUDE, "anthropic")
    assert out["metadata"][2]["priceUnknown"] is True


def test_sessions_list_and_show_print_the_cost(
    provenant_server: LocalServer, provenant_api_key: str, provenant_client, capsys
):
    """`provenant sessions list` has a COST column (``+``: part unknown) and `sessions show`
    gives the total and each priced turn's cost, or says its price is unknown."""
    agent = provenant_client.get_or_create_agent("Cost Bot")
    sid = provenant_client.create_session(agent)["id"]
    provenant_client.add_turn(sid, "USER", "hi")
    provenant_client.add_turn(sid, "ASSISTANT", "one", metadata={"costUsd": 0.0105})
    provenant_client.add_turn(sid, "ASSISTANT", "two", metadata={"priceUnknown": True})
    provenant_client.add_turn(sid, "ASSISTANT", "three", metadata={"costUsd": 0.002})
    provenant_client.create_session(agent)
    options = ["--base-url", provenant_server.url, "--api-key", provenant_api_key]

    assert main(["sessions", "list", *options]) == 0
    header, newest, oldest = capsys.readouterr().out.strip().splitlines()
    column = header.split().index("COST")
    assert oldest.split()[column + 1] == "$0.0125+"  # "Cost Bot" is two words
    assert newest.split()[column + 1] == "-"

    assert main(["sessions", "show", sid, *options]) == 0
    out = capsys.readouterr().out
    assert "4 turns, 0 tokens (0 in / 0 out), 0 ms, cost $0.0125+" in out
    one, two, three = out.split("\n\n")[2:]
    assert "$0.0105" in one and "price unknown" in two and "$0.002" in three


def test_an_eval_report_gives_each_case_its_cost(fake_provider, provenant_client):
    """evaluate() reports what each case's LLM calls cost, totals it, and submits it in the
    result's metadata; a case whose model has no price is marked partial."""
    fake_provider.script(
        Reply(text="Paris", input_tokens=40, output_tokens=4),
        Reply(text="Lima", input_tokens=40, output_tokens=4),
    )
    suite = str(provenant_client.create_eval_suite("capitals")["id"])
    models = {"France": CLAUDE, "Peru": "claude-test"}
    for country, capital in (("France", "Paris"), ("Peru", "Lima")):
        provenant_client.add_eval_case(suite, country, {"country": country}, {"answer": capital})
    llm = claude(fake_provider, provenant_client)

    def task(case_input: dict[str, Any]) -> str:
        model = models[case_input["country"]]
        message = llm.messages.create(model=model, max_tokens=9, messages=ask("capital?"))
        return str(message.content[0].text)

    report = provenant.evaluate(
        suite, task, agent_id="Geo Bot", client=provenant_client, max_concurrency=1
    )
    france, peru = report.results
    expected = table_price(Usage(input_tokens=40, output_tokens=4), CLAUDE, "anthropic")
    assert (france.cost_usd, france.cost_partial) == (expected, False)
    assert (peru.cost_usd, peru.cost_partial) == (None, True)
    assert (report.total_cost_usd, report.cost_partial) == (expected, True)
    assert "cost" in str(report).splitlines()[1].split()
    assert provenant_client.flush(10)
    results = provenant_client.get_eval_run(report.run_id)["results"]
    submitted = {r["case"]["name"]: r["metadata"] for r in results}
    assert submitted["France"]["costUsd"] == expected
    assert submitted["Peru"]["costPartial"] is True


def test_your_price_for_the_model_asked_for_covers_the_dated_model_answering(
    fake_provider, provenant_server: LocalServer, provenant_api_key: str
):
    """A price keyed by the alias a call asks for applies when the reply names the dated
    model; a price keyed by the reply's own name wins over it."""
    recorder = ProvenantClient(
        base_url=provenant_server.url,
        api_key=provenant_api_key,
        prices={
            "gpt-4o-mini": {"input_mtok": 1, "output_mtok": 1},
            "gpt-4o": {"input_mtok": 3, "output_mtok": 3},
            "gpt-4o-2024-08-06": {"input_mtok": 5, "output_mtok": 5},
        },
    )
    try:
        fake_provider.script(
            Reply(text="a", input_tokens=100, output_tokens=100, model="gpt-4o-mini-2024-07-18"),
            Reply(text="b", input_tokens=100, output_tokens=100, model="gpt-4o-2024-08-06"),
        )
        client = gpt(fake_provider, recorder)
        with recorder.session("Cost Bot") as handle:
            client.chat.completions.create(model="gpt-4o-mini", messages=ask("one"))
            client.chat.completions.create(model="gpt-4o", messages=ask("two"))
        assert recorder.flush(10)
        session = recorder.get_session(handle.id or "")
    finally:
        recorder.shutdown(10)
    mini, full = (reply["metadata"] for reply in replies(session))
    assert mini["model"] == "gpt-4o-mini-2024-07-18"
    assert mini["costUsd"] == pytest.approx(200 * 1 / 1e6, rel=1e-12)
    assert full["costUsd"] == pytest.approx(200 * 5 / 1e6, rel=1e-12)
