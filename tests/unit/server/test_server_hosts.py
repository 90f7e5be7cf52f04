"""HostPolicy: which Host header values a server bound to an address answers."""

from __future__ import annotations

import pytest

from provenant.server._hosts import HostPolicy


@pytest.mark.parametrize(
    ("bound", "allowed", "host", "answered"),
    [
        ("127.0.0.1", (), "localhost:4000", True),
        ("127.0.0.1", (), "127.0.0.2", True),
        ("127.0.0.1", (), "[::1]:4000", True),
        ("127.0.0.1", (), "192.168.1.5:4000", False),
        ("127.0.0.1", (), "evil.example", False),
        ("127.0.0.1", (), "127.0.0.1:80:80", False),
        ("127.0.0.1", (), "[::1", False),
        ("127.0.0.1", (), "", False),
        ("192.168.1.5", (), "192.168.1.5:4000", True),
        ("192.168.1.5", (), "192.168.1.6", False),
        ("fe80::1", (), "[fe80::1]:4000", True),
        ("0.0.0.0", (), "10.1.2.3:4000", True),
        ("0.0.0.0", (), "evil.example", False),
        ("::", (), "[2001:db8::1]:4000", True),
        ("127.0.0.1", ("Provenant.Internal.",), "provenant.internal:443", True),
        ("127.0.0.1", ("*",), "anything.example", True),
    ],
)
def test_host_policy(bound: str, allowed: tuple[str, ...], host: str, answered: bool) -> None:
    """Loopback names, the bound address (any IP when bound to all) and named extras."""
    assert HostPolicy(bound, allowed).allows(host) is answered


def test_no_host_is_refused() -> None:
    """A request without Host is refused unless any host is allowed."""
    assert not HostPolicy("127.0.0.1").allows(None)
    assert HostPolicy("127.0.0.1", ["*"]).allows(None)
