"""
The slug rule of the REST contract, shared by the server and the client.

``get-or-create`` keys agents by slug: the name lower-cased, every run of characters
outside ``[a-z0-9]`` replaced by one ``-``, leading and trailing ``-`` trimmed::

    >>> slugify("Support Bot v2!")
    'support-bot-v2'
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["slugify"]

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    """
    Turn an agent name into its slug.

    A name with nothing left after the rule (``"!!!"``, ``"客服"``) gets
    ``agent-`` followed by 12 hex characters of the SHA-256 of the name, so that
    distinct names still get distinct, stable slugs matching ``^[a-z0-9-]+$``.

    Args:
        name: The agent's display name.

    Returns:
        The slug, never empty.

    .. versionadded:: 0.1
    """
    slug = _NOT_SLUG.sub("-", name.lower()).strip("-")
    if slug:
        return slug
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    return f"agent-{digest[:12]}"
