"""Salesforce records derived, deterministically, from a folder in the CRM Sales Opportunities
layout (the bundled data set or a subset of it), as an org holding that data would have them.

* ``User``: the managers, then the agents of sales_teams.csv; agents' ``ManagerId`` points at
  their manager, ``Division`` is the regional office (a manager's is their team's).
* ``Account``: accounts.csv; ``Industry`` is the sector, with the data set's ``technolgy``
  written ``technology``: Industry is a picklist, so a misspelt value cannot be in an org (this
  is also how crm-csv reads it); ``ParentId`` from ``subsidiary_of``.
* ``Product2``: products.csv, ``Family`` = series; the standard price book holds the list
  price, a second (custom) price book a different one, which must not be used.
* ``Opportunity``: one per pipeline row, with Salesforce's standard stage names (Prospecting,
  Needs Analysis, Closed Won, Closed Lost; status comes from IsClosed/IsWon). The pipeline's
  ``GTXPro`` is the catalogue's ``GTX Pro`` (one Product2 record, as in an org). Amount: the
  close value when won, 0 when lost, null when open. CreatedDate is the engage date (the
  Prospecting deals, which have none, were created on the data set's last day); open deals carry
  an expected CloseDate, which is no close. ``SystemModstamp``: close day 17:00 for closed deals,
  engage day 10:00 for Engaging ones, last day 09:00 for Prospecting ones: many deals share one
  timestamp (deliberate ties: page boundaries fall inside runs of them).
* ``OpportunityHistory``: a row per stage the deal went through, as crm-csv builds its
  snapshots (Prospecting → Needs Analysis → Closed Won/Lost).
* ``OpportunityLineItem``: one per opportunity; every 40th also has a cheaper second item of
  another product and every 97th a second item of another product at the same price but a
  later Id: the connector must pick the main one (highest TotalPrice, then lowest Id).

``synthetic=True`` adds SYNTHETIC leads, tasks and events (the data set has none), to test the
mapping of lead statuses, conversions and activity kinds.
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

STAGE = {"Prospecting": "Prospecting", "Engaging": "Needs Analysis", "Won": "Closed Won",
         "Lost": "Closed Lost"}
LEAD_SOURCES = ["Web", "Partner Referral", "Phone Inquiry", None]
TIE = "2016-09-01T08:00:00.000+0000"  # every user and account was last modified then


def sfid(prefix: str, n: int) -> str:
    return f"{prefix}{n:012d}AAA"


def stamp(day: str | dt.date, clock: str) -> str:
    return f"{day}T{clock}.000+0000"


def read(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / name).open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def squash(name: str) -> str:
    return "".join(name.split()).casefold()


def build(folder: Path, synthetic: bool = False) -> dict[str, list[dict[str, Any]]]:
    teams, accounts = read(folder, "sales_teams.csv"), read(folder, "accounts.csv")
    products, pipeline = read(folder, "products.csv"), read(folder, "sales_pipeline.csv")
    data: dict[str, list[dict[str, Any]]] = {k: [] for k in (
        "User", "Account", "Product2", "Pricebook2", "PricebookEntry", "OpportunityStage",
        "Opportunity", "OpportunityLineItem", "OpportunityHistory", "Lead", "Task", "Event")}

    # -- users --------------------------------------------------------------------------------
    user_id: dict[str, str] = {}
    region_of_manager = {}
    for t in teams:
        region_of_manager.setdefault(t["manager"], t["regional_office"])
    for name in sorted(region_of_manager):
        user_id[name] = sfid("005", len(user_id) + 1)
        data["User"].append({"Id": user_id[name], "Name": name, "ManagerId": None, "IsActive": True,
                             "Division": region_of_manager[name], "SystemModstamp": TIE})
    for t in teams:
        user_id[t["sales_agent"]] = sfid("005", len(user_id) + 1)
        data["User"].append({"Id": user_id[t["sales_agent"]], "Name": t["sales_agent"],
                             "ManagerId": user_id[t["manager"]], "IsActive": True,
                             "Division": t["regional_office"], "SystemModstamp": TIE})

    # -- accounts -----------------------------------------------------------------------------
    account_id = {a["account"]: sfid("001", i + 1) for i, a in enumerate(accounts)}
    for a in accounts:
        sector = a["sector"].strip()
        data["Account"].append({
            "Id": account_id[a["account"]], "Name": a["account"],
            "Industry": "technology" if sector == "technolgy" else sector or None,
            "ParentId": account_id.get(a["subsidiary_of"].strip()) if a["subsidiary_of"].strip() else None,
            "IsDeleted": False, "SystemModstamp": TIE})

    # -- products and price books -------------------------------------------------------------
    product_id: dict[str, str] = {}
    price: dict[str, Decimal] = {}
    data["Pricebook2"] += [
        {"Id": sfid("01s", 1), "Name": "Standard Price Book", "IsStandard": True, "IsActive": True,
         "SystemModstamp": TIE},
        {"Id": sfid("01s", 2), "Name": "Partner Price Book", "IsStandard": False, "IsActive": True,
         "SystemModstamp": TIE}]
    for i, p in enumerate(products):
        pid = sfid("01t", i + 1)
        product_id[squash(p["product"])] = pid
        price[pid] = Decimal(p["sales_price"])
        data["Product2"].append({"Id": pid, "Name": p["product"], "Family": p["series"] or None,
                                 "IsActive": True, "IsDeleted": False, "SystemModstamp": TIE})
        data["PricebookEntry"] += [
            {"Id": sfid("01u", 2 * i + 1), "Pricebook2Id": sfid("01s", 1), "Product2Id": pid,
             "UnitPrice": price[pid], "IsActive": True, "SystemModstamp": TIE},
            {"Id": sfid("01u", 2 * i + 2), "Pricebook2Id": sfid("01s", 2), "Product2Id": pid,
             "UnitPrice": price[pid] * 2, "IsActive": True, "SystemModstamp": TIE}]
    for i, (label, closed, won) in enumerate([
            ("Prospecting", False, False), ("Needs Analysis", False, False),
            ("Value Proposition", False, False), ("Closed Won", True, True),
            ("Closed Lost", True, False)]):
        data["OpportunityStage"].append({"Id": sfid("01J", i + 1), "MasterLabel": label,
                                         "ApiName": label, "IsClosed": closed, "IsWon": won,
                                         "SystemModstamp": TIE})

    # -- opportunities ------------------------------------------------------------------------
    dates = [r[c] for r in pipeline for c in ("engage_date", "close_date") if r[c].strip()]
    as_of = max(dates) if dates else "2017-12-31"
    expected_close = (dt.date.fromisoformat(as_of) + dt.timedelta(days=90)).isoformat()
    hist_n = item_n = 0
    pids = list(product_id.values())
    for n, r in enumerate(pipeline, start=1):
        oid = sfid("006", n)
        stage, engage, close = r["deal_stage"], r["engage_date"].strip(), r["close_date"].strip()
        pid = product_id.get(squash(r["product"])) if r["product"].strip() else None
        closed = stage in ("Won", "Lost")
        created = stamp(engage, "09:00:00") if engage else stamp(as_of, "09:00:00")
        amount = (Decimal(r["close_value"]) + Decimal("0.00")) if stage == "Won" else (
            Decimal("0.00") if stage == "Lost" else None)
        modstamp = stamp(close, "17:00:00") if closed else (
            stamp(engage, "10:00:00") if stage == "Engaging" else created)
        data["Opportunity"].append({
            "Id": oid, "OwnerId": user_id[r["sales_agent"]],
            "AccountId": account_id.get(r["account"].strip()) if r["account"].strip() else None,
            "StageName": STAGE[stage], "IsClosed": closed, "IsWon": stage == "Won", "Amount": amount,
            "CloseDate": close if closed else expected_close, "CreatedDate": created,
            "LeadSource": LEAD_SOURCES[n % len(LEAD_SOURCES)], "IsDeleted": False,
            "SystemModstamp": modstamp})
        steps = [("Prospecting", created, None)]
        if engage and stage != "Prospecting":
            steps.append(("Needs Analysis", stamp(engage, "10:00:00"), None))
        if closed:
            steps.append((STAGE[stage], modstamp, amount))
        for label, when, amt in steps:
            hist_n += 1
            data["OpportunityHistory"].append({
                "Id": sfid("008", hist_n), "OpportunityId": oid, "StageName": label, "Amount": amt,
                "CloseDate": close if closed else expected_close, "CreatedDate": when,
                "IsDeleted": False, "SystemModstamp": when})
        if pid is not None:
            total = amount if stage == "Won" else price[pid]
            items = [(pid, total)]
            other = next(p for p in pids if p != pid)
            if n % 40 == 0:
                items.append((other, Decimal("1.00")))
            if n % 97 == 0:
                items.append((other, total))
            for item_pid, item_total in items:
                item_n += 1
                data["OpportunityLineItem"].append({
                    "Id": sfid("00k", item_n), "OpportunityId": oid, "Product2Id": item_pid,
                    "TotalPrice": item_total, "IsDeleted": False, "SystemModstamp": modstamp})
    if synthetic:
        add_synthetic(data, [t["sales_agent"] for t in teams], user_id)
    return data


# -- SYNTHETIC leads and activities (the data set has none) -----------------------------------

LEAD_STATUSES = ["Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                 "Closed - Not Converted", "Nurture"]  # the last one is in no default mapping
TASK_TYPES = [("Call", "Call"), ("Email", "Email"), ("Meeting", "Task"), ("Other", "Task"),
              (None, "Email"), (None, "Task")]
EVENT_TYPES = ["Meeting", "Demo", None, "Other"]


def add_synthetic(data: dict[str, list[dict[str, Any]]], agents: list[str],
                  user_id: dict[str, str]) -> None:
    won = [o for o in data["Opportunity"] if o["IsWon"]]
    start = dt.date(2017, 1, 2)
    for i in range(36):
        created = start + dt.timedelta(days=9 * i)
        status = LEAD_STATUSES[i % len(LEAD_STATUSES)]
        converted = status == "Closed - Converted"
        data["Lead"].append({
            "Id": sfid("00Q", i + 1), "OwnerId": user_id[agents[i % len(agents)]], "Status": status,
            "LeadSource": ["Web", "Trade Show", "Partner Referral"][i % 3],
            "CreatedDate": stamp(created, "08:00:00"), "IsConverted": converted,
            "ConvertedOpportunityId": won[i]["Id"] if converted else None,
            "ConvertedDate": (created + dt.timedelta(days=5)).isoformat() if converted else None,
            "IsDeleted": False, "SystemModstamp": stamp(created + dt.timedelta(days=6), "12:00:00")})
    for i in range(45):
        day = start + dt.timedelta(days=7 * i)
        opp = won[(3 * i) % len(won)]
        typ, sub = TASK_TYPES[i % len(TASK_TYPES)]
        data["Task"].append({
            "Id": sfid("00T", i + 1), "OwnerId": opp["OwnerId"],
            "WhatId": opp["Id"] if i % 2 == 0 else opp["AccountId"], "AccountId": opp["AccountId"],
            "Type": typ, "TaskSubtype": sub, "ActivityDate": day.isoformat(),
            "CallDurationInSeconds": 300 + 15 * i if typ == "Call" else None,
            "CreatedDate": stamp(day, "07:00:00"), "IsDeleted": False,
            "SystemModstamp": stamp(day, "18:00:00")})
    for i in range(30):
        day = start + dt.timedelta(days=11 * i)
        opp = won[(5 * i + 1) % len(won)]
        data["Event"].append({
            "Id": sfid("00U", i + 1), "OwnerId": opp["OwnerId"], "WhatId": opp["Id"],
            "AccountId": opp["AccountId"], "Type": EVENT_TYPES[i % len(EVENT_TYPES)],
            "EventSubtype": "Event", "ActivityDate": day.isoformat(),
            "ActivityDateTime": stamp(day, "14:30:00"), "DurationInMinutes": 30 + i,
            "CreatedDate": stamp(day, "07:00:00"), "IsDeleted": False,
            "SystemModstamp": stamp(day, "18:00:00")})


def subset(src: Path, dst: Path, rows: int | None = None, keep: Any = None) -> Path:
    """A copy of the data set with only some pipeline rows (the first ``rows``, or those for which
    ``keep(index, row)`` is true); the reference files are copied whole."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("sales_teams.csv", "accounts.csv", "products.csv"):
        (dst / name).write_bytes((src / name).read_bytes())
    with (src / "sales_pipeline.csv").open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader)
        body = list(reader)
    chosen = [r for i, r in enumerate(body) if (rows is None or i < rows)
              and (keep is None or keep(i, dict(zip(header, r, strict=True))))]
    with (dst / "sales_pipeline.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(chosen)
    return dst
