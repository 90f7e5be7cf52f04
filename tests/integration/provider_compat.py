"""Checks that hold across the provider SDK releases the tests may run with."""

from __future__ import annotations


def is_provider_stream(value: object, *classes: type) -> bool:
    """
    Whether ``value`` passes for one of the provider's stream ``classes``.

    older anthropic releases (the 0.x ones Python 3.9 installs) give ``Stream`` a
    metaclass whose ``isinstance()`` accepts only exact instances, which no proxy can be;
    there the wrapped object's exact type is checked instead.
    """
    if all(type(cls) is type for cls in classes):
        return isinstance(value, classes)
    return type(getattr(value, "__wrapped__", value)) in classes
