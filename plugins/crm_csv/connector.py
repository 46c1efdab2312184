"""The ``crm-csv`` connector: the four files of the layout (see the package docstring)."""

from __future__ import annotations

from pathlib import Path

from attain.core.connectors import Batch, ConnectorError

from . import reference
from .history import OPEN_STAGES, PIPELINE_COLUMNS, deal_history, key, pipeline_records
from .reader import FileProblem, Table, header_problem, read_table

__all__ = ["FILES", "OPEN_STAGES", "REQUIRED", "CrmCsvConnector", "deal_history", "read_tables"]


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
