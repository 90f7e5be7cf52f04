"""
What the calls cost: each call's costUsd, and the session's total.

    pip install 'provenant-sdk[anthropic,openai,cost]'
    ANTHROPIC_API_KEY=... OPENAI_API_KEY=... python examples/cost.py   # the real APIs
    python examples/run_offline.py examples/cost.py                    # a scripted model

The cost extra prices every call from genai-prices' table (cache and reasoning tokens
included); prices= adds or overrides prices of your own, here a negotiated price for one
model. `provenant sessions show ID` prints the same figures.
"""

from __future__ import annotations

import anthropic
import openai

import provenant as prov

CLAUDE = "claude-sonnet-5-5"  # priced by your own price below
GPT = "gpt-4o-mini"  # priced by the table


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def main() -> None:
    # USD per million tokens, keyed by the model's name; it wins over the table.
    prov.configure(prices={CLAUDE: {"input_mtok": 2.4, "output_mtok": 12}})
    claude = prov.instrument(anthropic.Anthropic(), agent_id="Cost Bot")
    gpt = prov.instrument(openai.OpenAI(), agent_id="Cost Bot")

    with claude, gpt, prov.session("Cost Bot") as session:
        claude.messages.create(model=CLAUDE, max_tokens=256, messages=ask("What is a turn?"))
        gpt.chat.completions.create(model=GPT, messages=ask("And a session?"))
        # Calls are priced in the background; session.cost waits for them.
        cost = session.cost

    if cost["cost_usd"] is None:
        print("No call was priced: install the cost extra, or give prices=.")
    else:
        unknown = " (a call's price is unknown)" if cost["cost_partial"] else ""
        print(f"The session cost ${cost['cost_usd']:.6f}{unknown}.")
    prov.flush()
    print(f"See each call's cost with: provenant sessions show {session.id}")


if __name__ == "__main__":
    main()
