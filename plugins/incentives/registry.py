"""Rule types come only from the plugin registry (``attain_register_commission_rules``)."""

from __future__ import annotations

from typing import Any

from attain.core import Plugins, RegistrationError, get_plugins
from pydantic import BaseModel

from .hookspecs import KIND
from .model import RuleType


def as_rule_type(item: Any, plugin: str) -> RuleType:
    """Accept a :class:`RuleType` or any object with the same attributes."""
    if isinstance(item, RuleType):
        return item
    params = getattr(item, "params", None)
    compute = getattr(item, "compute", None)
    if not (isinstance(params, type) and issubclass(params, BaseModel)) or not callable(compute):
        raise RegistrationError(
            f"plugin {plugin!r}: commission rule {getattr(item, 'name', '?')!r} needs a pydantic "
            "'params' model and a 'compute(ctx, params)' function"
        )
    roles = getattr(item, "roles", None) or ("rep",)
    return RuleType(str(item.name), str(getattr(item, "description", "")), params, compute,
                    frozenset(roles), str(getattr(item, "kind", "commission")))


def rule_registry(plugins: Plugins | None = None
                  ) -> tuple[dict[str, RuleType], dict[str, tuple[str, str | None]]]:
    """Registered rule types by name, and the (plugin, version) that owns each."""
    plugins = plugins or get_plugins()
    types: dict[str, RuleType] = {}
    owners: dict[str, tuple[str, str | None]] = {}
    for name, item in plugins.registry(KIND).items():
        owner = plugins.owner(KIND, name)
        plugin = owner.plugin if owner else ""
        types[name] = as_rule_type(item, plugin)
        owners[name] = (plugin, owner.version if owner else None)
    return types, owners
