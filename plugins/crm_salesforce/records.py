"""Salesforce records → Attain events and dimensions (pure functions, no I/O).

Ids and versions come from the source, so reading a record again gives the same event:

* an Opportunity as of ``SystemModstamp`` S (epoch milliseconds) is the deal snapshot
  ``sf:<Id>:<S>`` with version ``2·S + 1``;
* an OpportunityHistory row created at C is the deal's earlier version ``2·C`` (so the
  opportunity saved in the same instant as its history row is the newer of the two), id
  ``sf:<HistoryId>:<digest>``: the row holds no owner, account or product, which are the
  opportunity's, and the digest of the event's content makes a re-read that finds them changed
  a new (stale, harmless) event instead of a conflicting one;
* lead and activity events are facts: ``sf:<LeadId>:created`` / ``:<kind>`` / ``:converted`` and
  ``sf:<TaskId>``; the sync sends each one once (see state.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from attain.core.models import Account, Product, Rep

from .mapping import Mapping

Rec = AnyMapping[str, Any]
OPPORTUNITY_PREFIX = "006"  # the key prefix of Opportunity ids (WhatId may point elsewhere)

_SF_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def parse_time(text: str) -> dt.datetime:
    """``2017-03-01T17:00:00.000+0000`` → an aware UTC datetime."""
    m = _SF_TIME.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not a Salesforce dateTime: {text!r}")
    day, clock, frac, zone = m.groups()
    zone = "+00:00" if zone in (None, "Z") else (zone if ":" in zone else f"{zone[:3]}:{zone[3:]}")
    frac = (frac or ".0")[:7]
    return dt.datetime.fromisoformat(f"{day}T{clock}{frac}{zone}").astimezone(dt.UTC)


def epoch_ms(t: dt.datetime) -> int:
    return (int(t.timestamp()) * 1000) + t.microsecond // 1000


def iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def date_of(value: Any) -> dt.date | None:
    """A Salesforce date (``2017-03-01``) or dateTime, as a date (UTC)."""
    if not value:
        return None
    text = str(value)
    return dt.date.fromisoformat(text) if len(text) == 10 else parse_time(text).date()


def related(rec: Rec, relationship: str, field_: str = "Name") -> Any:
    """``rec.Owner.Name``: the field of a relationship (None when the lookup is empty)."""
    sub = rec.get(relationship)
    return sub.get(field_) if isinstance(sub, AnyMapping) else None


def attribute_value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return format(v, "f")  # exact text: attributes carry no decimal numbers
    if isinstance(v, float):
        return repr(v)
    if v is None or isinstance(v, (bool, int, str)):
        return v
    return json.dumps(v, default=str, sort_keys=True)


def attributes(rec: Rec, fields: Iterable[str]) -> dict[str, Any] | None:
    out = {f: attribute_value(rec.get(f)) for f in fields}
    return out or None


def _digest(event: dict[str, Any]) -> str:
    text = json.dumps({k: v for k, v in event.items() if k != "event_id"}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# -- deals ------------------------------------------------------------------------------------


@dataclass
class StageInfo:
    """OpportunityStage metadata: which stage names are closed, and won."""

    status: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: Iterable[Rec]) -> StageInfo:
        out: dict[str, str] = {}
        for r in records:
            st = "open" if not r.get("IsClosed") else ("won" if r.get("IsWon") else "lost")
            for key in ("ApiName", "MasterLabel"):
                if r.get(key):
                    out[str(r[key])] = st
        return cls(out)


@dataclass
class Notes:
    """What the mapping noticed that the user should know (summed into warnings)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


def opportunity_status(opp: Rec) -> str:
    if opp.get("IsDeleted"):
        return "deleted"
    if not opp.get("IsClosed"):
        return "open"
    return "won" if opp.get("IsWon") else "lost"


def main_line_item(items: Iterable[Rec]) -> Rec | None:
    """The line item whose product is the deal's: the highest TotalPrice, then the lowest Id."""
    best: Rec | None = None
    for it in items:
        if it.get("IsDeleted"):
            continue
        price = it.get("TotalPrice")
        key = (Decimal(str(price)) if price is not None else Decimal(-1), str(it.get("Id", "")))
        if best is None:
            best = it
            continue
        bprice = best.get("TotalPrice")
        bkey = (Decimal(str(bprice)) if bprice is not None else Decimal(-1), str(best.get("Id", "")))
        if key[0] > bkey[0] or (key[0] == bkey[0] and key[1] < bkey[1]):
            best = it
    return best


def _money(v: Any) -> Decimal | None:
    if v is None:
        return None
    return v if isinstance(v, Decimal) else Decimal(str(v))


