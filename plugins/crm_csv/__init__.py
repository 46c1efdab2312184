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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attain.core import hookimpl
from attain.core.connectors import Batch, ConnectorError

from . import reference
from .history import OPEN_STAGES, PIPELINE_COLUMNS, deal_history, key, pipeline_records
from .reader import FileProblem, Table, header_problem, read_table

__all__ = ["FILES", "OPEN_STAGES", "REQUIRED", "CrmCsvConnector", "deal_history"]


PIPELINE = "sales_pipeline.csv"
FILES = (PIPELINE, "sales_teams.csv", "accounts.csv", "products.csv")
REQUIRED: dict[str, tuple[str, ...]] = {  # the columns read from each file
    PIPELINE: PIPELINE_COLUMNS,
    "sales_teams.csv": ("sales_agent", "manager", "regional_office"),
    "accounts.csv": ("account", "sector", "subsidiary_of"),
    "products.csv": ("product", "series", "sales_price"),
}


def read_tables(root: Path) -> dict[str, Table]:
    """Every file of the layout, checked: raises one :class:`ConnectorError` naming each file
    that is missing, unreadable or lacks a column."""
    missing = [f for f in FILES if not (root / f).is_file()]
    if missing:
        raise ConnectorError(f"{root}: missing {', '.join(missing)} (CRM Sales Opportunities layout)")
    tables: dict[str, Table] = {}
    problems: list[str] = []
    for name in FILES:
        try:
            table = read_table(root / name)
        except FileProblem as exc:
            problems.append(str(exc))
            continue
        problem = header_problem(table, REQUIRED[name])
        if problem is not None:
            problems.append(problem)
        tables[name] = table
    if problems:
        raise ConnectorError("; ".join(problems) + "; nothing was imported")
    return tables


class CrmCsvConnector:
    name = "crm-csv"
    description = "CRM Sales Opportunities CSV export (sales_pipeline, sales_teams, accounts, products)"

    def read(self, source: str, tenant: str) -> Batch:
        tables = read_tables(Path(source))
        try:
            products = reference.products(tables["products.csv"])
            reps = reference.reps(tables["sales_teams.csv"])
            accounts = reference.accounts(tables["accounts.csv"])
        except FileProblem as exc:
            raise ConnectorError(f"{exc}; nothing was imported") from exc
        warnings = [f"{name} has no rows (only a header)" for name in FILES if not tables[name].rows]
        records = pipeline_records(tables[PIPELINE], {key(p.name): p.name for p in products},
                                   tenant)
        return Batch(records=records, reps=reps, accounts=accounts, products=products,
                     total=len(records), warnings=warnings)


@hookimpl
def attain_register_connectors(register: Any) -> None:
    register(CrmCsvConnector())
