"""CSV connector for the "CRM Sales Opportunities" layout.

``attain import crm-csv DIR`` reads ``sales_pipeline.csv``, ``sales_teams.csv``, ``accounts.csv``
and ``products.csv`` and turns every opportunity into its history of deal events (one snapshot per
stage it went through), which go through the same engine as any other events.

Quirks of the data set, and what the connector does about them:

* Product names differ between files (``GTXPro`` vs ``GTX Pro``): names are matched ignoring
  spaces and case, and the catalogue's spelling is used.
* Open deals without an account keep ``account = null``.
* Prospecting deals have no engage date; open deals have no close date and no close value: their
  amount is null, so pipeline value falls back to the product's list price.
* Lost deals carry close value 0: their amount is 0 (the value at stake is unknown).
* Won close values differ from list price: revenue uses the close value.
* A row whose ``deal_stage`` is ``Deleted`` (an export that lists deleted opportunities) is a
  ``deleted`` deal snapshot at version 4: the deal leaves every KPI, also when an earlier import
  counted it. A CSV export cannot say more: an opportunity simply missing from a later export is
  not taken as deleted (the folder may be a partial export).
* Roster agents without deals are still imported as reps.
* ``technolgy`` is read as ``technology``; an empty ``subsidiary_of`` means independent.

Broken files (see :mod:`.reader`, :mod:`.history`, :mod:`.reference`):

* A file that cannot be used at all — missing, empty (0 bytes), not UTF-8 text, not CSV, a
  header without a column the connector reads — and any bad row of the three reference files
  stop the import with ONE error naming the file (and line and field); nothing is imported.
* A pipeline row is all or nothing: if any of its snapshots is invalid (``close_value`` ``abc``,
  ``close_date`` ``2017-13-45``, a row cut short or with too many fields), the row is one dead
  letter (source ``sales_pipeline.csv:LINE``) and none of its snapshots count. So is every row
  of an opportunity that two rows give different values (which one is right is unknown).
* A file with a header and no rows imports nothing from it, with a warning.

The connector lives in :mod:`.connector`; this module is the plugin (entry point ``crm_csv``) and
imports it only when the connector registry is built, so loading the plugin is cheap.
"""

from __future__ import annotations

from typing import Any

from attain.core import hookimpl

__all__ = ["FILES", "OPEN_STAGES", "REQUIRED", "CrmCsvConnector", "deal_history"]


def __getattr__(name: str) -> Any:  # the connector's names, imported on first use
    if name in __all__ or name == "read_tables":
        from . import connector

        return getattr(connector, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def attain_register_connectors(register: Any) -> None:
    from .connector import CrmCsvConnector

    register(CrmCsvConnector())
