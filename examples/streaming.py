"""
Streams are recorded when they end, and passed through chunk by chunk, untouched.

    python examples/run_offline.py examples/streaming.py

Three ways to stream (Anthropic's helper, Anthropic's raw events, OpenAI chat chunks),
and a stream stopped early, which is recorded with `incomplete: true`.
"""

from __future__ import annotations

import anthropic
import openai

import provenant as prov

CLAUDE = "claude-sonnet-5-5"
GPT = "gpt-5.5"


def main() -> None:
    claude = prov.instrument(anthropic.Anthropic())
    # stream_usage=True asks OpenAI for the token usage of chat streams; the extra
    # usage-only chunk is hidden, so the loop below sees exactly the usual chunks.
    gpt = prov.instrument(openai.OpenAI(), stream_usage=True)

    with claude, gpt, prov.session("Streaming Bot"):
        # 1. The helper: text as it arrives, then the final message.
        with claude.messages.stream(
            model=CLAUDE,
            max_tokens=256,
            messages=[{"role": "user", "content": "Tell me a very short story."}],
        ) as stream:
            for text in stream.text_stream:
                print(text, end="", flush=True)
        print()

        # 2. Raw server-sent events, with stream=True.
        events = claude.messages.create(
            model=CLAUDE,
            max_tokens=256,
            stream=True,
            messages=[{"role": "user", "content": "Count from one to five."}],
        )
        for event in events:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                print(event.delta.text, end="", flush=True)
        print()

        # 3. OpenAI chat chunks.
        chunks = gpt.chat.completions.create(
            model=GPT,
            stream=True,
            messages=[{"role": "user", "content": "Name three colours of the rainbow."}],
        )
        for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="", flush=True)
        print()

        # 4. Stopped early: what arrived is recorded, marked incomplete.
        chunks = gpt.chat.completions.create(
            model=GPT,
            stream=True,
            messages=[{"role": "user", "content": "Recite a long poem, slowly and fully."}],
        )
        for received, _chunk in enumerate(chunks, start=1):
            if received == 2:
                break
        chunks.close()
        print("(stopped a stream after two chunks)")

    prov.flush()


if __name__ == "__main__":
    main()
