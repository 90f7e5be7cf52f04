"""Checked by mypy --strict (tests/unit/tracing/test_typing.py), never run: @trace keeps types."""

from __future__ import annotations

from typing import AsyncIterator, Iterator

import provenant
from provenant import ProvenantClient

client = ProvenantClient(base_url="sqlite:///unused.db")


@provenant.trace
def bare(question: str, *, loud: bool = False) -> str:
    return question


@provenant.trace(kind="tool", name="search")
def tool(query: str, limit: int = 3) -> list[str]:
    return [query] * limit


@client.trace
async def coroutine(n: int) -> int:
    return n


@client.trace(kind="step")
def generator(n: int) -> Iterator[int]:
    yield n


@client.trace
async def async_generator(n: int) -> AsyncIterator[int]:
    yield n


class Agent:
    @client.trace
    def method(self, x: int) -> str:
        return str(x)

    @client.trace
    @staticmethod
    def static(x: int) -> float:
        return x / 2

    @client.trace
    @classmethod
    def klass(cls, x: int) -> bytes:
        return b""


answer: str = bare("q", loud=True)
found: list[str] = tool("q", limit=2)
number_awaitable = coroutine(1)
numbers: Iterator[int] = generator(1)
stream: AsyncIterator[int] = async_generator(1)
text: str = Agent().method(1)
half: float = Agent.static(1)
raw: bytes = Agent.klass(1)

with provenant.session("Bot") as session:
    session.add_turn("USER", "hi")
    external: str = session.external_id


async def use() -> None:
    result: int = await coroutine(2)
    async with client.session("Bot") as handle:
        handle.end()
