"""An independent, plain-Python reading of README's "KPI definitions": every KPI of every
grouping, straight from a list of events and the reference data, without the engine.

Nothing here imports Attain. Tests hand it the very events they feed the engine (as JSON text or
dicts) and compare the engine's rows with these. The rules, as the README states them:

* Deal events are snapshots: an ``event_id`` seen before is a duplicate (ignored); of a deal's
  distinct events the highest ``version`` is its state; every other version is history.
* Lead and activity events are facts: each distinct ``event_id`` counts once.
* ``won_revenue`` Σ amount of won deals; ``won_deals``/``lost_deals``/``open_deals`` counts;
  ``win_rate`` won / (won + lost), half-even to 4 places, null without closed deals;
  ``avg_deal_size`` won_revenue / won_deals, half-even to cents, null without won deals;
  ``avg_cycle_days`` mean of closed_on − engaged_on over won deals with both dates, half-even to
  2 places; ``pipeline_value`` Σ over open deals of the amount, or of the product's list price
  when the amount is null and the catalogue knows a price (else nothing).
* Activity counts per kind and in total; lead counts per kind; ``avg_first_response_hours`` the
  mean of first_response_at − occurred_at in hours over leads that have it (naive times are
  UTC), half-even to 2 places.
* Groupings: ``rep`` the owner (a lead without owner: null), ``manager``/``region`` from the
  roster (null off the roster), ``product``, ``series`` from the catalogue, ``account``,
  ``sector`` from the account list, ``quarter`` of ``closed_on`` for deals (null when open) and
  of the UTC day of ``occurred_at`` for facts (a naive time is UTC); ``all``. A fact has no product.
* Rows are sorted by won revenue, then key, both descending (a null key sorts as "").

Rounding is done on exact fractions (:class:`fractions.Fraction`), so it cannot share a
rounding slip with the engine's ``Decimal`` arithmetic.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

GROUPINGS = ("all", "rep", "manager", "region", "product", "series", "sector", "account", "quarter")
DEAL_KPIS = ["won_revenue", "won_deals", "lost_deals", "open_deals", "win_rate", "avg_deal_size",
             "avg_cycle_days", "pipeline_value"]
ACTIVITY_KPI = {"call": "calls", "email": "emails", "meeting": "meetings", "demo": "demos"}
LEAD_KPI = {"created": "leads_created", "mql": "mqls", "sal": "sals", "sql": "sqls",
            "converted": "leads_converted", "disqualified": "leads_disqualified"}
FACT_KPIS = [*ACTIVITY_KPI.values(), "activities", *LEAD_KPI.values(), "avg_first_response_hours"]
KPIS = DEAL_KPIS + FACT_KPIS

Row = dict[str, Any]
#: an extra count metric over the latest deal snapshots (a plugin's KPI): deal -> counts or not
DealCount = Callable[[Mapping[str, Any]], bool]


@dataclass
class RefData:
    """Reference data: the roster, the account list and the product catalogue."""

    roster: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # rep -> (manager, region)
    sectors: dict[str, str | None] = field(default_factory=dict)  # account -> sector
    catalogue: dict[str, tuple[str | None, Decimal | None]] = field(default_factory=dict)  # -> (series, price)


def round_half_even(value: Fraction, places: int) -> Decimal:
    """``value`` rounded half-even to ``places`` decimals (Python's round() of a Fraction is
    half-even and exact)."""
    return Decimal(round(value * 10**places)).scaleb(-places)


def _decimal(v: Any) -> Decimal | None:
    if v is None:
        return None
    if isinstance(v, Decimal):
        return v
    if isinstance(v, float):  # a test must not hand floats in: they are not exact
        raise TypeError(f"float amount {v!r}: parse JSON with parse_float=Decimal")
    return Decimal(str(v))


def _date(v: Any) -> dt.date | None:
    if v is None or isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(str(v))


def _moment(v: str) -> dt.datetime:
    return dt.datetime.fromisoformat(v.replace("Z", "+00:00"))


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t


def _quarter(day: dt.date | None) -> str | None:
    return None if day is None else f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _events(events: Iterable[str | bytes | Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    out = []
    for e in events:
        out.append(json.loads(e, parse_float=Decimal) if isinstance(e, (str, bytes)) else e)
    return out


def latest_state(events: Iterable[str | bytes | Mapping[str, Any]], tenant: str = "default"
                 ) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(each deal's latest snapshot, every distinct lead and activity event) of ``tenant``."""
    seen: set[str] = set()
    deals: dict[str, Mapping[str, Any]] = {}
    facts: list[Mapping[str, Any]] = []
    for e in _events(events):
        if e.get("tenant", "default") != tenant or e["event_id"] in seen:
            continue
        seen.add(e["event_id"])
        kind = e.get("type", "deal")
        if kind == "deal":
            cur = deals.get(e["deal_id"])
            if cur is None or e["version"] > cur["version"]:
                deals[e["deal_id"]] = e
        elif kind in ("lead", "activity"):
            facts.append(e)
    return list(deals.values()), facts