def deal_events(opp: Rec, line_items: Iterable[Rec], history: Iterable[Rec], stages: StageInfo,
                mapping: Mapping, tenant: str, has_currency: bool, notes: Notes) -> list[dict[str, Any]]:
    """The opportunity's history rows (oldest first) and its own snapshot, as deal events."""
    opp_id = str(opp["Id"])
    stamp = parse_time(str(opp["SystemModstamp"]))
    status = opportunity_status(opp)
    item = main_line_item(line_items)
    product = related(item, "Product2") if item is not None else None
    currency = str(opp.get("CurrencyIsoCode") or mapping.default_currency) if has_currency \
        else mapping.default_currency
    engaged = date_of(opp.get(mapping.engaged_field))
    base: dict[str, Any] = {
        "type": "deal", "tenant": tenant, "deal_id": opp_id,
        "owner": related(opp, "Owner") or opp.get("OwnerId"),
        "account": related(opp, "Account"), "product": product, "currency": currency,
    }
    extra = attributes(opp, mapping.extra("Opportunity"))
    # LeadSource is read (it is in the query) but the deal model has no lead_source field yet;
    # once it has, this is the one line to add: base["lead_source"] = opp.get("LeadSource").
    amount = _money(opp.get(mapping.amount_field))
    closed = date_of(opp.get("CloseDate")) if status in ("won", "lost") else None
    if closed is not None and engaged is not None and closed < engaged:
        notes.add("opportunities closed before their engaged date (cycle time left unknown)")
        engaged = None
    out: list[dict[str, Any]] = []
    if status != "deleted":
        out.extend(_history_events(opp, history, base, stages, mapping, status, amount, engaged, notes))
    ms = epoch_ms(stamp)
    snap = {**base, "event_id": f"sf:{opp_id}:{ms}", "version": 2 * ms + 1, "occurred_at": iso(stamp),
            "stage": mapping.stage_label(str(opp.get("StageName") or "")) or "(none)",
            "status": status, "amount": amount, "engaged_on": engaged, "closed_on": closed}
    if status == "lost" and amount is None:
        snap["amount"] = Decimal(0)  # nothing was won; the value at stake is unknown
    if extra:
        snap["attributes"] = extra
    out.append(snap)
    return out


def _history_events(opp: Rec, history: Iterable[Rec], base: dict[str, Any], stages: StageInfo,
                    mapping: Mapping, opp_status: str, opp_amount: Decimal | None,
                    engaged: dt.date | None, notes: Notes) -> list[dict[str, Any]]:
    # Rows created in the same instant are one version: the last of them (by Id) is kept.
    by_time: dict[int, Rec] = {}
    for h in history:
        if h.get("IsDeleted") or not h.get("CreatedDate"):
            continue
        ms = epoch_ms(parse_time(str(h["CreatedDate"])))
        if ms not in by_time or str(h.get("Id", "")) > str(by_time[ms].get("Id", "")):
            by_time[ms] = h
    out = []
    for ms in sorted(by_time):
        h = by_time[ms]
        stage = str(h.get("StageName") or "")
        rule = mapping.stages.get(stage)
        status = (rule.status if rule is not None and rule.status else None) or stages.status.get(stage)
        if status is None:
            if stage == opp.get("StageName"):
                status = opp_status
            else:
                notes.add("history rows of a stage OpportunityStage does not list (taken as open; "
                          "map it under stages: in the mapping file)")
                status = "open"
        amount = _money(h.get("Amount"))
        if status in ("won", "lost") and amount is None:
            amount = opp_amount if status == opp_status and opp_amount is not None else Decimal(0)
        closed = date_of(h.get("CloseDate")) if status in ("won", "lost") else None
        ev = {**base, "version": 2 * ms, "occurred_at": iso(parse_time(str(h["CreatedDate"]))),
              "stage": mapping.stage_label(stage) or "(none)", "status": status, "amount": amount,
              "engaged_on": engaged if closed is None or engaged is None or closed >= engaged else None,
              "closed_on": closed}
        ev["event_id"] = f"sf:{h['Id']}:{_digest(ev)}"
        out.append(ev)
    return out


# -- leads and activities (facts) ---------------------------------------------------------------


