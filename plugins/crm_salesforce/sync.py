"""One sync run: read every object from its high-water mark, map, send, move the mark.

Order: ``User`` → ``Account`` → ``Product2`` (with the standard price book) → ``Opportunity``
(with its line items and history) → ``Lead`` → ``Task`` → ``Event``. Reference objects come
first so a deal's rep, account and product are known when its events count.

Each page of an object is one unit of work: its events are sent and the object's mark moves to
the page's last ``SystemModstamp`` in one commit (see sinks.py). A run stopped anywhere (a kill,
the API quota) resumes from the marks: the next run re-reads from ``mark − lookback``, whose
records come back as the same events (duplicates), and nothing after the mark was skipped.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from attain.core import Record
from sqlalchemy.engine import Connection, Engine

from . import records as rec
from . import soql, state
from .client import QuotaExceeded, SalesforceClient
from .mapping import Mapping, MappingError
from .sinks import Sink

log = logging.getLogger("attain.salesforce")

INCREMENTAL = ("User", "Account", "Opportunity", "Lead", "Task", "Event")
OBJECTS = ("User", "Account", "Product2", "Opportunity", "Lead", "Task", "Event")

#: fields read from each object, when the org has them (Id and SystemModstamp are always read)
WANTED: dict[str, tuple[str, ...]] = {
    "User": ("Name", "ManagerId", "IsActive"),
    "Account": ("Name", "Industry", "ParentId", "IsDeleted"),
    "Opportunity": ("OwnerId", "AccountId", "StageName", "IsClosed", "IsWon", "Amount", "CloseDate",
                    "CreatedDate", "LeadSource", "CurrencyIsoCode", "IsDeleted"),
    "Lead": ("OwnerId", "Status", "LeadSource", "CreatedDate", "IsConverted",
             "ConvertedOpportunityId", "ConvertedDate", "IsDeleted"),
    "Task": ("OwnerId", "WhatId", "AccountId", "Type", "TaskSubtype", "ActivityDate",
             "CallDurationInSeconds", "CreatedDate", "IsDeleted"),
    "Event": ("OwnerId", "WhatId", "AccountId", "Type", "EventSubtype", "ActivityDate",
              "ActivityDateTime", "DurationInMinutes", "CreatedDate", "IsDeleted"),
}
#: relationship fields read along (``Owner.Name``) when the org has the lookup field
RELATED = {"ManagerId": "Manager.Name", "ParentId": "Parent.Name", "OwnerId": "Owner.Name",
           "AccountId": "Account.Name"}
REQUIRED = {"User": ("Name",), "Account": ("Name",),
            "Opportunity": ("OwnerId", "StageName", "IsClosed", "IsWon", "CloseDate"),
            "Lead": ("Status", "CreatedDate"), "Task": (), "Event": ()}

Progress = Callable[[str, int, int | None], None]  # object, records just read, total (if known)


@dataclass
class ObjectStats:
    read: int = 0
    events: int = 0
    skipped: int = 0
    pages: int = 0
    since: str | None = None  # where this run started reading ("" = the beginning)

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "events": self.events, "skipped": self.skipped,
                "pages": self.pages, "since": self.since}


@dataclass
class Summary:
    tenant: str
    mode: str
    objects: dict[str, ObjectStats] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    stopped: str | None = None

    def stats(self, sobject: str) -> ObjectStats:
        return self.objects.setdefault(sobject, ObjectStats())


class SalesforceSync:
    def __init__(self, client: SalesforceClient, mapping: Mapping, tenant: str, store: Engine,
                 sink: Sink, lookback: dt.timedelta, progress: Progress | None = None) -> None:
        self.client = client
        self.mapping = mapping
        self.tenant = tenant
        self.store = store  # the SQLAlchemy engine of the Attain store (sync state lives there)
        self.sink = sink
        self.lookback = lookback
        self.progress = progress or (lambda o, n, t: None)
        self.notes = rec.Notes()
        self.fields: dict[str, set[str]] = {}

    # -- the run -------------------------------------------------------------------------------

    def run(self, full: bool = False, since: dt.datetime | None = None) -> Summary:
        state.ensure_tables(self.store)
        marks = {} if full else state.marks(self.store, self.tenant)
        mode = "full" if full or not marks else "incremental"
        summary = Summary(self.tenant, "since" if since else mode)
        try:
            self._describe()
            for sobject in OBJECTS:
                start = since if since is not None else self._start(marks.get(sobject))
                stats = summary.stats(sobject)
                stats.since = "" if start is None or sobject == "Product2" else rec.iso(start)
                getattr(self, f"_sync_{sobject.lower()}")(start, stats)
        except QuotaExceeded as exc:
            summary.stopped = str(exc)
            log.info("salesforce sync stopped: %s", exc)  # the command reports it
        summary.warnings = [f"{n} {what}" for what, n in sorted(self.notes.counts.items())]
        return summary

    def _start(self, mark: dt.datetime | None) -> dt.datetime | None:
        return None if mark is None else mark - self.lookback

    def _describe(self) -> None:
        for sobject in WANTED:
            self.fields[sobject] = self.client.fields(sobject)
        m = self.mapping
        checks = [("amount_field", "Opportunity", m.amount_field),
                  ("engaged_field", "Opportunity", m.engaged_field),
                  ("region_field", "User", m.region_field)]
        checks += [(f"extra_fields.{o}", o, f) for o in ("Opportunity", "Lead", "Task", "Event")
                   for f in m.extra(o)]
        for key, sobject, f in checks:
            if f not in self.fields[sobject]:
                raise MappingError(f"mapping: {key}: {sobject} has no field {f!r} (as described by "
                                   "the org)")
        for sobject, needed in REQUIRED.items():
            missing = [f for f in needed if f not in self.fields[sobject]]
            if missing:
                raise MappingError(f"{sobject} has no field {', '.join(missing)} visible to this "
                                   "user (check its field-level security)")

    def _select(self, sobject: str, extra: Sequence[str] = ()) -> list[str]:
        have = self.fields[sobject]
        out = [f for f in WANTED[sobject] if f in have]
        out += [RELATED[f] for f in out if f in RELATED]
        return out + [f for f in extra if f not in out]

    def _pages(self, sobject: str, soql_text: str, stats: ObjectStats) -> Any:
        for page in self.client.pages(soql_text, sobject):
            stats.pages += 1
            stats.read += len(page.records)
            self.progress(sobject, len(page.records), page.total)
            if page.records:
                yield page.records

    def _mark_commit(self, sobject: str, records: Sequence[rec.Rec],
                     facts: Sequence[str] = ()) -> Callable[[Connection], None]:
        mark = max(rec.parse_time(str(r["SystemModstamp"])) for r in records)

        def commit(conn: Connection) -> None:
            state.save_mark(conn, self.tenant, sobject, mark)
            if facts:
                state.record_facts(conn, self.tenant, facts)
        return commit

    # -- reference objects ---------------------------------------------------------------------

    def _sync_user(self, start: dt.datetime | None, stats: ObjectStats) -> None:
        q = soql.incremental(self._select("User", [self.mapping.region_field]), "User", start)
        for page in self._pages("User", q, stats):
            reps = [rec.rep(u, self.mapping) for u in page if u.get("Name")]
            self.sink.dimensions(reps, [], [])
            stats.skipped += len(page) - len(reps)
            self.sink.state(self._mark_commit("User", page))

    def _sync_account(self, start: dt.datetime | None, stats: ObjectStats) -> None:
        q = soql.incremental(self._select("Account"), "Account", start)
        for page in self._pages("Account", q, stats):
            accounts = [rec.account(a) for a in page if a.get("Name") and not a.get("IsDeleted")]
            self.sink.dimensions([], accounts, [])
            stats.skipped += len(page) - len(accounts)
            self.sink.state(self._mark_commit("Account", page))

    def _sync_product2(self, start: dt.datetime | None, stats: ObjectStats) -> None:
        """The catalogue is small: read whole on every run, so a changed price always applies."""
        items = [r for page in self._pages("Product2", soql.select(
            ["Id", "Name", "Family", "IsActive", "IsDeleted"], "Product2", order_by=("Id ASC",)),
            stats) for r in page]
        entry_fields = ["Id", "Product2Id", "UnitPrice", "IsActive"]
        if "CurrencyIsoCode" in self.fields["Opportunity"]:
            entry_fields.append("CurrencyIsoCode")
        prices = [r for page in self.client.pages(soql.select(
            entry_fields, "PricebookEntry", ["Pricebook2.IsStandard = true", "IsActive = true"],
            order_by=("Id ASC",)), "PricebookEntry") for r in page.records]
        products = rec.products(items, prices, self.mapping.default_currency)
        stats.skipped += len(items) - len(products)
        self.sink.dimensions([], [], products)

    # -- deals ---------------------------------------------------------------------------------

    def _related(self, sobject: str, fields: Sequence[str], ids: Sequence[str],
                 order_by: Sequence[str]) -> dict[str, list[rec.Rec]]:
        out: dict[str, list[rec.Rec]] = {}
        for chunk in soql.chunks(ids):
            q = soql.select(fields, sobject, [soql.id_in("OpportunityId", chunk)], order_by=order_by)
            for page in self.client.pages(q, sobject):
                for r in page.records:
                    out.setdefault(str(r["OpportunityId"]), []).append(r)
        return out

    def _sync_opportunity(self, start: dt.datetime | None, stats: ObjectStats) -> None:
        stages = rec.StageInfo.from_records(r for page in self.client.pages(soql.select(
            ["MasterLabel", "ApiName", "IsClosed", "IsWon"], "OpportunityStage"), "OpportunityStage")
            for r in page.records)
        extra = [self.mapping.amount_field, self.mapping.engaged_field, *self.mapping.extra("Opportunity")]
        q = soql.incremental(self._select("Opportunity", extra), "Opportunity", start)
        has_currency = "CurrencyIsoCode" in self.fields["Opportunity"]
        for page in self._pages("Opportunity", q, stats):
            ids = [str(o["Id"]) for o in page]
            items = self._related("OpportunityLineItem", ["Id", "OpportunityId", "Product2Id",
                                  "Product2.Name", "TotalPrice", "IsDeleted"], ids, ("Id ASC",))
            history = self._related("OpportunityHistory", ["Id", "OpportunityId", "StageName", "Amount",
                                    "CloseDate", "CreatedDate", "IsDeleted"], ids,
                                    ("CreatedDate ASC", "Id ASC"))
            out: list[Record] = []
            for o in page:
                oid = str(o["Id"])
                for ev in rec.deal_events(o, items.get(oid, []), history.get(oid, []), stages,
                                          self.mapping, self.tenant, has_currency, self.notes):
                    out.append(Record(ev, f"salesforce:Opportunity/{oid}"))
            stats.events += len(out)
            self.sink.events(out, self._mark_commit("Opportunity", page))

    # -- facts ---------------------------------------------------------------------------------

    def _send_facts(self, sobject: str, page: Sequence[rec.Rec], events: list[dict[str, Any]],
                    stats: ObjectStats) -> None:
        sent = state.sent_facts(self.store, self.tenant, [e["event_id"] for e in events])
        new = [e for e in events if e["event_id"] not in sent]
        stats.events += len(new)
        stats.skipped += len(events) - len(new)
        recs = [Record(e, f"salesforce:{sobject}/{e.get('lead_id') or e.get('activity_id')}") for e in new]
        self.sink.events(recs, self._mark_commit(sobject, page, [e["event_id"] for e in new]))

    def _sync_lead(self, start: dt.datetime | None, stats: ObjectStats) -> None:
        q = soql.incremental(self._select("Lead", self.mapping.extra("Lead")), "Lead", start)
        for page in self._pages("Lead", q, stats):
            events = [ev for lead in page for ev in rec.lead_events(lead, self.mapping, self.tenant,
                                                                    self.notes)]
            self._send_facts("Lead", page, events, stats)

    def _sync_activities(self, sobject: str, start: dt.datetime | None, stats: ObjectStats) -> None:
        q = soql.incremental(self._select(sobject, self.mapping.extra(sobject)), sobject, start)
        for page in self._pages(sobject, q, stats):
            events = [ev for r in page
                      if (ev := rec.activity_event(r, sobject, self.mapping, self.tenant, self.notes))]
            self._send_facts(sobject, page, events, stats)

    def _sync_task(self, start: dt.datetime | None, stats: ObjectStats) -> None:
        self._sync_activities("Task", start, stats)

    def _sync_event(self, start: dt.datetime | None, stats: ObjectStats) -> None:
        self._sync_activities("Event", start, stats)
