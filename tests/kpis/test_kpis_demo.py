"""`attain demo --full`: the bundled deals plus the SYNTHETIC kpis-demo events (seeded, the same
every time, consistent with the bundled opportunities), so every kpis-plugin figure is real;
the bundled deal figures stay those of the CSV files."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from attain.plugins.kpis.demo import generate
from reference import DEAL_KPIS, bundled_deals, bundled_event_count, bundled_ref, reference_kpis
from testkit import BUNDLED_DIR, Cli

WANT_ALL = reference_kpis(bundled_deals(), bundled_ref())["all"][0]


def test_generate_is_deterministic_and_consistent() -> None:
    events = generate(BUNDLED_DIR)
    assert events == generate(BUNDLED_DIR)
    assert len({e["event_id"] for e in events}) == len(events)
    pipeline = {d["deal_id"]: d for d in bundled_deals() if d["engaged_on"]}  # engaged ones
    converted = [e for e in events if e["type"] == "lead" and e["kind"] == "converted"]
    # every converted lead names an engaged opportunity, converting on its engage day
    assert converted and all(e["deal_id"] in pipeline for e in converted)
    assert all(e["occurred_at"][:10] == pipeline[e["deal_id"]]["engaged_on"] for e in converted)
    kinds = Counter((e["type"], e.get("kind") or e.get("category")) for e in events)
    for needed in [("activity", "coaching"), ("activity", "training"), ("cost", "marketing"),
                   ("cost", "sales"), ("customer", "churned"), ("customer", "renewed"),
                   ("rep", "hired"), ("rep", "left"), ("lead", "disqualified")]:
        assert kinds[needed] > 0, needed
    hired = {e["rep"]: e["occurred_at"][:10] for e in events if e["type"] == "rep" and e["kind"] == "hired"}
    for d in pipeline.values():  # every rep started before their first engaged deal
        assert hired[d["owner"]] < str(d["engaged_on"])
    assert max(dt.date.fromisoformat(e["occurred_at"][:10]) for e in events
               if e["type"] == "customer") <= dt.date(2017, 12, 31)


def test_demo_full(cli: Cli, tmp_path: Path) -> None:
    out = cli.json("demo", "--full", "--format", "json", env={"XDG_DATA_HOME": str(tmp_path)})
    synthetic = generate(BUNDLED_DIR)
    assert out["import"]["rejected"] == 0
    assert out["import"]["accepted"] == len(synthetic) + bundled_event_count()
    s = out["summary"]
    assert {k: s[k] for k in DEAL_KPIS} == {k: WANT_ALL[k] for k in DEAL_KPIS}
    # figures recomputed from the synthetic events
    coaching = sum(e["duration_minutes"] for e in synthetic if e["type"] == "activity" and e["kind"] == "coaching")
    assert s["coaching_hours"] == (Decimal(coaching) / 60).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    count = Counter(e["kind"] for e in synthetic if e["type"] == "lead")
    assert s["mql_to_sal_rate"] == (Decimal(count["sal"]) / count["mql"]).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)
    assert s["churned_customers"] == sum(1 for e in synthetic if e["type"] == "customer" and e["kind"] == "churned")
    assert s["total_cost"] > 0
    # marketing-sourced through the converted leads that carry a source (the bundled deals
    # carry none of their own): recomputed from the synthetic leads and the bundled deals
    sourced = {e["deal_id"] for e in synthetic
               if e["type"] == "lead" and e["kind"] == "converted" and e.get("source")}
    won = [d for d in bundled_deals() if d["status"] == "won"]
    ms = sum((d["amount"] for d in won if d["deal_id"] in sourced), Decimal(0))
    assert s["marketing_sourced_revenue"] == ms
    share = (ms / sum((d["amount"] for d in won), Decimal(0))).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)
    assert s["marketing_sourced_share"] == share and Decimal("0.25") < share < Decimal("0.45")
    econ = cli.json("economics", "--period", "2017", "--format", "json")
    assert econ["new_customers"] > 0 and econ["cac"] is not None and econ["headcount"] > 0
