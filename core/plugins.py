"""The plugin manager: loads plugins from the ``attain`` entry-point group, builds the registries
(metrics, connectors, migrations, and whatever kinds plugins add) and calls hooks with every
plugin isolated from the others.

Environment:

* ``ATTAIN_LOAD_PLUGINS`` – comma-separated allow-list of entry-point names; set it to an empty
  string to load none (the escape hatch when a broken plugin stops Attain from starting).
* ``ATTAIN_DISABLE_PLUGINS`` – comma-separated names never to load.
* ``ATTAIN_TRACE_PLUGINS=1`` – log every hook call: hook, plugins, duration (``attain.trace``).

Per-tenant enable/disable is stored in the database (``attain plugins enable|disable``); the
engine passes the disabled set to each typed call.

Every call goes through pluggy's own hook machinery (one cached subset caller per hook and
plugin, so a failing plugin is isolated), which is why ``pm.add_hookcall_monitoring`` (and the
trace) sees each of them.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .plugin_trace import Tracer, trace_log

if TYPE_CHECKING:  # (imported where used: loading the plugin manager imports no SQLAlchemy)
    import typer

    from .connectors import Connector
    from .engine import Engine
    from .kpi import Metric
    from .models import AnyEvent, DealEvent
    from .period_metrics import PeriodMetric
    from .store.migrations import Migrations

log = logging.getLogger("attain.plugins")

hookimpl = pluggy.HookimplMarker("attain")

CORE = "core"

#: registry kind -> the hook that fills it (plugins add theirs with :meth:`Plugins.add_hookspecs`)
CORE_REGISTRIES: dict[str, str] = {
    "metrics": "attain_register_metrics",
    "period_metrics": "attain_register_period_metrics",
    "connectors": "attain_register_connectors",
    "migrations": "attain_register_migrations",
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
    def attain_register_metrics(self, register: Callable[[Metric], None]) -> None:
        from .kpi import CORE_METRICS

        for m in CORE_METRICS:
            register(m)


def _env_list(name: str) -> set[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


def _check_metric(item: Any, plugin: str) -> Metric:
    from .kpi import Metric

    name = item.name
    if not isinstance(item, Metric):
        raise RegistrationError(f"plugin {plugin!r}: metric {name!r} must be an attain.core.Metric")
    if not name.isidentifier():
        raise RegistrationError(f"plugin {plugin!r}: metric name {name!r} is not an identifier")
    return Metric(**{**item.__dict__, "plugin": plugin})


def _check_period_metric(item: Any, plugin: str) -> PeriodMetric:
    from .period_metrics import PeriodMetric

    name = item.name
    if not isinstance(item, PeriodMetric):
        raise RegistrationError(f"plugin {plugin!r}: period metric {name!r} must be an "
                                "attain.core.PeriodMetric")
    if not name.isidentifier():
        raise RegistrationError(f"plugin {plugin!r}: metric name {name!r} is not an identifier")
    return PeriodMetric(**{**item.__dict__, "plugin": plugin})


def _check_migrations(item: Any, plugin: str) -> Migrations:
    from .store.migrations import Migrations

    if not isinstance(item, Migrations) or not item.versions.is_dir():
        raise RegistrationError(f"plugin {plugin!r}: migrations {item.name!r} must be an "
                                "attain.core.Migrations naming an existing folder")
    return item


#: checks (and normalisations) of registered items, per registry kind
CHECKS: dict[str, Callable[[Any, str], Any]] = {"metrics": _check_metric,
                                                "period_metrics": _check_period_metric,
                                                "migrations": _check_migrations}


class Plugins:
    """Typed facade over pluggy: core code never calls ``pm.hook.*`` directly.

    One method per hook (:meth:`event_received`, :meth:`batch_processed`, :meth:`notify` …)
    calls every implementation separately, in registration order, skipping the plugins
    disabled for the tenant; a raising plugin is logged with its name and counted in
    :attr:`errors` under ``(plugin, hook)``, the others still run.
    """

    def __init__(self, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager("attain")
        self.pm.add_hookspecs(hookspecs)
        self.registry_hooks: dict[str, str] = dict(CORE_REGISTRIES)
        self.distributions: dict[str, tuple[str | None, str | None]] = {CORE: ("attain", _version())}
        self.errors: Counter[tuple[str, str]] = Counter()
        self._callers: dict[tuple[str, str], Any] = {}
        #: ``(plugin, module)`` of every hookspec module plugins added (for the hook reference)
        self.hookspec_modules: list[tuple[str, Any]] = []
        if os.environ.get("ATTAIN_TRACE_PLUGINS", "") not in ("", "0", "false"):
            tracer = Tracer()
            self.pm.add_hookcall_monitoring(tracer.before, tracer.after)
            trace_log.setLevel(logging.INFO)
        # Historic: a plugin registered later still adds its hook specifications at once.
        self.pm.hook.attain_add_hookspecs.call_historic(kwargs={"pluginmanager": self})
        self.pm.register(_CorePlugin(), name=CORE)
        if load_entry_points:
            self._load_entry_points()
        self.pm.check_pending()
        self._build_lock = threading.RLock()
        self._reset_registries()  # each kind is built on first use (attain --help needs none)

    # -- loading -----------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        allow = _env_list("ATTAIN_LOAD_PLUGINS")
        deny = _env_list("ATTAIN_DISABLE_PLUGINS") or set()
        seen: set[str] = set()
        # (name, version) per distribution, read once: a distribution's metadata file holds its
        # README, and parsing it again for each of its plugins was a twentieth of a second
        dists: dict[str, tuple[str | None, str | None]] = {}
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
            key = str(getattr(dist, "_path", id(dist)))
            if dist is None:
                self.distributions[ep.name] = (None, None)
                continue
            if key not in dists:
                md = dist.metadata
                dists[key] = (md["Name"], md["Version"])
            self.distributions[ep.name] = dists[key]

    def add_hookspecs(self, module: ModuleType | type,
                      registries: Mapping[str, str] | None = None) -> None:
        """Add a plugin's own hook specifications (call it from ``attain_add_hookspecs``);
        ``registries`` maps a registry kind (``"commission_rules"``) to the historic
        ``register`` hook that fills it (``"attain_register_commission_rules"``)."""
        self.pm.add_hookspecs(module)
        owner = getattr(module, "__name__", "").removeprefix("attain.plugins.").split(".")[0]
        self.hookspec_modules.append((owner, module))
        for kind, hookname in (registries or {}).items():
            self.registry_hooks[kind] = hookname

    def register(self, plugin: object, name: str) -> None:
        """Register a plugin object at run time (tests, embedding); registries are rebuilt."""
        self.pm.register(plugin, name=name)
        self.distributions.setdefault(name, (None, None))
        self.pm.check_pending()
        self._build_registries()  # at once: a clash is the caller's error, raised here

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self._build_registries()

    # -- registries --------------------------------------------------------------------------

    def _reset_registries(self) -> None:
        self._callers = {}
        self._registries: dict[str, dict[str, Any]] = {}
        self.owners: dict[tuple[str, str], Owner] = {}

    def _build_registries(self) -> None:
        """Every kind now (after a plugin was registered at run time)."""
        with self._build_lock:
            self._reset_registries()
            for kind in list(self.registry_hooks):
                self._kind(kind)

    def _kind(self, kind: str) -> dict[str, Any]:
        """The registry of ``kind``, filled by its hook on first use (once)."""
        built = self._registries.get(kind)
        if built is not None:
            return built
        with self._build_lock:
            built = self._registries.get(kind)
            if built is not None:
                return built
            hookname = self.registry_hooks[kind]
            items: dict[str, Any] = {}
            try:
                for plugin in self._implementers(hookname):
                    self._caller(hookname, plugin)(register=self._registrar(kind, plugin, items))
            except BaseException:
                for key in [k for k in self.owners if k[0] == kind]:
                    del self.owners[key]
                raise
            self._registries[kind] = items
            return items

    @property
    def registries(self) -> dict[str, dict[str, Any]]:
        """Every registry by kind (each built on first use)."""
        return {kind: self._kind(kind) for kind in list(self.registry_hooks)}

    def _registrar(self, kind: str, plugin: str, items: dict[str, Any]) -> Callable[[Any], None]:
        check = CHECKS.get(kind)

        def register(item: Any) -> None:
            name = getattr(item, "name", None)
            if not isinstance(name, str) or not name:
                raise RegistrationError(f"plugin {plugin!r} registered a {kind} item without a name")
            if check is not None:
                item = check(item, plugin)
            existing = self.owners.get((kind, name))
            if existing is not None:
                raise RegistrationError(
                    f"{kind} name clash: {name!r} is registered by plugin {existing.plugin!r} "
                    f"and again by plugin {plugin!r}; rename one of them"
                )
            dist, version = self.distributions.get(plugin, (None, None))
            self.owners[(kind, name)] = Owner(plugin, dist, version)
            items[name] = item

        return register

    def registry(self, kind: str) -> dict[str, Any]:
        """Registered items of one kind by name (empty for a kind nobody declared)."""
        return self._kind(kind) if kind in self.registry_hooks else {}

    def owner(self, kind: str, name: str) -> Owner | None:
        """The plugin (and distribution, version) that registered ``name`` of ``kind``."""
        if kind in self.registry_hooks:
            self._kind(kind)
        return self.owners.get((kind, name))

    @property
    def metrics(self) -> dict[str, Metric]:
        return self._kind("metrics")

    @property
    def connectors(self) -> dict[str, Connector]:
        return self._kind("connectors")

    @property
    def migrations(self) -> dict[str, Migrations]:
        return self._kind("migrations")

    def metrics_for(self, disabled: Iterable[str] = ()) -> list[Metric]:
        off = set(disabled)
        return [m for m in self.metrics.values() if m.plugin not in off]

    @property
    def period_metrics(self) -> dict[str, PeriodMetric]:
        """The period metrics (:mod:`attain.core.period_metrics`); a name an additive metric
        has too is refused (one namespace for every figure)."""
        items = self._kind("period_metrics")
        clash = sorted(set(items).intersection(self.metrics))
        if clash:
            name = clash[0]
            raise RegistrationError(
                f"metrics name clash: {name!r} is registered as a metric by plugin "
                f"{self.metrics[name].plugin!r} and as a period metric by plugin "
                f"{items[name].plugin!r}; rename one of them")
        return items

    def period_metrics_for(self, disabled: Iterable[str] = ()) -> list[PeriodMetric]:
        off = set(disabled)
        return [m for m in self.period_metrics.values() if m.plugin not in off]

    # -- calling -----------------------------------------------------------------------------

    def has_impls(self, hookname: str) -> bool:
        hc = getattr(self.pm.hook, hookname, None)
        return hc is not None and bool(hc.get_hookimpls())

    def _implementers(self, hookname: str) -> list[str]:
        """Names of the plugins implementing ``hookname``, in registration order."""
        hc = getattr(self.pm.hook, hookname, None)
        if hc is None:
            return []
        return [i.plugin_name for i in reversed(hc.get_hookimpls())]

    def _caller(self, hookname: str, plugin: str) -> Any:
        """pluggy's hook caller of ``hookname`` restricted to one plugin (cached)."""
        key = (hookname, plugin)
        caller = self._callers.get(key)
        if caller is None:
            others = [p for n, p in self.pm.list_name_plugin() if n != plugin]
            caller = self._callers[key] = self.pm.subset_hook_caller(hookname, remove_plugins=others)
        return caller

    def _each(self, hookname: str, disabled: Iterable[str] = ()) -> list[tuple[str, Any]]:
        off = set(disabled)
        return [(p, self._caller(hookname, p)) for p in self._implementers(hookname) if p not in off]

    def _call_each(self, hookname: str, disabled: Iterable[str], **kwargs: Any) -> list[Any]:
        results = []
        for plugin, caller in self._each(hookname, disabled):
            try:
                res = caller(**kwargs)
            except Exception:
                self.record_error(plugin, hookname)
                continue
            results.extend(res)
        return results

    def event_received(self, events: Sequence[AnyEvent], tenant: str, engine: Engine,
                       disabled: Iterable[str] = ()) -> None:
        """``attain_event_received`` for each event, plugin by plugin."""
        for plugin, caller in self._each("attain_event_received", disabled):
            for ev in events:
                try:
                    caller(event=ev, tenant=tenant, engine=engine)
                except Exception:
                    self.record_error(plugin, "attain_event_received")

    def event_processed(self, outcomes: Sequence[tuple[AnyEvent, str]], tenant: str,
                        engine: Engine, disabled: Iterable[str] = ()) -> None:
        """``attain_event_processed`` for each ``(event, outcome)``, in batch order."""
        callers = self._each("attain_event_processed", disabled)
        for ev, outcome in outcomes:
            for plugin, caller in callers:
                try:
                    caller(event=ev, tenant=tenant, outcome=outcome, engine=engine)
                except Exception:
                    self.record_error(plugin, "attain_event_processed")

    def batch_processed(self, tenant: str, outcomes: list[tuple[AnyEvent, str]], engine: Engine,
                        disabled: Iterable[str] = (),
                        previous: Mapping[str, DealEvent] | None = None) -> None:
        """``attain_batch_processed`` once per plugin."""
        self._call_each("attain_batch_processed", disabled, tenant=tenant, outcomes=outcomes,
                        engine=engine, previous=dict(previous or {}))

    def event_rejected(self, tenant: str, reason: str, payload: str, source: str,
                       disabled: Iterable[str] = ()) -> None:
        """``attain_event_rejected`` for one dead-lettered input."""
        self._call_each("attain_event_rejected", disabled, tenant=tenant, reason=reason,
                        payload=payload, source=source)

    def notify(self, tenant: str, kind: str, payload: dict[str, Any], engine: Engine | None,
               disabled: Iterable[str] = ()) -> None:
        """``attain_notify``: deliver a notification through every notifier."""
        self._call_each("attain_notify", disabled, tenant=tenant, kind=kind, payload=payload,
                        engine=engine)

    def register_commands(self, cli: typer.Typer) -> None:
        """``attain_register_commands`` on ``cli``: once per plugin and application, however
        often it is called (a plugin's commands are never added twice)."""
        # Kept with the application, not with this manager: a new manager (after
        # reset_plugins) must not add the commands an earlier one added to the same app.
        done = _registered_commands.setdefault(cli, set())
        for plugin in self._implementers("attain_register_commands"):
            if plugin in done:
                continue
            done.add(plugin)
            self._caller("attain_register_commands", plugin)(cli=cli)

    def follower(self, tenant: str, grouping: str, fmt: str, max_rows: int | None = None,
                 timeout: float | None = None) -> Callable[[], int] | None:
        """``attain_follow_kpis``: what ``attain kpi --follow`` runs, or None (no stream plugin)."""
        hc = self.pm.hook.attain_follow_kpis
        result: Callable[[], int] | None = hc(tenant=tenant, grouping=grouping, fmt=fmt,
                                               max_rows=max_rows, timeout=timeout)
        return result

    def server(self, host: str, port: int, tenant: str, sign_in: bool = False) -> Callable[[], None] | None:
        """``attain_serve``: what ``attain demo --serve`` runs, or None (no server plugin)."""
        hc = self.pm.hook.attain_serve
        result: Callable[[], None] | None = hc(host=host, port=port, tenant=tenant, sign_in=sign_in)
        return result

    def record_error(self, plugin: str, where: str, exc: BaseException | None = None) -> None:
        self.errors[(plugin, where)] += 1
        log.error("plugin %r failed in %s", plugin, where, exc_info=exc or True)

    # -- listing -----------------------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(n for n, _ in self.pm.list_name_plugin() if n)

    def info(self) -> list[dict[str, Any]]:
        """Name, distribution, version and implemented hooks of every loaded plugin."""
        self.registries  # noqa: B018 (every kind built: what each plugin provides)
        out = []
        for name, plugin in sorted(self.pm.list_name_plugin(), key=lambda x: x[0] or ""):
            if name is None:
                continue
            dist, version = self.distributions.get(name, (None, None))
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            owned = {
                kind: sorted(n for (k, n), o in self.owners.items() if k == kind and o.plugin == name)
                for kind in self.registry_hooks
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


#: the plugins whose commands were added to each application (``register_commands``)
_registered_commands: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def reset_plugins() -> None:
    """Forget the loaded plugins (tests; after changing ATTAIN_LOAD_PLUGINS)."""
    global _plugins
    with _lock:
        _plugins = None


__all__ = [
    "Owner", "PluginError", "PluginLoadError", "Plugins", "RegistrationError", "get_plugins",
    "hookimpl", "reset_plugins",
]
