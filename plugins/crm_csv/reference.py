"""The reference files (products, sales teams, accounts) → dimensions.

They are small lookup tables every KPI is grouped by, so a bad row is not skipped: it stops the
import with one error naming the file, the line and the field (:class:`FileProblem`).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from attain.core.models import Account, Product, Rep
from pydantic import BaseModel, ValidationError

from .history import blank, key
from .reader import FileProblem, Row, Table

SECTOR_FIXES = {"technolgy": "technology"}
M = TypeVar("M", bound=BaseModel)


def _price(table: Table, row: Row, column: str) -> Decimal | None:
    text = blank(row.get(column))
    if text is None:
        return None
    try:
        d = Decimal(text)
    except InvalidOperation:
        d = Decimal("NaN")
    if not d.is_finite() or d < 0:
        raise FileProblem(f"{table.name}:{row.line}: {column}: {text!r} is not a price "
                          "(a number, 0 or more)")
    return d


def _models(table: Table, name_column: str, build: Callable[[Row, str], M],
            match: Callable[[str], str] = str) -> list[M]:
    """One model per row; every row needs a name, and rows naming the same thing (``match``
    says which names are the same) must agree (an exact repeat is harmless and skipped)."""
    out: dict[str, tuple[int, M]] = {}
    for row in table.rows:
        where = f"{table.name}:{row.line}"
        problem = table.field_count_problem(row)
        if problem is not None:
            raise FileProblem(f"{where}: {problem}")
        name = blank(row.get(name_column))
        if name is None:
            raise FileProblem(f"{where}: {name_column} is empty")
        try:
            model = build(row, name)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(x) for x in err.get("loc", ()))
            raise FileProblem(f"{where}: {field}: {err.get('msg', 'invalid')}") from exc
        first = out.setdefault(match(name), (row.line, model))
        if first[1] != model:
            raise FileProblem(f"{where}: {name_column} {name!r} is listed twice, differently "
                              f"(also on line {first[0]})")
    return [m for _, m in out.values()]


def products(table: Table) -> list[Product]:
    """``products.csv``; names that differ only in spaces and case are the same product."""
    return _models(table, "product", lambda r, name: Product(
        name=name, series=blank(r.get("series")), list_price=_price(table, r, "sales_price")),
        match=key)


def reps(table: Table) -> list[Rep]:
    """``sales_teams.csv``: every roster agent is a rep, with or without deals."""
    return _models(table, "sales_agent", lambda r, name: Rep(
        name=name, manager=blank(r.get("manager")), region=blank(r.get("regional_office"))))


def accounts(table: Table) -> list[Account]:
    """``accounts.csv``; ``technolgy`` reads as ``technology``, empty ``subsidiary_of`` means
    independent."""
    def build(r: Row, name: str) -> Account:
        sector = blank(r.get("sector"))
        return Account(name=name, sector=SECTOR_FIXES.get(sector, sector) if sector else None,
                       parent=blank(r.get("subsidiary_of")))

    return _models(table, "account", build)
