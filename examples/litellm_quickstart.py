"""
Record every LiteLLM call in the process, whichever provider it routes to.

    OPENAI_API_KEY=... python examples/litellm_quickstart.py        # the real API
    python examples/run_offline.py examples/litellm_quickstart.py   # a scripted model

``prov.instrument()`` with no client records every supported client in the process:
LiteLLM's ``completion`` and ``acompletion`` (streams and the ``Router`` too), and any
Anthropic, OpenAI or Google GenAI client, such as those agent frameworks build inside.
"""

from __future__ import annotations

import provenant as prov

prov.instrument(agent_id="LiteLLM Bot")  # before LiteLLM is imported: nothing is imported here

import litellm  # noqa: E402

MODEL = "openai/gpt-5.5"


def main() -> None:
    messages = [
        {"role": "system", "content": "You are a friendly assistant."},
        {"role": "user", "content": "Say hello to Provenant in five words."},
    ]
    with prov.session("LiteLLM Bot", user_id="user-42"):
        reply = litellm.completion(model=MODEL, messages=messages)
        print(reply.choices[0].message.content)

        messages += [
            {"role": "assistant", "content": reply.choices[0].message.content},
            {"role": "user", "content": "Now in three words."},
        ]
        for chunk in litellm.completion(model=MODEL, messages=messages, stream=True):
            print(chunk.choices[0].delta.content or "", end="")
        print()

    prov.flush()


if __name__ == "__main__":
    main()
