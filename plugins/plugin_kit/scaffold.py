"""A new plugin package from the templates in ``templates/`` (Jinja2).

``templates/common/`` is in every package (pyproject.toml, README, CI, the tests' conftest);
``templates/<kind>/`` adds the plugin of that kind and its tests. In paths, ``__module__`` is
the package's import name and a leading ``dot-`` is a dot (``dot-github`` → ``.github``: package
data globs skip hidden files); a ``.j2`` file is rendered (and loses the suffix), any other file
is copied as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import jinja2
from attain.core import UserError

KINDS = ("connector", "metric", "rule")
NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
#: the templates' Python floor, also the generated CI's matrix
PYTHONS = ("3.11", "3.12")


@dataclass(frozen=True)
class Names:
    """Every name the package uses, derived from the plugin's NAME (``acme-crm``)."""

    name: str         # acme-crm: the connector's name (attain import acme-crm …), the metric's prefix
    plugin: str       # acme_crm: the entry-point name (attain plugins list, ATTAIN_DISABLE_PLUGINS)
    module: str       # attain_acme_crm: the import name
    distribution: str  # attain-acme-crm: the name on PyPI
    title: str        # Acme Crm
    env_prefix: str   # ACME_CRM: the connector's settings (ACME_CRM_API_TOKEN)


def names(name: str, taken: Iterable[str] = ()) -> Names:
    """The names of plugin ``name``; :class:`UserError` for a name that cannot be one."""
    if not NAME.fullmatch(name):
        raise UserError(f"{name!r} is not a valid plugin name: use lowercase letters, digits and "
                        "single hyphens, starting with a letter (e.g. acme-crm)")
    plugin = name.replace("-", "_")
    if plugin in set(taken):
        raise UserError(f"a plugin named {plugin!r} is already installed: choose another name")
    return Names(name=name, plugin=plugin, module=f"attain_{plugin}",
                 distribution=f"attain-{name}", title=name.replace("-", " ").title(),
                 env_prefix=plugin.upper())


def _files(root: Traversable, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            yield from _files(entry, (*prefix, entry.name))
        else:
            yield (*prefix, entry.name), entry


def render(name: Names, kind: str, output: Path, attain_version: str) -> list[Path]:
    """Write the package of ``kind`` into ``output`` (which must not exist or be empty);
    returns the files written, relative to ``output``."""
    if kind not in KINDS:
        raise UserError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UserError(f"{output} already exists: choose another --output or remove it")
    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
                             autoescape=False)
    context = {**name.__dict__, "kind": kind, "attain_version": attain_version,
               "pythons": list(PYTHONS)}
    templates = resources.files("attain.plugins.plugin_kit") / "templates"
    written: list[Path] = []
    for part in ("common", kind):
        for parts, entry in _files(templates / part):
            rel = Path(*(name.module if p == "__module__" else "." + p[4:] if p.startswith("dot-")
                         else p for p in parts))
            text = entry.read_text(encoding="utf-8")
            if rel.suffix == ".j2":
                rel = rel.with_suffix("")
                text = env.from_string(text).render(context)
            target = output / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(rel)
    return written