def lead_events(lead: Rec, mapping: Mapping, tenant: str, notes: Notes) -> list[dict[str, Any]]:
    """``created``, the kind of its current Status (if mapped) and ``converted``."""
    lead_id = str(lead["Id"])
    if lead.get("IsDeleted"):
        notes.add("deleted leads (facts already counted stay counted)")
        return []
    base: dict[str, Any] = {"type": "lead", "tenant": tenant, "lead_id": lead_id,
                            "owner": related(lead, "Owner") or lead.get("OwnerId"),
                            "source": lead.get("LeadSource")}
    extra = attributes(lead, mapping.extra("Lead"))
    if extra:
        base["attributes"] = extra
    created = parse_time(str(lead.get("CreatedDate") or lead["SystemModstamp"]))
    out = [{**base, "event_id": f"sf:{lead_id}:created", "kind": "created", "occurred_at": iso(created)}]
    status = str(lead.get("Status") or "")
    if status not in mapping.lead_statuses:
        notes.add("leads with a Status the mapping does not list (no status event; add it under "
                  "lead_statuses:)")
    kind = mapping.lead_statuses.get(status)
    if kind is not None:
        seen = max(parse_time(str(lead["SystemModstamp"])), created)
        out.append({**base, "event_id": f"sf:{lead_id}:{kind}", "kind": kind, "occurred_at": iso(seen)})
    if lead.get("IsConverted"):
        day = date_of(lead.get("ConvertedDate"))
        when = dt.datetime.combine(day, dt.time(), dt.UTC) if day else parse_time(str(lead["SystemModstamp"]))
        out.append({**base, "event_id": f"sf:{lead_id}:converted", "kind": "converted",
                    "occurred_at": iso(max(when, created)), "deal_id": lead.get("ConvertedOpportunityId")})
    return out


def activity_event(rec: Rec, sobject: str, mapping: Mapping, tenant: str,
                   notes: Notes) -> dict[str, Any] | None:
    """A Task or Event as an activity; None when its type maps to no kind (or it is deleted)."""
    if rec.get("IsDeleted"):
        notes.add(f"deleted {sobject}s (facts already counted stay counted)")
        return None
    subtype = rec.get("TaskSubtype" if sobject == "Task" else "EventSubtype")
    kind = None
    for value in (rec.get("Type"), subtype):
        if value and value in mapping.activity_types:
            kind = mapping.activity_types[str(value)]
            if kind is not None:
                break
    if kind is None and sobject == "Event":
        kind = mapping.event_kind
    if kind is None:
        notes.add(f"{sobject}s whose Type maps to no activity kind (skipped)")
        return None
    if sobject == "Event" and rec.get("ActivityDateTime"):
        when = parse_time(str(rec["ActivityDateTime"]))
    elif rec.get("ActivityDate"):
        when = dt.datetime.combine(dt.date.fromisoformat(str(rec["ActivityDate"])), dt.time(), dt.UTC)
    else:
        when = parse_time(str(rec.get("CreatedDate") or rec["SystemModstamp"]))
    if sobject == "Event":
        minutes = rec.get("DurationInMinutes")
    else:
        seconds = rec.get("CallDurationInSeconds")
        minutes = None if seconds is None else (int(seconds) + 30) // 60
    what = str(rec.get("WhatId") or "")
    ev: dict[str, Any] = {
        "type": "activity", "tenant": tenant, "event_id": f"sf:{rec['Id']}", "activity_id": str(rec["Id"]),
        "kind": kind, "owner": related(rec, "Owner") or rec.get("OwnerId"), "occurred_at": iso(when),
        "deal_id": what if what.startswith(OPPORTUNITY_PREFIX) else None,
        "account": related(rec, "Account"),
        "duration_minutes": None if minutes is None else int(minutes),
    }
    extra = attributes(rec, mapping.extra(sobject))
    if extra:
        ev["attributes"] = extra
    return ev


# -- dimensions -------------------------------------------------------------------------------


def rep(user: Rec, mapping: Mapping) -> Rep:
    region = user.get(mapping.region_field)
    return Rep(name=str(user["Name"]), manager=related(user, "Manager"),
               region=str(region) if region else None)


def account(rec: Rec) -> Account:
    return Account(name=str(rec["Name"]), sector=rec.get("Industry") or None,
                   parent=related(rec, "Parent"))


def products(items: Iterable[Rec], prices: Iterable[Rec], currency: str) -> list[Product]:
    """Product2 rows with their standard price book's price (in ``currency`` when the org has
    several; else the entry with the lowest Id)."""
    price: dict[str, tuple[int, str, Decimal]] = {}
    for e in prices:
        pid, value = e.get("Product2Id"), e.get("UnitPrice")
        if not pid or value is None:
            continue
        rank = (0 if e.get("CurrencyIsoCode", currency) == currency else 1, str(e.get("Id", "")))
        old = price.get(str(pid))
        if old is None or rank < old[:2]:
            price[str(pid)] = (*rank, _money(value) or Decimal(0))
    out = []
    for p in items:
        if p.get("IsDeleted") or not p.get("Name"):
            continue
        hit = price.get(str(p["Id"]))
        out.append(Product(name=str(p["Name"]), series=p.get("Family") or None,
                           list_price=hit[2] if hit else None))
    return out
