"""A hand-built "full" tenant: a roster, deals with stage history and lead sources, the lead
funnel MQL → SAL → SQL → converted, activities by most reps, goals (one on a funnel KPI) and a
commission plan that pays on a funnel KPI, with the figures the assessment must find computed
here in plain Python from the same lists (not by the plugin)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from attain.core import Engine, Record, Rep

REPS = ["Ann", "Bob", "Cid", "Dee", "Eve", "Fay"]
N_DEALS = 24
N_LEADS = 12
#: the newest event's day: the assessment's default as-of day
LAST_DAY = "2017-06-30"
MARKETING_SOURCES = {"web"}  # "outbound" is a sales source


@dataclass
class Seed:
    events: list[dict[str, Any]] = field(default_factory=list)
    deals: dict[str, dict[str, Any]] = field(default_factory=dict)  # deal id -> final state
    leads: dict[str, set[str]] = field(default_factory=dict)        # lead id -> kinds
    converted: dict[str, str] = field(default_factory=dict)         # lead id -> deal id
    active_reps: set[str] = field(default_factory=set)              # activities in the window

    def add(self, event: dict[str, Any]) -> None:
        event.setdefault("event_id", f"s{len(self.events) + 1}")
        self.events.append(event)


def build() -> Seed:
    s = Seed()
    for i in range(1, N_DEALS + 1):
        deal_id, owner = f"D{i:02d}", REPS[(i - 1) % len(REPS)]
        status = "lost" if i % 3 == 0 else "won"
        amount = str(1000 + 100 * i)
        attrs = None if i % 4 == 0 else {"lead_source": "web" if i % 2 else "outbound"}
        base = {"type": "deal", "deal_id": deal_id, "owner": owner, "account": f"Acc{i % 7}",
                "product": "GTX", "attributes": attrs}
        s.add({**base, "version": 1, "stage": "Prospecting", "status": "open",
               "occurred_at": "2017-02-01T10:00:00Z"})
        s.add({**base, "version": 2, "stage": "Qualified", "status": "open", "amount": amount,
               "occurred_at": "2017-03-01T10:00:00Z"})
        s.add({**base, "version": 3, "stage": "Won" if status == "won" else "Lost", "status": status,
               "amount": amount, "closed_on": LAST_DAY, "occurred_at": f"{LAST_DAY}T10:00:00Z"})
        s.deals[deal_id] = {"owner": owner, "status": status, "amount": Decimal(amount),
                            "source": (attrs or {}).get("lead_source")}
    # leads: 12 created, 10 MQL, 8 SAL, 6 SQL, 4 converted into D04, D08, D12, D16 (no source
    # attribute on those deals: the converted lead's source is theirs)
    for i in range(1, N_LEADS + 1):
        lead_id = f"L{i:02d}"
        kinds = ["created"] + (["mql"] if i <= 10 else []) + (["sal"] if i <= 8 else []) \
            + (["sql"] if i <= 6 else []) + (["converted"] if i <= 4 else [])
        s.leads[lead_id] = set(kinds)
        for k, kind in enumerate(kinds):
            ev = {"type": "lead", "lead_id": lead_id, "kind": kind, "source": "webinar",
                  "owner": REPS[i % len(REPS)], "occurred_at": f"2017-01-{10 + k:02d}T09:00:00Z"}
            if kind == "converted":
                ev["deal_id"] = f"D{4 * i:02d}"
                s.converted[lead_id] = ev["deal_id"]
            s.add(ev)
    # activities: Ann..Eve log calls in May (inside the 90 days before 2017-06-30); Fay only in
    # January (outside)
    for r, rep in enumerate(REPS):
        day = "2017-01-15" if rep == "Fay" else f"2017-05-{10 + r:02d}"
        for k in range(2):
            s.add({"type": "activity", "activity_id": f"A{r}{k}", "kind": "call", "owner": rep,
                   "duration_minutes": 15, "occurred_at": f"{day}T1{k}:00:00Z"})
        if rep != "Fay":
            s.active_reps.add(rep)
            # and a coaching session of 2 h 30 the same day: 5 × 2.5 = 12.5 hours for 6 reps
            s.add({"type": "activity", "activity_id": f"C{r}", "kind": "coaching", "owner": rep,
                   "coach": "Mia", "duration_minutes": 150, "occurred_at": f"{day}T15:00:00Z"})
    return s


def load(engine: Engine, seed: Seed, tenant: str = "default") -> None:
    engine.save_dimensions(tenant, reps=[Rep(name=r, region="East") for r in REPS])
    res = engine.process([Record(e, source=f"seed:{i}") for i, e in enumerate(seed.events, 1)],
                         tenant=tenant)
    assert res.rejected == 0 and res.accepted == len(seed.events), res


GOALS = [
    {"id": "rev-h1", "metric": "won_revenue", "owner": "company", "period": "2017-H1", "target": 30000},
    {"id": "mql-h1", "metric": "mqls", "owner": "company", "period": "2017-H1", "target": 10},
]

PLAN = """\
plan: funnel-2017
effective_from: 2017-01-01
period: quarter
quota: 10000
rules:
  - id: base
    type: flat_rate
    rate: 3%
  - id: mql-bonus
    type: funnel_bonus
    metric: mqls
    amount: 50
"""

ALL_YES = """\
crm_every_deal: yes
documented_process: yes
lead_definitions: {answer: yes, note: "signed off by sales and marketing"}
sales_methodology: yes
lead_source_policy: yes
training_programme: yes
shared_goals: yes
forecast_reviews: yes
"""


def add_goals_and_plan(engine: Engine, tmp: Path, tenant: str = "default") -> None:
    from attain.plugins.goals import GoalService
    from attain.plugins.incentives.service import Incentives

    svc = GoalService(engine, tenant)
    for g in GOALS:
        svc.add(g)
    plan = tmp / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    Incentives(engine, tenant).load_plan(plan)
