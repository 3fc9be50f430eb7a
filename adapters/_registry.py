"""Adapter types by name: built-ins (imported on first use), registered ones and entry points.

A deployment configuration names an adapter ``type`` (``webhook``, ``hubspot``, ...). The type
resolves, in this order, to:

1. a factory registered in this process with :func:`register`;
2. a built-in module of this package (imported only when first asked for, so importing
   ``leadflow.adapters`` stays cheap), whose ``create`` function is the factory;
3. an entry point of the ``leadflow.adapters`` group (third-party packages), whose object is the
   factory::

       [project.entry-points."leadflow.adapters"]
       zendesk = "leadflow_zendesk:create"
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import re
import threading
from importlib import metadata

from leadflow.adapters.base import AdapterConfigError, AdapterFactory

__all__ = ["BUILTIN_ADAPTERS", "ENTRY_POINT_GROUP", "available", "factory_for", "register"]

ENTRY_POINT_GROUP = "leadflow.adapters"
"""The entry-point group third-party adapter packages declare their factories in."""

BUILTIN_ADAPTERS: dict[str, str] = {
    "hubspot": "leadflow.adapters.hubspot",
    "jsonl": "leadflow.adapters.jsonl",
    "pipedrive": "leadflow.adapters.pipedrive",
    "salesforce": "leadflow.adapters.salesforce",
    "webhook": "leadflow.adapters.webhook",
}
"""Built-in adapter types and the module whose ``create`` builds one."""

_TYPE_NAME = re.compile(r"[a-z][a-z0-9_\-]{0,63}")
_registered: dict[str, AdapterFactory] = {}
_lock = threading.Lock()


def register(type_name: str, factory: AdapterFactory) -> None:
    """Make ``factory`` the adapter type ``type_name`` in this process.

    A registered type wins over a built-in or an entry point of the same name (tests and hosts
    can replace one). ``type_name`` is lowercase letters, digits, ``_`` and ``-``.
    """
    if not isinstance(type_name, str) or not _TYPE_NAME.fullmatch(type_name):
        raise AdapterConfigError(
            f"adapter type name {type_name!r} is not allowed: use 1-64 lowercase letters, digits, "
            "'_' or '-', starting with a letter"
        )
    if not callable(factory):
        raise AdapterConfigError(
            f"adapter type '{type_name}': the factory must be callable "
            "as factory(name, options, resolve_secret)"
        )
    with _lock:
        _registered[type_name] = factory


def _entry_points() -> dict[str, metadata.EntryPoint]:
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def available() -> list[str]:
    """Every adapter type name that :func:`factory_for` can resolve, sorted.

    Built-in types whose module is not installed (yet) are left out.
    """
    names = set(_registered) | set(_entry_points())
    names.update(t for t, module in BUILTIN_ADAPTERS.items() if _module_exists(module))
    return sorted(names)


def _module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _unknown(type_name: str) -> AdapterConfigError:
    names = available()
    close = difflib.get_close_matches(type_name, names, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return AdapterConfigError(
        f"unknown adapter type '{type_name}'{hint}; available types: {', '.join(names) or 'none'}"
        f" (third-party types register through the '{ENTRY_POINT_GROUP}' entry-point group)"
    )


def factory_for(type_name: str) -> AdapterFactory:
    """The factory of adapter type ``type_name``.

    Raises :class:`AdapterConfigError` listing the available types (with a did-you-mean hint)
    when no factory has that name, or when its module or entry point cannot be loaded.
    """
    with _lock:
        factory = _registered.get(type_name)
    if factory is not None:
        return factory
    module_name = BUILTIN_ADAPTERS.get(type_name)
    if module_name is not None and _module_exists(module_name):
        module = importlib.import_module(module_name)
        create = getattr(module, "create", None)
        if not callable(create):
            raise AdapterConfigError(
                f"adapter type '{type_name}': module {module_name} has no create() function"
            )
        built_in: AdapterFactory = create
        return built_in
    ep = _entry_points().get(type_name)
    if ep is None:
        raise _unknown(type_name)
    try:
        loaded = ep.load()
    except Exception as exc:  # a broken third-party package: say which one, chain the cause
        raise AdapterConfigError(
            f"adapter type '{type_name}': entry point '{ep.value}' of group "
            f"'{ENTRY_POINT_GROUP}' failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    if not callable(loaded):
        raise AdapterConfigError(
            f"adapter type '{type_name}': entry point '{ep.value}' is not callable; it must be a "
            "factory(name, options, resolve_secret) -> Adapter"
        )
    entry: AdapterFactory = loaded
    return entry


def _unregister(type_name: str) -> None:
    """Forget a registered type (tests)."""
    with _lock:
        _registered.pop(type_name, None)
