"""The plugin manager: loads plugins from the ``attain`` entry-point group, builds the registries
(metrics, connectors, goal types, commission rules, maturity criteria) and calls hooks with every
plugin isolated from the others.

Environment:

* ``ATTAIN_LOAD_PLUGINS`` – comma-separated allow-list of entry-point names; set it to an empty
  string to load none (the escape hatch when a broken plugin stops Attain from starting).
* ``ATTAIN_DISABLE_PLUGINS`` – comma-separated names never to load.

Per-tenant enable/disable is stored in the database (``attain plugins enable|disable``); the
engine passes the disabled set to :meth:`Plugins.call`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .kpi import CORE_METRICS, Metric

log = logging.getLogger("attain.plugins")

hookimpl = pluggy.HookimplMarker("attain")

CORE = "core"

REGISTRY_HOOKS: dict[str, str] = {
    "metrics": "attain_register_metrics",
    "connectors": "attain_register_connectors",
    "goal_types": "attain_register_goal_types",
    "commission_rules": "attain_register_commission_rules",
    "maturity_criteria": "attain_register_maturity_criteria",
}


class PluginError(Exception):
    """Base class of plugin problems the user must fix."""


class PluginLoadError(PluginError):
    """A plugin's entry point failed to import."""


class RegistrationError(PluginError):
    """A plugin registered something invalid, or a name another plugin owns."""


@dataclass(frozen=True)
class Owner:
    plugin: str
    distribution: str | None
    version: str | None


class _CorePlugin:
    """The core's own KPIs, registered through the same hook partners use."""

    @hookimpl
    def attain_register_metrics(self, register: Callable[..., None]) -> None:
        for m in CORE_METRICS:
            register(m)


