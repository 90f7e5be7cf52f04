"""
Compatibility with the platform's original ``provenant_sdk`` package.

Every snippet of the original README runs unchanged::

    from provenant_sdk import instrument, ProvenantClient, ProvenantError

New code should import :mod:`provenant`.

.. versionadded:: 0.1
"""

from __future__ import annotations

from provenant import ProvenantClient, ProvenantError, instrument, uninstrument

__all__ = ["ProvenantClient", "ProvenantError", "instrument", "uninstrument"]
