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
* Roster agents without deals are still imported as reps.
* ``technolgy`` is read as ``technology``; an empty ``subsidiary_of`` means independent.
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from attain.core import hookimpl
from attain.core.connectors import Batch, ConnectorError
from attain.core.engine import Record
from attain.core.models import Account, Product, Rep

FILES = ("sales_pipeline.csv", "sales_teams.csv", "accounts.csv", "products.csv")
SECTOR_FIXES = {"technolgy": "technology"}
OPEN_STAGES = {"Prospecting", "Engaging"}


def _key(name: str) -> str:
    return "".join(name.split()).casefold()


def _blank(v: str | None) -> str | None:
    v = (v or "").strip()
    return v or None


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _decimal(v: str | None) -> Decimal | str | None:
    v = _blank(v)
    if v is None:
        return None
    try:
        return Decimal(v)
    except InvalidOperation:
        return v  # left for validation to reject with a clear reason


def deal_history(row: dict[str, str], products: dict[str, str], as_of: str, tenant: str,
                 ) -> list[dict[str, Any]]:
    """The snapshots one pipeline row went through: Prospecting → Engaging → Won/Lost."""
    opp = row.get("opportunity_id", "").strip()
    raw_product = _blank(row.get("product"))
    product = products.get(_key(raw_product), raw_product) if raw_product else None
    stage = (row.get("deal_stage") or "").strip()
    engaged = _blank(row.get("engage_date"))
    closed = _blank(row.get("close_date"))
    base: dict[str, Any] = {
        "type": "deal", "tenant": tenant, "deal_id": opp,
        "owner": (row.get("sales_agent") or "").strip(),
        "account": _blank(row.get("account")), "product": product,
    }
    out = [{**base, "event_id": f"crm-csv:{opp}:v1", "version": 1, "stage": "Prospecting",
            "status": "open", "occurred_at": engaged or as_of}]
    if engaged and stage != "Prospecting":
        out.append({**base, "event_id": f"crm-csv:{opp}:v2", "version": 2, "stage": "Engaging",
                    "status": "open", "engaged_on": engaged, "occurred_at": engaged})
    if stage not in OPEN_STAGES:
        status = {"Won": "won", "Lost": "lost"}.get(stage, stage.lower())
        out.append({**base, "event_id": f"crm-csv:{opp}:v3", "version": 3, "stage": stage,
                    "status": status, "engaged_on": engaged, "closed_on": closed,
                    "amount": _decimal(row.get("close_value")), "occurred_at": closed or as_of})
    return out


class CrmCsvConnector:
    name = "crm-csv"
    description = "CRM Sales Opportunities CSV export (sales_pipeline, sales_teams, accounts, products)"

    def read(self, source: str, tenant: str) -> Batch:
        root = Path(source)
        missing = [f for f in FILES if not (root / f).is_file()]
        if missing:
            raise ConnectorError(f"{root}: missing {', '.join(missing)} (CRM Sales Opportunities layout)")
        products = [
            Product(name=r["product"].strip(), series=_blank(r.get("series")),
                    list_price=Decimal(r["sales_price"]) if _blank(r.get("sales_price")) else None)
            for r in _rows(root / "products.csv")
        ]
        reps = [
            Rep(name=r["sales_agent"].strip(), manager=_blank(r.get("manager")),
                region=_blank(r.get("regional_office")))
            for r in _rows(root / "sales_teams.csv")
        ]
        accounts = []
        for r in _rows(root / "accounts.csv"):
            sector = _blank(r.get("sector"))
            accounts.append(Account(name=r["account"].strip(),
                                    sector=SECTOR_FIXES.get(sector, sector) if sector else None,
                                    parent=_blank(r.get("subsidiary_of"))))
        pipeline = _rows(root / "sales_pipeline.csv")
        dates = [d for r in pipeline for d in (_blank(r.get("close_date")), _blank(r.get("engage_date"))) if d]
        as_of = max(dates) if dates else dt.date.today().isoformat()
        by_key = {_key(p.name): p.name for p in products}
        name = (root / "sales_pipeline.csv").name

        def records() -> Any:
            for i, row in enumerate(pipeline, start=2):  # line 1 is the header
                for ev in deal_history(row, by_key, as_of, tenant):
                    yield Record(ev, name, i, numbered=True)

        total = sum(1 + (1 if _blank(r.get("engage_date")) and r.get("deal_stage") != "Prospecting" else 0)
                    + (0 if (r.get("deal_stage") or "").strip() in OPEN_STAGES else 1) for r in pipeline)
        return Batch(records=records(), reps=reps, accounts=accounts, products=products, total=total)


@hookimpl
def attain_register_connectors(register: Any) -> None:
    register(CrmCsvConnector())
