"""
Record every call of an OpenAI client: Chat Completions and the Responses API.

    OPENAI_API_KEY=... python examples/openai_quickstart.py        # the real API
    python examples/run_offline.py examples/openai_quickstart.py   # a scripted model
"""

from __future__ import annotations

import openai

import provenant as prov

MODEL = "gpt-5.5"


def main() -> None:
    with prov.instrument(openai.OpenAI(), agent_id="Quickstart Bot") as client:
        completion = client.chat.completions.create(
            model=MODEL,
            messages=[
                {"role": "system", "content": "You are a friendly assistant."},
                {"role": "user", "content": "Say hello to Provenant in five words."},
            ],
        )
        print(completion.choices[0].message.content)

        response = client.responses.create(
            model=MODEL,
            instructions="Answer in one sentence.",
            input="What does an AgentOps platform record?",
        )
        print(response.output_text)

    # Two calls outside any session: two single-call sessions.
    prov.flush()


if __name__ == "__main__":
    main()
