"""Attain core: event models, hook specifications, plugin manager, store and KPI engine.

A plugin needs one import::

    from attain.core import hookimpl
"""

from .kpi import Metric
from .plugins import hookimpl

__all__ = ["Metric", "hookimpl"]
