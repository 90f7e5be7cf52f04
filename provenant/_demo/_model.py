"""
The demo's scripted model: what the fake provider answers the support agent.

It reads each request as a real model would (the last user message, a tool result)
and answers in kind, so the demo's conversation is a true tool-use round trip on the
Anthropic wire format, not a fixed recording.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

from provenant._fake_provider import RecordedRequest, Reply, ToolCall, last_user_text

__all__ = ["ORDER_ID", "support_model"]

#: The order the demo's customer asks about.
ORDER_ID = "A1234"

# Streamed replies pause between words, so the demo shows a stream arriving.
_CHUNK_DELAY_S = 0.015


def _last_message(request: RecordedRequest) -> dict[str, Any]:
    body = request.body if isinstance(request.body, dict) else {}
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    return last if isinstance(last, dict) else {}


def _tool_result(message: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The decoded payload of a ``tool_result`` block in ``message``, if it has one."""
    content = message.get("content")
    if not isinstance(content, list):
        return None
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            payload = block.get("content")
            if isinstance(payload, list):  # [{"type": "text", "text": "..."}]
                payload = " ".join(
                    part.get("text", "") for part in payload if isinstance(part, dict)
                )
            try:
                decoded = json.loads(payload) if isinstance(payload, str) else payload
            except ValueError:
                return {"raw": payload}
            return decoded if isinstance(decoded, dict) else {"raw": decoded}
    return None


def support_model(request: RecordedRequest) -> Reply:
    """Answer one request of the support agent, the way a well-behaved model would."""
    result = _tool_result(_last_message(request))
    if result is not None:
        return Reply(
            text=(
                f"Your order {result.get('order_id', ORDER_ID)} shipped on "
                f"{result.get('shipped_on', 'Monday')} with {result.get('carrier', 'the carrier')} "
                f"and should arrive on {result.get('arrives_on', 'Thursday')}. "
                f"The tracking number is {result.get('tracking', 'on its way to you')}."
            ),
            chunk_delay_s=_CHUNK_DELAY_S,
        )
    question = last_user_text(request)
    match = re.search(r"\b([A-Z]\d{3,})\b", question)
    if match and "order" in question.lower():
        return Reply(
            text="Let me look that order up.",
            tool_calls=(ToolCall("lookup_order", {"order_id": match.group(1)}),),
        )
    if "address" in question.lower():
        return Reply(
            text=(
                "Not any more, I am afraid: it has left our warehouse. You can still "
                "redirect it to a pickup point from the carrier's tracking page."
            ),
            chunk_delay_s=_CHUNK_DELAY_S,
        )
    return Reply(text="Happy to help! What is your order number?", chunk_delay_s=_CHUNK_DELAY_S)
