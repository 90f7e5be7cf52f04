"""
Which ``Host`` header values the local server answers (the guard against DNS rebinding).

A web page can point a name it controls at 127.0.0.1 and then talk to the local server
as if it were its own site; the browser still sends that name in ``Host``. So the server
answers only names of its own address: loopback names (``localhost``, ``127.0.0.1``,
``[::1]``), the address it was bound to, any IP address when bound to every interface,
and the names given as ``allowed_hosts`` (``"*"`` allows any)::

    policy = HostPolicy("127.0.0.1", ["provenant.internal"])
    policy.allows("localhost:4000")       # True
    policy.allows("evil.example")         # False
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Optional, Union

__all__ = ["HostPolicy"]

_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "*"})
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def _hostname(value: str) -> Optional[str]:
    """The name part of a ``Host`` value (no port, no brackets), lower-cased; None if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or (value[end + 1 :] and not value[end + 1 :].startswith(":")):
            return None
        return value[1:end]
    name, _, port = value.partition(":")
    if port and not port.isdigit():
        return None
    return name.rstrip(".") or None


def _ip(name: str) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


class HostPolicy:
    """
    The ``Host`` values one server answers.

    Args:
        bound_host: The address the server listens on.
        allowed_hosts: More names to answer (no port); ``"*"`` answers any.
    """

    def __init__(self, bound_host: str, allowed_hosts: Iterable[str] = ()) -> None:
        extra = {name.strip().lower().rstrip(".") for name in allowed_hosts if name.strip()}
        self.any_host = "*" in extra
        address = _ip(bound_host.strip().strip("[]"))
        bound = str(address) if address is not None else _hostname(bound_host)
        self.any_ip = bound_host.strip() in _WILDCARD_BINDS
        self._names = set(_LOOPBACK_NAMES) | extra
        if bound:
            self._names.add(bound)

    def allows(self, host_header: Optional[str]) -> bool:
        """Whether a request carrying this ``Host`` value is answered."""
        if self.any_host:
            return True
        if host_header is None:
            return False
        name = _hostname(host_header)
        if name is None:
            return False
        if name in self._names:
            return True
        address = _ip(name)
        if address is None:
            return False
        return address.is_loopback or self.any_ip or str(address) in self._names
