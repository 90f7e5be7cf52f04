"""
Record a LangGraph chat as one session per thread, with a callback handler.

    python examples/run_offline.py examples/langgraph_thread.py

A ReAct-style graph (a model node and a tool node) answers three messages on one
``thread_id`` over a checkpointer: one session records each message once, every tool
call and its result, with the graph's nodes as spans (``agent``, ``tools``).
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

import provenant as prov
from provenant.integrations.langchain import ProvenantCallbackHandler


@tool
def get_weather(city: str) -> str:
    """Today's weather in a city."""
    return f"Sunny and 21 degrees in {city}"


def build_graph() -> Any:
    model = ChatOpenAI(model="gpt-5.5-mini").bind_tools([get_weather])

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([get_weather]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile(checkpointer=InMemorySaver())


def main() -> None:
    graph = build_graph()
    handler = ProvenantCallbackHandler(agent_id="Weather Chat", user_id="customer-7")
    config: Any = {"configurable": {"thread_id": "chat-7"}, "callbacks": [handler]}
    for message in ("What is the weather in Paris?", "And the weather in Oslo?", "Thanks!"):
        state = graph.invoke({"messages": [("user", message)]}, config)
        print(f"user: {message}\nassistant: {state['messages'][-1].content}\n")
    handler.end_thread("chat-7")  # the thread's session stays open until ended
    prov.flush()


if __name__ == "__main__":
    main()
