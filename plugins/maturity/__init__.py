"""The ``maturity`` plugin.

Registered through the ``attain`` entry-point group like any partner plugin. Its assessment is
tracked in its own issue; for now it only declares its hook, ``attain_register_maturity_criteria``
(:mod:`.hookspecs`), so criteria plugins can be written against it.
"""

from __future__ import annotations

from typing import Any

from attain.core import hookimpl

from . import hookspecs


@hookimpl
def attain_add_hookspecs(pluginmanager: Any) -> None:
    pluginmanager.add_hookspecs(hookspecs, registries={hookspecs.KIND: "attain_register_maturity_criteria"})
