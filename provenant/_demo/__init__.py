"""
``provenant demo``: a small support agent, recorded offline, then read back.

The agent is ordinary code on the real ``anthropic`` client. Its model is the scripted
fake provider on 127.0.0.1 (Anthropic wire format), and its records go to the embedded
store, so the demo needs no account, no API key and no network.
"""

from __future__ import annotations

import os
import sys
from typing import Optional, TextIO

from provenant.config import DEFAULT_LOCAL_DB_PATH

__all__ = ["run_demo"]

_FLUSH_TIMEOUT_S = 15.0


def run_demo(base_url: str = "local", out: Optional[TextIO] = None) -> int:
    """
    Run the demo conversation, record it, and print the recorded transcript.

    Args:
        base_url: Where to record (default: the embedded store ``.provenant/provenant.db``).
        out: Where to print (default: standard output).

    Returns:
        The exit status: 0 when the session was recorded and read back.
    """
    out = out if out is not None else sys.stdout
    try:
        import anthropic
    except ImportError:
        out.write(
            "The demo runs on the real anthropic client; install it with\n"
            "  pip install 'provenant-sdk[anthropic]'   (or: pip install -e '.[anthropic]')\n"
        )
        return 2

    import provenant as prov
    from provenant._demo._agent import AGENT, run_conversation
    from provenant._demo._model import support_model
    from provenant._demo._render import render_session
    from provenant._fake_provider import start_fake_provider

    # Recorded whatever PROVENANT_ENABLED and PROVENANT_SAMPLE_RATE say: it is a demo.
    client = prov.configure(base_url=base_url, enabled=True, sample_rate=1.0)
    where = client.settings.destination.describe()
    with start_fake_provider() as fake:
        fake.set_responder(support_model)
        model_client = prov.instrument(
            anthropic.Anthropic(base_url=fake.url, api_key="demo-key-not-used", max_retries=0),
            agent_id=AGENT,
        )
        out.write(f"A support agent talks to a scripted model on {fake.url}.\n\n")
        with model_client, prov.session(AGENT, user_id="demo-user", tags=["demo"]) as session:
            run_conversation(model_client, out)

    delivered = prov.flush(timeout=_FLUSH_TIMEOUT_S)
    session_id = session.id
    if not delivered or session_id is None:
        out.write(f"\nThe session could not be recorded to {where}; see the log above.\n")
        prov.shutdown()
        return 1
    recorded = client.get_session(session_id)
    out.write(f"\nRecorded in {where}, read back from it:\n\n")
    render_session(recorded, out)
    out.write(f"\nSee it again with:\n  provenant sessions show {session_id}\n")
    destination = client.settings.destination
    if destination.kind == "local":
        db = destination.db_path or ""
        option = "" if os.path.normpath(db) == DEFAULT_LOCAL_DB_PATH else f" --db {db}"
        out.write(f"or in the browser (the web viewer):\n  provenant view{option}\n")
    else:
        out.write(f"or in the browser: the web viewer at {destination.url}/\n")
    prov.shutdown()
    return 0