@dataclass
class _Group:
    deals: list[Mapping[str, Any]] = field(default_factory=list)
    facts: list[Mapping[str, Any]] = field(default_factory=list)


def _key(grouping: str, ref: RefData, owner: str | None, product: str | None,
         account: str | None, quarter: str | None) -> str | None:
    if grouping == "all":
        return "all"
    if grouping == "rep":
        return owner or None
    if grouping == "manager":
        return ref.roster[owner][0] if owner in ref.roster else None
    if grouping == "region":
        return ref.roster[owner][1] if owner in ref.roster else None
    if grouping == "product":
        return product or None
    if grouping == "series":
        return ref.catalogue[product][0] if product in ref.catalogue else None
    if grouping == "sector":
        return ref.sectors[account] if account in ref.sectors else None
    if grouping == "account":
        return account or None
    if grouping == "quarter":
        return quarter
    raise AssertionError(grouping)


def _deal_row(deals: list[Mapping[str, Any]], ref: RefData) -> Row:
    won = [d for d in deals if d["status"] == "won"]
    lost = [d for d in deals if d["status"] == "lost"]
    open_ = [d for d in deals if d["status"] == "open"]
    revenue = sum((_decimal(d["amount"]) or Decimal(0) for d in won), Decimal(0))
    cycles = [(_date(d["closed_on"]) - _date(d["engaged_on"])).days  # type: ignore[operator]
              for d in won if d.get("engaged_on") and d.get("closed_on")]
    pipeline = Decimal(0)
    for d in open_:
        amount = _decimal(d.get("amount"))
        if amount is not None:
            pipeline += amount
        elif d.get("product") in ref.catalogue and ref.catalogue[d["product"]][1] is not None:
            pipeline += ref.catalogue[d["product"]][1]  # type: ignore[operator]
    closed = len(won) + len(lost)
    return {
        "won_revenue": revenue,
        "won_deals": Decimal(len(won)),
        "lost_deals": Decimal(len(lost)),
        "open_deals": Decimal(len(open_)),
        "win_rate": round_half_even(Fraction(len(won), closed), 4) if closed else None,
        "avg_deal_size": round_half_even(Fraction(revenue) / len(won), 2) if won else None,
        "avg_cycle_days": round_half_even(Fraction(sum(cycles), len(cycles)), 2) if cycles else None,
        "pipeline_value": pipeline,
    }