def _env_list(name: str) -> set[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


class Plugins:
    """Typed facade over pluggy: core code never calls ``pm.hook.*`` directly."""

    def __init__(self, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager("attain")
        self.pm.add_hookspecs(hookspecs)
        self.distributions: dict[str, tuple[str | None, str | None]] = {CORE: ("attain", _version())}
        self.errors: Counter[tuple[str, str]] = Counter()
        self.pm.register(_CorePlugin(), name=CORE)
        if load_entry_points:
            self._load_entry_points()
        self.pm.check_pending()
        self._build_registries()

    # -- loading -----------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        allow = _env_list("ATTAIN_LOAD_PLUGINS")
        deny = _env_list("ATTAIN_DISABLE_PLUGINS") or set()
        seen: set[str] = set()
        for ep in metadata.entry_points(group="attain"):
            if ep.name in seen or ep.name in deny or (allow is not None and ep.name not in allow):
                continue
            seen.add(ep.name)
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginLoadError(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
            dist = ep.dist
            self.pm.register(plugin, name=ep.name)
            self.distributions[ep.name] = (
                dist.metadata["Name"] if dist else None,
                dist.version if dist else None,
            )

    def register(self, plugin: object, name: str) -> None:
        """Register a plugin object at run time (tests, embedding); registries are rebuilt."""
        self.pm.register(plugin, name=name)
        self.distributions.setdefault(name, (None, None))
        self.pm.check_pending()
        self._build_registries()

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self._build_registries()

    # -- registries --------------------------------------------------------------------------

    def _build_registries(self) -> None:
        self.registries: dict[str, dict[str, Any]] = {k: {} for k in REGISTRY_HOOKS}
        self.owners: dict[tuple[str, str], Owner] = {}
        for kind, hookname in REGISTRY_HOOKS.items():
            for impl in reversed(getattr(self.pm.hook, hookname).get_hookimpls()):
                impl.function(register=self._registrar(kind, impl.plugin_name))

    def _registrar(self, kind: str, plugin: str) -> Callable[..., None]:
        def register(item: Any) -> None:
            name = getattr(item, "name", None)
            if not isinstance(name, str) or not name:
                raise RegistrationError(f"plugin {plugin!r} registered a {kind} item without a name")
            if kind == "metrics":
                if not isinstance(item, Metric):
                    raise RegistrationError(
                        f"plugin {plugin!r}: metric {name!r} must be an attain.core.kpi.Metric"
                    )
                if not name.isidentifier():
                    raise RegistrationError(f"plugin {plugin!r}: metric name {name!r} is not an identifier")
                item = Metric(**{**item.__dict__, "plugin": plugin})
            existing = self.owners.get((kind, name))
            if existing is not None:
                raise RegistrationError(
                    f"{kind} name clash: {name!r} is registered by plugin {existing.plugin!r} "
                    f"and again by plugin {plugin!r}; rename one of them"
                )
            dist, version = self.distributions.get(plugin, (None, None))
            self.owners[(kind, name)] = Owner(plugin, dist, version)
            self.registries[kind][name] = item

        return register

    @property
    def metrics(self) -> dict[str, Metric]:
        return self.registries["metrics"]

    @property
    def connectors(self) -> dict[str, Any]:
        return self.registries["connectors"]

    def metrics_for(self, disabled: Iterable[str] = ()) -> list[Metric]:
        off = set(disabled)
        return [m for m in self.metrics.values() if m.plugin not in off]

    # -- calling -----------------------------------------------------------------------------

    def has_impls(self, hookname: str) -> bool:
        return bool(getattr(self.pm.hook, hookname).get_hookimpls())

    def call(self, hookname: str, disabled: Iterable[str] = (), **kwargs: Any) -> list[Any]:
        """Call every implementation of ``hookname`` separately, isolating failures.

        Returns the non-None results. A raising plugin is logged with its name and counted in
        :attr:`errors` under ``(plugin, hookname)``; the others still run.
        """
        off = set(disabled)
        results = []
        for impl in reversed(getattr(self.pm.hook, hookname).get_hookimpls()):
            if impl.plugin_name in off:
                continue
            try:
                res = impl.function(*[kwargs[a] for a in impl.argnames])
            except Exception:
                self.record_error(impl.plugin_name, hookname)
                continue
            if res is not None:
                results.append(res)
        return results

    def record_error(self, plugin: str, where: str, exc: BaseException | None = None) -> None:
        self.errors[(plugin, where)] += 1
        log.error("plugin %r failed in %s", plugin, where, exc_info=exc or True)

    def names(self) -> list[str]:
        return sorted(n for n, _ in self.pm.list_name_plugin() if n)

    def info(self) -> list[dict[str, Any]]:
        """Name, distribution, version and implemented hooks of every loaded plugin."""
        out = []
        for name, plugin in sorted(self.pm.list_name_plugin(), key=lambda x: x[0] or ""):
            if name is None:
                continue
            dist, version = self.distributions.get(name, (None, None))
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            owned = {
                kind: sorted(n for (k, n), o in self.owners.items() if k == kind and o.plugin == name)
                for kind in REGISTRY_HOOKS
            }
            out.append({
                "name": name,
                "distribution": dist,
                "version": version,
                "hooks": hooks,
                "provides": {k: v for k, v in owned.items() if v},
            })
        return out


def _version() -> str | None:
    try:
        return metadata.version("attain")
    except metadata.PackageNotFoundError:
        return None


_lock = threading.Lock()
_plugins: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugin manager, loaded lazily and once."""
    global _plugins
    with _lock:
        if _plugins is None:
            _plugins = Plugins()
        return _plugins


def reset_plugins() -> None:
    """Forget the loaded plugins (tests; after changing ATTAIN_LOAD_PLUGINS)."""
    global _plugins
    with _lock:
        _plugins = None


__all__ = [
    "Owner", "PluginError", "PluginLoadError", "Plugins", "RegistrationError", "get_plugins",
    "hookimpl", "reset_plugins", "ModuleType",
]
