"""
Settings of a :class:`~provenant.ProvenantClient`, from arguments, then ``PROVENANT_*`` variables.

Every setting is resolved once, when the client is built::

    settings = resolve_settings(api_key=None, base_url=None)   # reads the environment
    settings.destination.kind   # "http" or "local"

An argument always wins over the environment; the environment wins over the default.

.. versionadded:: 0.1
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from typing import Any, Callable, Literal, Mapping, Optional

from provenant._prices import PRICES_FILE_VARIABLE, ModelPrices, resolve_prices
from provenant._wire import shown_key
from provenant.errors import ConfigurationError

__all__ = [
    "DEFAULT_HOSTED_URL",
    "DEFAULT_LOCAL_DB_PATH",
    "ENVIRONMENT_VARIABLES",
    "Destination",
    "Settings",
    "resolve_destination",
    "resolve_settings",
]

logger = logging.getLogger("provenant")

DEFAULT_HOSTED_URL = "https://api.provenant.dev"
DEFAULT_LOCAL_DB_PATH = os.path.join(".provenant", "provenant.db")
_DEFAULT_TIMEOUT_S = 30.0
_DEFAULT_MAX_QUEUE_SIZE = 10_000
_DEFAULT_FLUSH_TIMEOUT_S = 5.0
_DEFAULT_QUEUE_BLOCK_TIMEOUT_S = 1.0
_DEFAULT_MAX_CONTENT_BYTES = 256 * 1024
_DEFAULT_EXPORTER_WORKERS = 4
_DEFAULT_MAX_DELIVERY_ATTEMPTS = 8
_DEFAULT_SPOOL_MAX_BYTES = 1024 * 1024 * 1024

OnQueueFull = Literal["drop_newest", "drop_oldest", "block"]
_QUEUE_POLICIES = ("drop_newest", "drop_oldest", "block")

#: Every environment variable the SDK reads, with what it sets (the docs' table comes from here).
ENVIRONMENT_VARIABLES: Mapping[str, str] = {
    "PROVENANT_API_KEY": "API key for the hosted or self-hosted REST API (`pk_live_...`).",
    "PROVENANT_BASE_URL": "Where records go: `https://...`, `local`, or `sqlite:///path.db`.",
    "PROVENANT_AGENT": "Default agent (a UUID or a name) for sessions that name none.",
    "PROVENANT_ENABLED": "`false` turns every tracing entry point into a no-op.",
    "PROVENANT_TIMEOUT": "Seconds to wait for the API on connect and on read (default 30).",
    "PROVENANT_FLUSH_TIMEOUT": "Seconds the exit-time flush may take (default 5).",
    "PROVENANT_MAX_QUEUE_SIZE": "Events held in memory before the queue-full policy applies.",
    "PROVENANT_ON_QUEUE_FULL": "`drop_newest` (default), `drop_oldest` or `block`.",
    "PROVENANT_SAMPLE_RATE": "Fraction of sessions recorded, 0 to 1 (default 1).",
    "PROVENANT_CAPTURE_CONTENT": "`false` records roles, tokens and latency only.",
    "PROVENANT_OTEL": "`true` also emits OpenTelemetry GenAI spans.",
    "PROVENANT_SPOOL": "`false` holds records for a REST API in memory instead of the spool.",
    "PROVENANT_SPOOL_DIR": "Directory of the spool files (default: the user's state directory).",
    "PROVENANT_SPOOL_MAX_BYTES": "Size cap of a spool file in bytes (default 1 GiB).",
    "PROVENANT_FLUSH_ON_SIGTERM": "`false` leaves SIGTERM alone (default: flush, then exit).",
    PRICES_FILE_VARIABLE: "A JSON file of your own model prices (see Cost); `prices=` wins.",
}


@dataclasses.dataclass(frozen=True)
class Destination:
    """
    Where a client sends its records.

    Attributes:
        kind: ``"http"`` for a REST API, ``"local"`` for the embedded SQLite store.
        url: The API's base URL (``kind == "http"``), without a trailing slash.
        db_path: The SQLite file (``kind == "local"``).
        implicit: True when nothing was configured and the embedded default was chosen.

    .. versionadded:: 0.1
    """

    kind: Literal["http", "local"]
    url: Optional[str] = None
    db_path: Optional[str] = None
    implicit: bool = False

    def describe(self) -> str:
        """Say where records go, in words fit for a log line."""
        if self.kind == "http":
            return f"the Provenant API at {self.url}"
        return f"the local store at {self.db_path}"


@dataclasses.dataclass(frozen=True)
class Settings:
    """
    The resolved configuration of one client. Built by :func:`resolve_settings`.

    .. versionadded:: 0.1
    """

    destination: Destination
    api_key: Optional[str] = dataclasses.field(default=None, repr=False)
    timeout: float = _DEFAULT_TIMEOUT_S
    agent_id: Optional[str] = None
    enabled: bool = True
    max_queue_size: int = _DEFAULT_MAX_QUEUE_SIZE
    on_queue_full: OnQueueFull = "drop_newest"
    queue_block_timeout: float = _DEFAULT_QUEUE_BLOCK_TIMEOUT_S
    flush_timeout: float = _DEFAULT_FLUSH_TIMEOUT_S
    exporter_workers: int = _DEFAULT_EXPORTER_WORKERS
    max_delivery_attempts: int = _DEFAULT_MAX_DELIVERY_ATTEMPTS
    max_content_bytes: int = _DEFAULT_MAX_CONTENT_BYTES
    capture_content: bool = True
    sample_rate: float = 1.0
    mask: Optional[Callable[[Any], Any]] = None
    otel: Any = None
    deliver_to_provenant: bool = True
    prices: Optional[Mapping[str, ModelPrices]] = None
    spool: bool = True
    spool_max_bytes: int = _DEFAULT_SPOOL_MAX_BYTES
    flush_on_sigterm: bool = True

    @property
    def key_prefix(self) -> Optional[str]:
        """A prefix of the API key that is safe to print (never the key itself)."""
        return shown_key(self.api_key)


def _env(name: str) -> Optional[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _env_bool(name: str) -> Optional[bool]:
    value = _env(name)
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name}={value!r} is not a boolean; use true or false.")


def _env_number(name: str, kind: Callable[[str], Any]) -> Any:
    value = _env(name)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        raise ConfigurationError(f"{name}={value!r} is not a number.") from None


_implicit_notice_lock = threading.Lock()
_implicit_notice_given = False


def _say_implicit_destination_once(destination: Destination) -> None:
    global _implicit_notice_given
    with _implicit_notice_lock:
        if _implicit_notice_given:
            return
        _implicit_notice_given = True
    logger.info(
        "provenant: no API key or base URL configured; recording to %s "
        "(browse it with `provenant sessions list`).",
        destination.describe(),
    )


def resolve_destination(base_url: Optional[str], api_key: Optional[str]) -> Destination:
    """
    Decide where records go from a base URL and an API key (already merged with the env).

    Args:
        base_url: ``http(s)://...``, ``"local"``, ``"sqlite:///path"`` or ``None``.
        api_key: The API key, if any.

    Returns:
        The :class:`Destination`.

    Raises:
        ConfigurationError: The base URL has a scheme the SDK cannot speak.
    """
    if base_url is None:
        if api_key is None:
            return Destination(kind="local", db_path=DEFAULT_LOCAL_DB_PATH, implicit=True)
        return Destination(kind="http", url=DEFAULT_HOSTED_URL)
    url = base_url.strip()
    if url == "local":
        return Destination(kind="local", db_path=DEFAULT_LOCAL_DB_PATH)
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise ConfigurationError(f"{base_url!r} names no database file.")
        return Destination(kind="local", db_path=path)
    if url.startswith(("http://", "https://")):
        return Destination(kind="http", url=url.rstrip("/"))
    raise ConfigurationError(
        f"base_url {base_url!r} is not understood; use https://..., 'local' or 'sqlite:///path.db'."
    )


def resolve_settings(
    *,
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
    timeout: Optional[float] = None,
    agent_id: Optional[str] = None,
    enabled: Optional[bool] = None,
    max_queue_size: Optional[int] = None,
    on_queue_full: Optional[str] = None,
    queue_block_timeout: Optional[float] = None,
    flush_timeout: Optional[float] = None,
    exporter_workers: Optional[int] = None,
    max_delivery_attempts: Optional[int] = None,
    max_content_bytes: Optional[int] = None,
    capture_content: Optional[bool] = None,
    sample_rate: Optional[float] = None,
    mask: Optional[Callable[[Any], Any]] = None,
    otel: Any = None,
    destination: Optional[str] = None,
    prices: Optional[Mapping[str, Any]] = None,
    spool: Optional[bool] = None,
    spool_max_bytes: Optional[int] = None,
    flush_on_sigterm: Optional[bool] = None,
) -> Settings:
    """
    Merge arguments with ``PROVENANT_*`` variables and validate the result.

    Args:
        See :class:`provenant.ProvenantClient`; ``None`` means "not given".

    Returns:
        The frozen :class:`Settings`.

    Raises:
        ConfigurationError: A value is out of range or not understood.
    """
    api_key = api_key if api_key is not None else _env("PROVENANT_API_KEY")
    base_url = base_url if base_url is not None else _env("PROVENANT_BASE_URL")
    dest = resolve_destination(base_url, api_key)
    if dest.implicit:
        _say_implicit_destination_once(dest)

    if timeout is None:
        timeout = _env_number("PROVENANT_TIMEOUT", float)
    if enabled is None:
        enabled = _env_bool("PROVENANT_ENABLED")
    if flush_timeout is None:
        flush_timeout = _env_number("PROVENANT_FLUSH_TIMEOUT", float)
    if max_queue_size is None:
        max_queue_size = _env_number("PROVENANT_MAX_QUEUE_SIZE", int)
    if on_queue_full is None:
        on_queue_full = _env("PROVENANT_ON_QUEUE_FULL")
    if sample_rate is None:
        sample_rate = _env_number("PROVENANT_SAMPLE_RATE", float)
    if capture_content is None:
        capture_content = _env_bool("PROVENANT_CAPTURE_CONTENT")
    if otel is None and _env_bool("PROVENANT_OTEL"):
        otel = True
    if spool is None:
        spool = _env_bool("PROVENANT_SPOOL")
    if spool_max_bytes is None:
        spool_max_bytes = _env_number("PROVENANT_SPOOL_MAX_BYTES", int)
    if flush_on_sigterm is None:
        flush_on_sigterm = _env_bool("PROVENANT_FLUSH_ON_SIGTERM")

    settings = Settings(
        destination=dest,
        api_key=api_key,
        timeout=_DEFAULT_TIMEOUT_S if timeout is None else float(timeout),
        agent_id=agent_id if agent_id is not None else _env("PROVENANT_AGENT"),
        enabled=True if enabled is None else bool(enabled),
        max_queue_size=_DEFAULT_MAX_QUEUE_SIZE if max_queue_size is None else int(max_queue_size),
        on_queue_full=(on_queue_full or "drop_newest"),  # type: ignore[arg-type]
        queue_block_timeout=(
            _DEFAULT_QUEUE_BLOCK_TIMEOUT_S
            if queue_block_timeout is None
            else float(queue_block_timeout)
        ),
        flush_timeout=_DEFAULT_FLUSH_TIMEOUT_S if flush_timeout is None else float(flush_timeout),
        exporter_workers=(
            _DEFAULT_EXPORTER_WORKERS if exporter_workers is None else int(exporter_workers)
        ),
        max_delivery_attempts=(
            _DEFAULT_MAX_DELIVERY_ATTEMPTS
            if max_delivery_attempts is None
            else int(max_delivery_attempts)
        ),
        max_content_bytes=(
            _DEFAULT_MAX_CONTENT_BYTES if max_content_bytes is None else int(max_content_bytes)
        ),
        capture_content=True if capture_content is None else bool(capture_content),
        sample_rate=1.0 if sample_rate is None else float(sample_rate),
        mask=mask,
        otel=otel,
        deliver_to_provenant=destination != "otel-only",
        prices=resolve_prices(prices, _env(PRICES_FILE_VARIABLE)),
        spool=True if spool is None else bool(spool),
        spool_max_bytes=(
            _DEFAULT_SPOOL_MAX_BYTES if spool_max_bytes is None else int(spool_max_bytes)
        ),
        flush_on_sigterm=True if flush_on_sigterm is None else bool(flush_on_sigterm),
    )
    _validate(settings, destination)
    return settings


def _validate(settings: Settings, destination: Optional[str]) -> None:
    if settings.timeout <= 0:
        raise ConfigurationError(f"timeout must be positive, not {settings.timeout!r}.")
    if settings.max_queue_size < 1:
        raise ConfigurationError(
            f"max_queue_size must be at least 1, not {settings.max_queue_size}."
        )
    if settings.on_queue_full not in _QUEUE_POLICIES:
        raise ConfigurationError(
            f"on_queue_full={settings.on_queue_full!r}; use one of {', '.join(_QUEUE_POLICIES)}."
        )
    if not 0.0 <= settings.sample_rate <= 1.0:
        raise ConfigurationError(
            f"sample_rate must be between 0 and 1, not {settings.sample_rate}."
        )
    if settings.exporter_workers < 1:
        raise ConfigurationError("exporter_workers must be at least 1.")
    if settings.spool_max_bytes < 65536:
        raise ConfigurationError(
            f"spool_max_bytes must be at least 65536, not {settings.spool_max_bytes}."
        )
    if settings.max_content_bytes < 1024:
        raise ConfigurationError("max_content_bytes must be at least 1024.")
    if destination not in (None, "provenant", "otel-only"):
        raise ConfigurationError(
            f"destination={destination!r}; use 'provenant' (default) or 'otel-only'."
        )
    if destination == "otel-only" and not settings.otel:
        raise ConfigurationError("destination='otel-only' needs otel=True or a TracerProvider.")
