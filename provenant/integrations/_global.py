"""
Process-wide instrumentation: wrappers on the provider SDKs' classes and functions, so
every client records, whoever built it (an agent framework, a library) and whenever.

A provider's targets are patched when its module is imported (a wrapt post-import hook,
run at once when it is already imported): a provider the program never imports is never
imported here. Each wrapper looks up, at each call, which registration records it (a
client class given to ``instrument(SomeClass)``, or every client); none left means the
call passes through. A per-instance ``instrument(client)`` wraps these wrappers and
records the call itself with provider recording suppressed, so its options win and the
call is recorded once.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Callable, Optional

import wrapt

from provenant.integrations._call import Integration, record_fault
from provenant.integrations._patch import Patch, make_wrapper

__all__ = ["Target", "active", "add", "remove", "remove_all"]


@dataclasses.dataclass(frozen=True)
class Target:
    """
    One function or method to wrap process-wide.

    Args:
        module: The module that defines it; patched once that module is imported.
        owner: The class in that module that holds the method (``""``: a function of the
            module itself).
        patch: What the method is (its API, whether it streams, whether it is async).
        positional: The names of the leading positional parameters (``model``,
            ``messages`` of ``litellm.completion``), read as if passed by name.
    """

    module: str
    owner: str
    patch: Patch
    positional: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class _Registration:
    client_class: Optional[type]
    integration: Integration


_lock = threading.RLock()
# provider -> registrations, those of a client class first (they win over "every client")
_registrations: dict[str, list[_Registration]] = {}
# (provider, owner, attribute, the attribute's value before, whether the owner had it itself)
_applied: dict[tuple[int, str], tuple[str, Any, str, Any, bool]] = {}
_hooked: set[str] = set()


def _owner_client(instance: Any) -> Any:
    """The client a resource object belongs to (the Stainless SDKs' ``_client``)."""
    return getattr(instance, "_client", None)


def _resolver(provider: str) -> Callable[[Any], Optional[Integration]]:
    def resolve(instance: Any) -> Optional[Integration]:
        registrations = _registrations.get(provider)
        if not registrations:
            return None
        for registration in registrations:
            wanted = registration.client_class
            if wanted is None or isinstance(_owner_client(instance), wanted):
                return registration.integration
        return None

    return resolve


def _wrap(owner: Any, target: Target, provider: str) -> None:
    name = target.patch.method
    key = (id(owner), name)
    if key in _applied:
        return
    own = vars(owner) if isinstance(owner, type) else getattr(owner, "__dict__", {})
    had_own = name in own
    original = own[name] if had_own else getattr(owner, name, None)
    if original is None:
        return  # an SDK version without it
    wrapper = make_wrapper(_resolver(provider), target.patch, False, target.positional)
    setattr(owner, name, wrapt.FunctionWrapper(original, wrapper))
    _applied[key] = (provider, owner, name, original, had_own)


def _patch_module(provider: str, targets: tuple[Target, ...], module: Any) -> None:
    with _lock:
        if not _registrations.get(provider):
            return  # uninstrumented before the module was imported
        for target in targets:
            if target.module != module.__name__:
                continue
            try:
                owner = getattr(module, target.owner) if target.owner else module
                _wrap(owner, target, provider)
            except Exception as exc:
                record_fault("process-wide-patch", exc)


def _hook(provider: str, targets: tuple[Target, ...]) -> None:
    for module_name in sorted({t.module for t in targets}):
        hook_key = f"{provider}:{module_name}"

        def on_import(module: Any) -> None:
            _patch_module(provider, targets, module)

        if hook_key in _hooked:
            import sys

            module = sys.modules.get(module_name)
            if module is not None:
                on_import(module)
            continue
        _hooked.add(hook_key)
        # Runs at once when the module is already imported, else when it is.
        wrapt.register_post_import_hook(on_import, module_name)


def add(
    provider: str,
    targets: tuple[Target, ...],
    integration: Integration,
    client_class: Optional[type],
) -> bool:
    """Record ``provider``'s clients (of ``client_class`` only, when given); False when
    already recorded so (nothing changes: ``instrument()`` is idempotent)."""
    with _lock:
        registrations = _registrations.setdefault(provider, [])
        if any(r.client_class is client_class for r in registrations):
            return False
        registration = _Registration(client_class, integration)
        if client_class is None:
            registrations.append(registration)
        else:
            registrations.insert(0, registration)
        _hook(provider, targets)
        return True


def _unpatch_provider(provider: str) -> None:
    for key, (owner_provider, owner, name, original, had_own) in list(_applied.items()):
        if owner_provider != provider:
            continue
        try:
            if had_own:
                setattr(owner, name, original)
            else:  # a method the class inherited (or litellm's Router serves): ours goes
                delattr(owner, name)
        except Exception as exc:
            record_fault("process-wide-unpatch", exc)
        del _applied[key]


def remove(provider: str, client_class: Optional[type]) -> None:
    """Stop recording ``provider``'s clients of ``client_class`` (``None``: every
    registration); the wrappers come off once no registration is left."""
    with _lock:
        registrations = _registrations.get(provider, [])
        if client_class is None:
            registrations.clear()
        else:
            registrations[:] = [r for r in registrations if r.client_class is not client_class]
        if not registrations:
            _unpatch_provider(provider)


def remove_all() -> None:
    """Undo every process-wide instrumentation."""
    with _lock:
        for provider in list(_registrations):
            remove(provider, None)


def active(provider: str) -> bool:
    """True while some registration records ``provider``'s clients."""
    return bool(_registrations.get(provider))
