"""The public surface: provenant.__all__ is complete, sorted and documented."""

from __future__ import annotations
import __future__

import types

import provenant
import provenant_sdk

# Dunder names that are part of the promise.
_PUBLIC_DUNDERS = {"__version__"}


def _public_names(module: types.ModuleType) -> list[str]:
    return [
        name
        for name, value in vars(module).items()
        if (not name.startswith("_") or name in _PUBLIC_DUNDERS)
        and not isinstance(value, (types.ModuleType, __future__._Feature))
    ]


def test_all_lists_every_public_name() -> None:
    """Every public name in the provenant namespace is in __all__, and nothing else is."""
    assert set(provenant.__all__) == set(_public_names(provenant))


def test_all_is_sorted() -> None:
    """provenant.__all__ is sorted, so additions land in one obvious place."""
    assert provenant.__all__ == sorted(provenant.__all__)


def test_all_has_no_duplicates() -> None:
    """No name appears twice in provenant.__all__."""
    assert len(provenant.__all__) == len(set(provenant.__all__))


def test_every_public_callable_says_when_it_was_added() -> None:
    """Every exported class and function has a docstring with its versionadded."""
    for name in provenant.__all__:
        value = getattr(provenant, name)
        if callable(value):
            assert value.__doc__ and ".. versionadded::" in value.__doc__, name


def test_the_compatibility_module_reexports_the_same_objects() -> None:
    """provenant_sdk gives the very objects of provenant, so old snippets run unchanged."""
    assert provenant_sdk.ProvenantClient is provenant.ProvenantClient
    assert provenant_sdk.ProvenantError is provenant.ProvenantError
    assert provenant_sdk.instrument is provenant.instrument
    assert set(provenant_sdk.__all__) == set(_public_names(provenant_sdk))
    assert provenant_sdk.__all__ == sorted(provenant_sdk.__all__)
