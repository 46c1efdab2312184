"""Synthetic data for ``attain demo --full`` (the ``kpis-demo`` connector): a lead funnel with
sources and response times, activities including coaching and training, monthly marketing and
sales costs, renewals and churn, and rep start dates, for the reps, accounts and opportunities
of the bundled "CRM Sales Opportunities" data set.

Everything here is SYNTHETIC: generated with a fixed seed (the same events every time), shaped
to be consistent with the bundled deals (a converted lead's ``deal_id`` is a real opportunity
and it converted before the deal was engaged; renewals follow won deals; reps start before their
first deal), not taken from any real company.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from attain.core import Batch, ConnectorError, Record

SEED = 15
SOURCES = ("webinar", "paid search", "trade show", "referral", "content")
MARKETING_SHARE = 0.35  # of the converted leads (the mature benchmark is about 30 % of revenue)
REASONS = ("no budget", "competitor", "bad timing", "no authority", "not a fit")
START, END = dt.date(2016, 10, 1), dt.date(2017, 12, 31)


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    except OSError as exc:
        raise ConnectorError(f"{path}: cannot read it ({type(exc).__name__})") from None


def _at(day: dt.date, rng: random.Random) -> str:
    return f"{day.isoformat()}T{rng.randrange(8, 18):02d}:{rng.randrange(60):02d}:00Z"


def _months() -> Iterator[dt.date]:
    d = START
    while d <= END:
        yield d
        d = dt.date(d.year + d.month // 12, d.month % 12 + 1, 1)


class _Gen:
    """One generation run: the random generator, the bundled rows and the events so far."""

    def __init__(self, root: Path, seed: int) -> None:
        self.rng = random.Random(seed)
        #: which converted leads came from marketing (its own generator, so the other events
        #: are those of a run without it)
        self.sourcing = random.Random(seed + 1)
        self.pipeline = _rows(root / "sales_pipeline.csv")
        self.managers = {r["sales_agent"]: r["manager"] for r in _rows(root / "sales_teams.csv")}
        self.out: list[dict[str, Any]] = []

    def ev(self, event_type: str, key: str, **fields: Any) -> None:
        self.out.append({"type": event_type, "event_id": f"demo:{event_type}:{key}", **fields})

    def engaged(self) -> Iterator[tuple[dict[str, str], dt.date]]:
        for row in self.pipeline:
            if row.get("engage_date"):
                yield row, dt.date.fromisoformat(row["engage_date"])

    def reps(self) -> None:
        """Hired 3 to 30 months before their first deal; two leave at the end of 2017."""
        rng = self.rng
        first: dict[str, dt.date] = {}
        for row, day in self.engaged():
            first[row["sales_agent"]] = min(day, first.get(row["sales_agent"], day))
        leavers = set(rng.sample(sorted(self.managers), 2))
        for rep in sorted(self.managers):
            hired = first.get(rep, START) - dt.timedelta(days=rng.randrange(90, 900))
            self.ev("rep", f"{rep}:hired", rep=rep, kind="hired", occurred_at=f"{hired}T00:00:00Z",
                    role="account executive", manager=self.managers[rep])
            if rep in leavers:
                self.ev("rep", f"{rep}:left", rep=rep, kind="left", occurred_at="2017-12-31T00:00:00Z")

    def converted_leads(self) -> None:
        """Every engaged opportunity came from a lead that converted into it; about a third of
        those leads came from marketing (a source), the others from outbound selling (none)."""
        rng = self.rng
        for row, engaged in self.engaged():
            lead, owner, source = f"L-{row['opportunity_id']}", row["sales_agent"], rng.choice(SOURCES)
            sourced = self.sourcing.random() < MARKETING_SHARE
            created = engaged - dt.timedelta(days=rng.randrange(10, 45))
            steps = [("created", created), ("mql", created + dt.timedelta(days=rng.randrange(1, 4))),
                     ("sal", created + dt.timedelta(days=rng.randrange(4, 7))),
                     ("sql", created + dt.timedelta(days=rng.randrange(7, 10))), ("converted", engaged)]
            for kind, day in steps:
                at = _at(day, rng)
                extra: dict[str, Any] = {"deal_id": row["opportunity_id"]} if kind == "converted" else {}
                if kind == "created":  # answered within minutes to two days
                    t = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
                    extra["first_response_at"] = (t + dt.timedelta(minutes=rng.randrange(5, 2880))).isoformat()
                if sourced:
                    extra["source"] = source
                self.ev("lead", f"{lead}:{kind}", lead_id=lead, kind=kind, owner=owner,
                        occurred_at=at, **extra)

    def lost_leads(self) -> None:
        """Leads that never converted: disqualified with a reason."""
        rng = self.rng
        for i in range(len(self.pipeline) // 2):
            lead, owner = f"L-X{i}", rng.choice(sorted(self.managers))
            created = START + dt.timedelta(days=rng.randrange((END - START).days - 20))
            kinds = ["created", "mql"] + (["sal"] if rng.random() < 0.5 else [])
            for j, kind in enumerate([*kinds, "disqualified"]):
                extra = {"reason": rng.choice(REASONS)} if kind == "disqualified" else {}
                self.ev("lead", f"{lead}:{kind}", lead_id=lead, kind=kind, owner=owner,
                        source=rng.choice(SOURCES),
                        occurred_at=_at(created + dt.timedelta(days=3 * j), rng), **extra)

    def deal_activities(self) -> None:
        rng = self.rng
        for row, engaged in self.engaged():
            opp = row["opportunity_id"]
            for k in range(rng.randrange(1, 5)):
                self.ev("activity", f"{opp}:{k}", activity_id=f"A-{opp}-{k}",
                        kind=rng.choice(("call", "email", "meeting", "demo")), owner=row["sales_agent"],
                        deal_id=opp, account=row.get("account") or None,
                        duration_minutes=rng.randrange(5, 60),
                        occurred_at=_at(engaged + dt.timedelta(days=rng.randrange(0, 20)), rng))

    def monthly(self) -> None:
        """Coaching, training and call reviews with the rep's manager; marketing costs per
        source (the leads' campaigns) and sales costs, every month."""
        rng = self.rng
        enablement = (("coaching", (30, 120)), ("training", (60, 240)), ("call_review", (15, 60)))
        for month in _months():
            for rep in sorted(self.managers):
                for kind, minutes in enablement:
                    if rng.random() < 0.7:
                        day = month + dt.timedelta(days=rng.randrange(0, 27))
                        self.ev("activity", f"{rep}:{kind}:{month:%Y-%m}",
                                activity_id=f"{kind}-{rep}-{month:%Y-%m}", kind=kind, owner=rep,
                                coach=self.managers[rep], duration_minutes=rng.randrange(*minutes),
                                occurred_at=_at(day, rng))
            for source in SOURCES:
                self.ev("cost", f"marketing:{source}:{month:%Y-%m}", cost_id=f"M-{source}-{month:%Y-%m}",
                        category="marketing", channel=source, campaign=source,
                        amount=f"{rng.randrange(4000, 20000)}.00", period=f"{month:%Y-%m}")
            self.ev("cost", f"sales:{month:%Y-%m}", cost_id=f"S-{month:%Y-%m}", category="sales",
                    amount=f"{rng.randrange(150000, 250000)}.00", period=f"{month:%Y-%m}")

    def customers(self) -> None:
        """An account renews (or churns, 15 %) 4 to 11 months after its first won deal."""
        first_won: dict[str, tuple[dt.date, str]] = {}
        for row in self.pipeline:
            if row.get("deal_stage") == "Won" and row.get("account") and row.get("close_date"):
                day = dt.date.fromisoformat(row["close_date"])
                if row["account"] not in first_won or day < first_won[row["account"]][0]:
                    first_won[row["account"]] = (day, row["close_value"])
        for account, (day, value) in sorted(first_won.items()):
            due = day + dt.timedelta(days=self.rng.randrange(120, 330))
            if due <= END:
                kind = "churned" if self.rng.random() < 0.15 else "renewed"
                self.ev("customer", f"{account}:{kind}", account=account, kind=kind,
                        amount=f"{value}.00" if value.isdigit() else None,
                        occurred_at=_at(due, self.rng))


def generate(root: Path, seed: int = SEED) -> list[dict[str, Any]]:
    """Every synthetic event (deterministic for ``seed``)."""
    g = _Gen(root, seed)
    g.reps()
    g.converted_leads()
    g.lost_leads()
    g.deal_activities()
    g.monthly()
    g.customers()
    return g.out


class KpisDemoConnector:
    name = "kpis-demo"
    description = "SYNTHETIC leads, activities, costs, renewals and rep start dates for the bundled data"

    def read(self, source: str, tenant: str) -> Batch:
        events = generate(Path(source))
        records = [Record(e, source=f"kpis-demo:{i}", line=i) for i, e in enumerate(events, start=1)]
        return Batch(records=records, total=len(records))


__all__ = ["KpisDemoConnector", "generate"]