def _fact_row(facts: list[Mapping[str, Any]]) -> Row:
    row: Row = {name: Decimal(0) for name in [*ACTIVITY_KPI.values(), "activities", *LEAD_KPI.values()]}
    delays: list[Fraction] = []
    for f in facts:
        if f.get("type") == "activity":
            row[ACTIVITY_KPI[f["kind"]]] += 1
            row["activities"] += 1
        else:
            row[LEAD_KPI[f["kind"]]] += 1
            if f.get("first_response_at"):
                delay = _utc(_moment(f["first_response_at"])) - _utc(_moment(f["occurred_at"]))
                delays.append(Fraction(delay // dt.timedelta(microseconds=1), 10**6 * 3600))
    row["avg_first_response_hours"] = (round_half_even(sum(delays, Fraction(0)) / len(delays), 2)
                                       if delays else None)
    return row


def _rate(num: Fraction | int, den: Fraction | int) -> Decimal | None:
    return round_half_even(Fraction(num) / Fraction(den), 4) if den else None


def kpis_plugin_row(deals: list[Mapping[str, Any]], facts: list[Mapping[str, Any]]) -> Row:
    """The kpis plugin's figures (plugins/kpis, docs/kpis.md), from the definitions."""
    def total(items: Iterable[Mapping[str, Any]]) -> Fraction:
        return sum((Fraction(_decimal(x.get("amount")) or 0) for x in items), Fraction(0))

    won = [d for d in deals if d["status"] == "won"]
    sourced = [d for d in won if d.get("lead_source")]
    sourced_open = [d for d in deals if d["status"] == "open" and d.get("lead_source")]
    n: dict[tuple[str, str], int] = defaultdict(int)
    minutes: dict[str, int] = defaultdict(int)
    cost: dict[str, Fraction] = defaultdict(Fraction)
    amount: dict[str, Fraction] = defaultdict(Fraction)
    for f in facts:
        n[(f["type"], f["kind"] if "kind" in f else f.get("category", ""))] += 1
        if f["type"] == "activity":
            minutes[f["kind"]] += f.get("duration_minutes") or 0
        elif f["type"] == "cost":
            cost[f["category"]] += Fraction(_decimal(f["amount"]) or 0)
        elif f["type"] == "customer":
            amount[f["kind"]] += Fraction(_decimal(f.get("amount")) or 0)

    def lead(kind: str) -> int:
        return n[("lead", kind)]

    def hours(kind: str) -> Decimal:
        return round_half_even(Fraction(minutes[kind], 60), 2)

    ms = total(sourced)
    closed = len(won) + len([d for d in deals if d["status"] == "lost"])
    cycles = [(_date(d["closed_on"]) - _date(d["engaged_on"])).days  # type: ignore[operator]
              for d in won if d.get("engaged_on") and d.get("closed_on")]
    velocity = None
    if won and closed and cycles and sum(cycles):
        # open deals × win rate × average deal size ÷ average cycle days
        v = (len([d for d in deals if d["status"] == "open"]) * Fraction(len(won), closed)
             * (total(won) / len(won)) / Fraction(sum(cycles), len(cycles)))
        velocity = round_half_even(v, 2)
    return {
        "sales_velocity": velocity,
        "mql_to_sal_rate": _rate(lead("sal"), lead("mql")),
        "sal_to_sql_rate": _rate(lead("sql"), lead("sal")),
        "sql_to_converted_rate": _rate(lead("converted"), lead("sql")),
        "lead_disqualification_rate": _rate(lead("disqualified"), lead("converted") + lead("disqualified")),
        "marketing_sourced_revenue": round_half_even(ms, 6),
        "marketing_sourced_deals": Decimal(len(sourced)),
        "marketing_sourced_pipeline": round_half_even(total(sourced_open), 6),
        "marketing_sourced_share": _rate(ms, total(won)),
        "marketing_cost": round_half_even(cost["marketing"], 6),
        "sales_cost": round_half_even(cost["sales"], 6),
        "total_cost": round_half_even(sum(cost.values(), Fraction(0)), 6),
        "sales_and_marketing_cost": round_half_even(cost["sales"] + cost["marketing"], 6),
        "marketing_roi": _rate(ms, cost["marketing"]),
        "churned_customers": Decimal(n[("customer", "churned")]),
        "renewed_customers": Decimal(n[("customer", "renewed")]),
        "churned_revenue": round_half_even(amount["churned"], 6),
        "renewed_revenue": round_half_even(amount["renewed"], 6),
        "renewal_rate": _rate(n[("customer", "renewed")],
                              n[("customer", "renewed")] + n[("customer", "churned")]),
        "revenue_retention": _rate(amount["renewed"], amount["renewed"] + amount["churned"]),
        "coaching_hours": hours("coaching"), "training_hours": hours("training"),
        "call_review_hours": hours("call_review"),
        "coaching_sessions": Decimal(n[("activity", "coaching")]),
        "reps_hired": Decimal(n[("rep", "hired")]), "reps_left": Decimal(n[("rep", "left")]),
    }


def reference_kpis(events: Iterable[str | bytes | Mapping[str, Any]], ref: RefData,
                   tenant: str = "default", extra: Mapping[str, DealCount] | None = None,
                   kpis_plugin: bool = False) -> dict[str, list[Row]]:
    """Every grouping's rows ``{"key", <KPI>: Decimal | None, …}`` for ``tenant``, sorted as
    ``attain kpi`` sorts them. ``extra``: plugin KPIs that count latest deal snapshots;
    ``kpis_plugin``: with the kpis plugin's figures (:func:`kpis_plugin_row`)."""
    deals, facts = latest_state(events, tenant)
    out: dict[str, list[Row]] = {}
    for g in GROUPINGS:
        groups: dict[str | None, _Group] = defaultdict(_Group)
        for d in deals:
            key = _key(g, ref, d["owner"], d.get("product"), d.get("account"),
                       _quarter(_date(d.get("closed_on"))))
            groups[key].deals.append(d)
        for f in facts:
            key = _key(g, ref, f.get("owner"), None, f.get("account"),
                       _quarter(_utc(_moment(f["occurred_at"])).astimezone(dt.UTC).date()))
            groups[key].facts.append(f)
        rows = []
        for key, grp in groups.items():
            row: Row = {"key": key, **_deal_row(grp.deals, ref), **_fact_row(grp.facts)}
            for name, counts in (extra or {}).items():
                row[name] = Decimal(sum(1 for d in grp.deals if counts(d)))
            if kpis_plugin:
                row.update(kpis_plugin_row(grp.deals, grp.facts))
            rows.append(row)
        rows.sort(key=lambda r: (r["won_revenue"], r["key"] or ""), reverse=True)
        out[g] = rows
    return out


def big_deal(deal: Mapping[str, Any]) -> bool:
    """The example plugin's ``big_deal_count`` (examples/attain-example-kpi): won, amount ≥ 5000."""
    amount = _decimal(deal.get("amount"))
    return deal["status"] == "won" and amount is not None and amount >= 5000


# -- the bundled data set, read from its CSV files -----------------------------------------------

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "core" / "data" / "crm-sales-opportunities"
STATUS = {"Won": "won", "Lost": "lost", "Prospecting": "open", "Engaging": "open"}


def _csv(name: str) -> list[dict[str, str]]:
    with (BUNDLED_DIR / name).open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _squash(name: str) -> str:
    return "".join(name.split()).lower()


def bundled_ref() -> RefData:
    """The bundled roster, accounts (``technolgy`` read as ``technology``) and catalogue."""
    return RefData(
        roster={r["sales_agent"]: (r["manager"] or None, r["regional_office"] or None)
                for r in _csv("sales_teams.csv")},
        sectors={r["account"]: ("technology" if r["sector"] == "technolgy" else r["sector"] or None)
                 for r in _csv("accounts.csv")},
        catalogue={r["product"]: (r["series"] or None, Decimal(r["sales_price"]) if r["sales_price"] else None)
                   for r in _csv("products.csv")},
    )


def bundled_deals() -> list[dict[str, Any]]:
    """Every opportunity of sales_pipeline.csv as its current deal snapshot: status from the
    stage, amount = close value (none while open), ``GTXPro`` as the catalogue's ``GTX Pro``,
    an empty account as null."""
    spelled = {_squash(name): name for name in bundled_ref().catalogue}
    out = []
    for r in _csv("sales_pipeline.csv"):
        out.append({
            "type": "deal", "event_id": r["opportunity_id"], "deal_id": r["opportunity_id"],
            "version": 1, "owner": r["sales_agent"], "product": spelled[_squash(r["product"])],
            "account": r["account"] or None, "status": STATUS[r["deal_stage"]],
            "amount": Decimal(r["close_value"]) if r["close_value"] else None,
            "engaged_on": r["engage_date"] or None, "closed_on": r["close_date"] or None,
        })
    return out


def bundled_event_count() -> int:
    """How many deal events the crm-csv connector makes of the pipeline: one per stage a deal
    went through (Prospecting; Engaging if it has an engage date and went past Prospecting;
    Won or Lost if it closed)."""
    n = 0
    for r in _csv("sales_pipeline.csv"):
        n += 1 + (1 if r["engage_date"] and r["deal_stage"] != "Prospecting" else 0)
        n += 1 if r["deal_stage"] in ("Won", "Lost") else 0
    return n
