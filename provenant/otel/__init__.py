"""
OpenTelemetry export: Provenant sessions, traced functions and LLM calls as GenAI spans.

Turned on per client; spans go through the OpenTelemetry SDK, beside the Provenant
records (or instead of them with ``destination="otel-only"``)::

    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()                     # with your exporters
    prov = ProvenantClient(otel=provider)           # or otel=True: the global provider
    with prov.session("Support Bot"):               # span "invoke_agent Support Bot"
        client.messages.create(...)                 # child span "chat <model>"

Needs the ``provenant-sdk[otel]`` extra. Message content is recorded on spans only when
content capture is on (``capture_content``), as the GenAI conventions make it opt-in.

.. versionadded:: 0.1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenant.errors import ConfigurationError

if TYPE_CHECKING:
    from provenant.config import Settings
    from provenant.otel._observer import OtelObserver

__all__ = ["make_observer"]

_EXTRA_HINT = "install the extra: pip install 'provenant-sdk[otel]'"


def make_observer(otel_setting: Any, settings: Settings) -> OtelObserver:
    """
    Build the tracing observer that emits OpenTelemetry spans for one client.

    Args:
        otel_setting: ``True`` for the global ``TracerProvider`` (looked up as spans
            start, so one set after the client is built is used), or a
            ``TracerProvider`` (anything with ``get_tracer``).
        settings: The client's settings; ``capture_content`` decides whether message
            content goes on spans, ``mask`` and ``max_content_bytes`` apply to it.

    Returns:
        The observer, to register with ``tracer.add_observer``.

    Raises:
        ConfigurationError: OpenTelemetry is not installed, or ``otel_setting`` is
            neither ``True`` nor a ``TracerProvider``.

    .. versionadded:: 0.1
    """
    try:
        from provenant.otel._observer import OtelObserver
    except ImportError as exc:
        raise ConfigurationError(
            f"OpenTelemetry export (otel=...) needs the opentelemetry-api and "
            f"opentelemetry-sdk packages; {_EXTRA_HINT}."
        ) from exc
    if otel_setting is True:
        provider = None
    elif callable(getattr(otel_setting, "get_tracer", None)):
        provider = otel_setting
    else:
        raise ConfigurationError(
            f"otel={otel_setting!r} is not understood; use True (the global TracerProvider) "
            "or an opentelemetry TracerProvider."
        )
    return OtelObserver(
        provider,
        capture_content=settings.capture_content,
        mask=settings.mask,
        max_content_bytes=settings.max_content_bytes,
    )
