"""Pipeline rows → deal snapshots, all or nothing per row.

Every opportunity becomes the snapshots of the stages it went through (Prospecting → Engaging →
Won/Lost). A row's snapshots are validated here, with the public event model, before any is
handed on: if one of them is invalid, the row becomes ONE dead letter and none of its snapshots
count. Otherwise a won deal whose close value is ``abc`` would keep its open snapshots and count
as open pipeline.

A row whose snapshot the event model rejects is sent as that invalid snapshot (the latest one,
which carries every field of the row), so its dead letter has the model's reason, e.g.
``amount: Input should be a valid decimal`` for ``close_value = abc``. A row whose field count
does not match the header (a file cut mid-row), and rows that give one opportunity_id different
values, are rejected by the connector itself: a record with that reason
(``truncated row: expected 8 fields, got 5``, ``opportunity_id X is also on line 9 with other
values``) whose payload is the row as CSV text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from attain.core import Record
from attain.core.models import EVENT_ADAPTER
from pydantic import ValidationError

from .reader import Row, Table

PIPELINE_COLUMNS = ("opportunity_id", "sales_agent", "product", "account", "deal_stage",
                    "engage_date", "close_date", "close_value")
OPEN_STAGES = {"Prospecting", "Engaging"}
#: a row of this stage is an opportunity deleted in the CRM (as an export of its recycle bin
#: lists it): a ``deleted`` snapshot at version 4, newer than any stage, so the deal leaves every
#: KPI whatever was imported of it before; its close date and value are not read
DELETED_STAGE = "Deleted"


def csv_line(fields: Iterable[str]) -> str:
    """``fields`` as one CSV line (quoted where needed), as they stood in the file."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def key(name: str) -> str:
    """How product names are matched across files: ignoring spaces and case."""
    return "".join(name.split()).casefold()


def blank(v: str | None) -> str | None:
    v = (v or "").strip()
    return v or None


def _decimal(v: str | None) -> Decimal | str | None:
    v = blank(v)
    if v is None:
        return None
    try:
        d = Decimal(v)
    except InvalidOperation:
        return v  # left for validation to reject with a clear reason
    return d if d.is_finite() else v


def deal_history(row: Row | dict[str, str], products: dict[str, str], as_of: str, tenant: str,
                 ) -> list[dict[str, Any]]:
    """The snapshots one pipeline row went through: Prospecting → Engaging → Won/Lost (or, for
    a deleted opportunity, → a ``deleted`` snapshot at version 4)."""
    opp = (row.get("opportunity_id") or "").strip()
    raw_product = blank(row.get("product"))
    product = products.get(key(raw_product), raw_product) if raw_product else None
    stage = (row.get("deal_stage") or "").strip()
    engaged = blank(row.get("engage_date"))
    closed = blank(row.get("close_date"))
    base: dict[str, Any] = {
        "type": "deal", "tenant": tenant, "deal_id": opp,
        "owner": (row.get("sales_agent") or "").strip(),
        "account": blank(row.get("account")), "product": product,
    }
    out = [{**base, "event_id": f"crm-csv:{opp}:v1", "version": 1, "stage": "Prospecting",
            "status": "open", "occurred_at": engaged or as_of}]
    if engaged and stage != "Prospecting":
        out.append({**base, "event_id": f"crm-csv:{opp}:v2", "version": 2, "stage": "Engaging",
                    "status": "open", "engaged_on": engaged, "occurred_at": engaged})
    if stage == DELETED_STAGE:
        out.append({**base, "event_id": f"crm-csv:{opp}:deleted", "version": 4, "stage": stage,
                    "status": "deleted", "engaged_on": engaged, "occurred_at": closed or as_of})
    elif stage not in OPEN_STAGES:
        status = {"Won": "won", "Lost": "lost"}.get(stage, stage.lower())
        out.append({**base, "event_id": f"crm-csv:{opp}:v3", "version": 3, "stage": stage,
                    "status": status, "engaged_on": engaged, "closed_on": closed,
                    "amount": _decimal(row.get("close_value")), "occurred_at": closed or as_of})
    return out


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _valid_date(text: str | None) -> dt.date | None:
    """``YYYY-MM-DD`` as a date; anything else (``2017-13-45``, or ``0``, which the event model
    would read as a Unix time) is not a date of this file."""
    if not text or not _ISO_DAY.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _date_problem(row: Row) -> str | None:
    """A date the row's snapshots use that is not one (an open deal's close date is unused, as
    is a Prospecting deal's engage date)."""
    stage = (row.get("deal_stage") or "").strip()
    used = ([] if stage == "Prospecting" else ["engage_date"]) + (
        [] if stage in OPEN_STAGES or stage == DELETED_STAGE else ["close_date"])
    for column in used:
        text = blank(row.get(column))
        if text is not None and _valid_date(text) is None:
            return f"{column}: {text!r} is not a date (YYYY-MM-DD)"
    return None


def as_of_date(rows: Iterable[Row]) -> str:
    """The latest valid engage or close date of the file (today's date if it has none): when
    deals without a date of their own (Prospecting) are taken to be seen. Invalid dates do not
    count, so one ``2017-13-45`` cannot become every Prospecting deal's date."""
    dates = [d for r in rows for c in ("close_date", "engage_date")
             if (d := _valid_date(blank(r.get(c)))) is not None]
    return (max(dates) if dates else dt.date.today()).isoformat()


def _is_valid(event: dict[str, Any]) -> bool:
    try:
        EVENT_ADAPTER.validate_python(event)
    except ValidationError:
        return False
    return True


def row_records(table: Table, row: Row, products: dict[str, str], as_of: str, tenant: str,
                conflict: str | None = None) -> list[Record]:
    """Every snapshot of ``row`` as a record, or one record that the engine dead-letters (also
    when ``conflict`` says what else is wrong with the row)."""
    problem = table.field_count_problem(row) or conflict or _date_problem(row)
    if problem is not None:
        return [Record(csv_line(row.fields), table.name, row.line, numbered=True, reason=problem)]
    history = deal_history(row, products, as_of, tenant)
    invalid = [ev for ev in history if not _is_valid(ev)]
    if invalid:
        return [Record(invalid[-1], table.name, row.line, numbered=True)]
    return [Record(ev, table.name, row.line, numbered=True) for ev in history]


def conflicts(table: Table) -> dict[int, str]:
    """Rows whose opportunity_id is on another row with other values, by line: which one is
    right cannot be known, so none of them counts. (A repeated identical row is harmless: its
    snapshots are duplicates.)"""
    rows_of: dict[str, list[Row]] = {}
    for row in table.rows:
        opp = blank(row.get("opportunity_id"))
        if opp is not None:
            rows_of.setdefault(opp, []).append(row)
    out: dict[int, str] = {}
    for opp, rows in rows_of.items():
        if len({tuple(f.strip() for f in r.fields) for r in rows}) > 1:
            for r in rows:
                others = ", ".join(str(o.line) for o in rows if o is not r)
                out[r.line] = (f"opportunity_id {opp} is also on line{'s' if len(rows) > 2 else ''}"
                               f" {others} with other values")
    return out


def pipeline_records(table: Table, products: dict[str, str], tenant: str) -> list[Record]:
    """The records of every row of ``sales_pipeline.csv``, in file order."""
    as_of = as_of_date(r for r in table.rows if table.field_count_problem(r) is None)
    clash = conflicts(table)
    return [rec for row in table.rows
            for rec in row_records(table, row, products, as_of, tenant, clash.get(row.line))]
