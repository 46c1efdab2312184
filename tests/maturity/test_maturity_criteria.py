"""Each bundled criterion on hand-built events (SQLite: this is the criteria's logic, the SQL
backends are covered by the other maturity tests), expected figures derived by hand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attain.plugins.goals
import attain.plugins.incentives
import attain.plugins.maturity
import pytest
from attain.core import Rep
from attain.core.models import ActivityEvent
from attain.plugins.goals import GoalService
from attain.plugins.incentives.service import Incentives
from attain.plugins.maturity import TenantData, measures
from attain.plugins.maturity import data as data_module
from attain.testing import KitEngine, activity, deal, lead, make_engine, make_plugins

from maturity import partner, seed

D = Decimal


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[KitEngine]:
    pm = make_plugins({"goals": attain.plugins.goals, "incentives": attain.plugins.incentives,
                       "maturity": attain.plugins.maturity, "partner": partner})
    e = make_engine(tmp_path, pm)
    try:
        yield e
    finally:
        e.store.dispose()


def data_of(engine: KitEngine, events: Sequence[dict[str, Any]], as_of: str | None = None,
            reps: Sequence[str] = ()) -> TenantData:
    if reps:
        engine.save_dimensions("default", reps=[Rep(name=r) for r in reps])
    if events:
        res = engine.process_events(events)
        assert res.rejected == 0, res.rejections
    return TenantData(engine, "default", None if as_of is None else dt.date.fromisoformat(as_of))


def won(deal_id: str, amount: str, owner: str = "Ann", **kw: Any) -> dict[str, Any]:
    return deal(deal_id, 2, status="won", amount=amount, owner=owner, **kw)


def test_crm_deals(engine: KitEngine) -> None:
    m = measures.crm_deals(data_of(engine, []))
    assert (m.met, m.value, m.recommendation) == (False, 0, "record every deal in the CRM: none is "
                                                  "recorded today")
    m = measures.crm_deals(data_of(engine, [deal("D1"), deal("D2", owner="Bob"), deal("D3"),
                                            deal("D3", 2, status="deleted")]))
    assert (m.met, m.value, m.numbers) == (True, 2, {"deals": 2, "owners": 2})


def test_sales_stages(engine: KitEngine) -> None:
    m = measures.sales_stages(data_of(engine, [deal("D1", stage="Lead"), deal("D1", 2, stage="Demo")]))
    assert not m.met and m.value == 2
    assert m.recommendation == ("define a sales process of at least 3 stages and record each deal's "
                                "stage: deals use 2 today")
    m = measures.sales_stages(data_of(engine, [won("D2", "5")]))
    assert m.met and m.numbers["names"] == ["Demo", "Lead", "Won"]


def test_basic_kpis(engine: KitEngine) -> None:
    m = measures.basic_kpis(data_of(engine, [deal("D1"), deal("D2")]))
    assert not m.met and m.recommendation == ("close deals as won or lost (with an amount) so revenue "
                                              "and win rate can be measured: 0 of 2 deals are closed")
    m = measures.basic_kpis(data_of(engine, [won("D1", "100"), deal("D2", 2, status="lost", amount="7"),
                                             won("D3", "50.25")]))
    # 2 won of 3 closed; 100 + 50.25 won
    assert m.met and m.value == D("0.6667") and m.numbers["won_revenue"] == D("150.25")


def test_stage_history_needs_more_than_half(engine: KitEngine) -> None:
    evs = [deal("D1", stage="Lead"), deal("D1", 2, stage="Demo"), deal("D2", stage="Lead")]
    m = measures.stage_history(data_of(engine, evs))
    assert (m.met, m.value, m.numbers) == (False, D("0.5"), {"deals": 2, "with_history": 1})
    assert m.recommendation == ("record every stage change of a deal (stage history): 1 of 2 deals "
                                "have one today")
    m = measures.stage_history(data_of(engine, [deal("D3", stage="Lead"), deal("D3", 2, stage="Won")]))
    assert m.met and m.value == D("0.6667")  # 2 of 3


def test_lead_sources_from_fields_attributes_and_leads(engine: KitEngine) -> None:
    evs = [deal("D1", attributes={"lead_source": "web"}), deal("D2", attributes={"LeadSource": "event"}),
           deal("D3"), deal("D4", attributes={"lead_source": "  "}),
           lead("L1", "converted", deal_id="D3", source="webinar")]
    d = data_of(engine, evs)
    assert [d.lead_source(x) for x in sorted(d.deals.values(), key=lambda x: x.deal_id)] == [
        "web", "event", "webinar", None]
    m = measures.lead_sources(d)
    assert (m.met, m.value, m.numbers) == (True, D("0.75"), {"deals": 4, "with_source": 3})
    # a field of the event model (when it has one) comes first
    assert d.lead_source(SimpleNamespace(lead_source="partner", attributes={"lead_source": "web"},
                                         deal_id="D9")) == "partner"  # type: ignore[arg-type]


def test_lead_stages_name_the_missing_ones(engine: KitEngine) -> None:
    m = measures.lead_stages(data_of(engine, [lead("L1", "mql"), lead("L1", "sal"), lead("L2", "mql")]))
    assert not m.met and m.value == {"mql": 2, "sal": 1, "sql": 0}
    assert m.recommendation == "record the lead stages SQL (lead events of kind sql): MQL 2, SAL 1, SQL 0 today"
    assert measures.lead_stages(data_of(engine, [lead("L3", "sql")])).met


def test_funnel_conversion(engine: KitEngine) -> None:
    evs = [lead(f"L{i}", "created") for i in range(4)] + [lead("L0", "mql"), lead("L1", "mql"),
           lead("L0", "sal"), lead("L0", "sql"), lead("L0", "converted", deal_id="D1"), won("D1", "10")]
    m = measures.funnel_conversion(data_of(engine, evs))
    assert m.met
    assert m.numbers["stages"] == {"created": 4, "mql": 2, "sal": 1, "sql": 1, "converted": 1, "won": 1}
    assert m.value == {"created_to_mql": D("0.5"), "mql_to_sal": D("0.5"), "sal_to_sql": D(1),
                       "sql_to_converted": D(1), "converted_to_won": D(1)}


def test_funnel_conversion_missing_stage(engine: KitEngine) -> None:
    m = measures.funnel_conversion(data_of(engine, [lead("L0", "created"), lead("L0", "mql")]))
    assert not m.met and m.value["mql_to_sal"] == 0 and m.value["sal_to_sql"] is None
    assert "no lead reached sal, sql, converted, won" in (m.recommendation or "")


def test_marketing_revenue(engine: KitEngine) -> None:
    evs = [won("D1", "300", attributes={"lead_source": "web"}),
           won("D2", "100", attributes={"lead_source": "Outbound"}),   # a sales source
           won("D3", "600"),                                            # from an MQL lead
           lead("L1", "mql", source=None), lead("L1", "converted", deal_id="D3"),
           won("D4", "1000")]                                           # source unknown
    m = measures.marketing_revenue(data_of(engine, evs))
    # known source: D1, D2, D3 of 4 won; marketing: D1 + D3 = 900 of 2000
    assert m.met and m.value == D("0.45")
    assert m.numbers["won_with_source"] == 3 and m.numbers["marketing_won_deals"] == 2
    assert m.numbers["deal_share"] == D("0.5") and "at or above the ~30 % benchmark" in m.detail


def test_marketing_revenue_unknown_sources(engine: KitEngine) -> None:
    m = measures.marketing_revenue(data_of(engine, [won("D1", "5"), won("D2", "5")]))
    assert not m.met and m.recommendation == ("record the source of won deals to measure "
                                              "marketing-sourced revenue: 0 of 2 won deals have one today")


def test_activity_adoption_window(engine: KitEngine) -> None:
    # as of 2017-06-30 the 90 days start on 2017-04-02 (30 June − 89 days)
    assert dt.date(2017, 6, 30) - dt.timedelta(days=89) == dt.date(2017, 4, 2)
    evs = [activity("A1", owner="Ann", occurred_at="2017-04-02T00:00:00Z"),
           activity("A2", owner="Bob", occurred_at="2017-04-01T23:59:59Z"),          # a day early
           activity("A3", owner="Cid", occurred_at="2017-04-01T23:30:00-05:00"),     # 2017-04-02 UTC
           activity("A4", owner="Dee", occurred_at="2017-07-01T08:00:00Z"),          # after as_of
           activity("A5", owner="Zed", occurred_at="2017-05-01T08:00:00Z")]          # not on the team
    m = measures.activity_adoption(data_of(engine, evs, "2017-06-30", reps=["Ann", "Bob", "Cid", "Dee"]))
    assert m.numbers["reps"] == 4 and m.numbers["reps_with_activities"] == 2
    assert not m.met and m.value == D("0.5")
    assert m.recommendation == "log activities in the CRM: 2 of 4 reps logged any in the last 90 days"


def test_coaching_hours_without_and_with_model_support(engine: KitEngine,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    d = data_of(engine, [], "2017-06-30", reps=["Ann", "Bob"])
    with monkeypatch.context() as mp:  # an event model without the kinds
        mp.setattr(measures, "activity_kinds", lambda: frozenset({"call"}))
        m = measures.coaching_hours(d)
    assert m.no_data and not m.met and "no coaching or training activities" in m.detail
    # once the event model has the kinds (another issue adds them): 90 + 150 minutes in the window,
    # 60 before it → 4 hours for 2 reps = 2 per rep
    monkeypatch.setattr(measures, "activity_kinds", lambda: frozenset({"call", "coaching", "training"}))
    t = dt.datetime(2017, 6, 1, tzinfo=dt.UTC)
    d = TenantData(engine, "default", dt.date(2017, 6, 30))
    d.__dict__["all_events"] = [
        ActivityEvent.model_construct(event_id="c1", activity_id="c1", kind="coaching", owner="Ann",
                                      occurred_at=t, duration_minutes=90, type="activity"),
        ActivityEvent.model_construct(event_id="c2", activity_id="c2", kind="training", owner="Bob",
                                      occurred_at=t, duration_minutes=150, type="activity"),
        ActivityEvent.model_construct(event_id="c3", activity_id="c3", kind="coaching", owner="Bob",
                                      occurred_at=dt.datetime(2017, 1, 5, tzinfo=dt.UTC),
                                      duration_minutes=60, type="activity")]
    m = measures.coaching_hours(d)
    assert m.met and m.numbers == {"sessions": 2, "hours": D("4.00"), "reps": 2, "hours_per_rep": D(2)}


def test_goals_tracked_and_shared_funnel_goals(engine: KitEngine) -> None:
    d = data_of(engine, [won("D1", "100", closed_on="2017-05-01"), lead("L1", "mql")])
    m = measures.goals_tracked(d)
    assert not m.met and m.numbers == {"goals": 0, "tracked": 0}
    assert not measures.shared_funnel_goals(d).met
    svc = GoalService(engine, "default")
    for g in seed.GOALS:
        svc.add(g)
    svc.add({"id": "later", "metric": "won_revenue", "owner": "company", "period": "2018", "target": 1})
    d = TenantData(engine, "default", dt.date(2017, 6, 30))
    m = measures.goals_tracked(d)
    assert m.met and m.numbers == {"goals": 2, "tracked": 2}  # the 2018 goal had not started
    f = measures.shared_funnel_goals(d)
    assert f.met and f.numbers == {"goals": 2, "funnel_goals": 1, "metrics": ["mqls"]}


def test_comp_non_revenue(engine: KitEngine, tmp_path: Path) -> None:
    d = data_of(engine, [won("D1", "100")])
    assert measures.comp_non_revenue(d).numbers == {"plans": 0, "with_non_revenue": 0, "names": []}
    inc = Incentives(engine, "default")
    revenue_only = tmp_path / "rev.yaml"
    revenue_only.write_text("plan: rev\nperiod: quarter\nrules:\n  - {id: base, type: flat_rate, rate: 2%}\n",
                            encoding="utf-8")
    inc.load_plan(revenue_only)
    m = measures.comp_non_revenue(TenantData(engine, "default"))
    assert not m.met and m.recommendation == ("add a marketing-sourced or funnel goal to the "
                                              "compensation plan: 0 of 1 plan versions have one")
    funnel = tmp_path / "funnel.yaml"
    funnel.write_text(seed.PLAN, encoding="utf-8")
    inc.load_plan(funnel)
    m = measures.comp_non_revenue(TenantData(engine, "default"))
    assert m.met and m.numbers == {"plans": 2, "with_non_revenue": 1, "names": ["funnel-2017 v1"]}
    # the rule type's plugin uninstalled: that plan cannot be read; it is left out and named
    engine.plugins.unregister("partner")
    m = measures.comp_non_revenue(TenantData(engine, "default"))
    assert not m.met and m.numbers == {"plans": 1, "with_non_revenue": 0, "names": [],
                                       "unreadable": ["funnel-2017 v1"]}
    assert m.detail.endswith("; 1 plan version(s) could not be read")


def test_campaign_roi_and_forecasts(engine: KitEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    d = data_of(engine, [won("D1", "900", attributes={"lead_source": "web"}, account="A1")])
    with monkeypatch.context() as mp:  # an event model without cost events
        mp.setattr(data_module, "EVENT_TYPES", data_module.EVENT_TYPES - {"cost"})
        for fn in (measures.campaign_roi, measures.forecast_accuracy):
            m = fn(d)
            assert m.no_data and not m.met and m.detail.startswith("no data")
    # an event model with cost and forecast events (other issues add them): read through
    # the same public fields, whatever their classes
    monkeypatch.setattr(data_module, "EVENT_TYPES", data_module.EVENT_TYPES | {"cost", "forecast"})
    d = TenantData(engine, "default", dt.date(2017, 6, 30))
    t = dt.datetime(2017, 5, 1, tzinfo=dt.UTC)
    from attain.core import Period

    d.__dict__["all_events"] = [*d.all_events,
                                SimpleNamespace(type="cost", amount=D(300), occurred_at=t),
                                SimpleNamespace(type="forecast", amount=D(1000), occurred_at=t,
                                                period=Period.parse("2017-05"))]
    roi = measures.campaign_roi(d)
    # marketing revenue 900 against 300 of costs: (900 − 300) / 300 = 2; one won account
    assert roi.met and roi.value == D(2) and roi.numbers["cac"] == D(300)
    fc = measures.forecast_accuracy(d)
    # D1 closed on its occurred day, 2017-05-01: actual 900, forecast 1000 → 1 − 100/900
    assert fc.met and fc.value == (1 - D(100) / D(900)).quantize(D("0.0001"))


def test_the_assessment_does_not_depend_on_arrival_order(tmp_path: Path) -> None:
    """Replaying, duplicating or reordering the seed's events, in any batches, gives the same
    assessment (only its storage fields differ)."""
    from attain.plugins.maturity import Maturity
    from attain.testing import assert_order_independent

    pm = make_plugins({"maturity": attain.plugins.maturity})
    s = seed.build()

    def read(e: Any) -> Any:
        r = Maturity(e, "default").assess(dt.date(2017, 6, 30), save=False)
        return (r["level"], [(c["id"], c["met"], c["value"], c["detail"]) for c in r["criteria"]],
                r["recommendations"])

    got = assert_order_independent(s.events, read, plugins=pm, directory=tmp_path,
                                   seeds=(1, 2), batch_sizes=(1, 40))
    assert got[0] == 1  # nothing answered in this test
    crit = {c[0]: c for c in got[1]}
    assert crit["lead_stages"][2] == {"mql": 10, "sal": 8, "sql": 6}


def test_tenants_are_assessed_apart(engine: KitEngine) -> None:
    engine.process_events([won("D1", "10"), lead("L1", "mql")], tenant="acme")
    from attain.plugins.maturity import Maturity

    acme = {c["id"]: c for c in Maturity(engine, "acme").assess(save=False)["criteria"]}
    other = {c["id"]: c for c in Maturity(engine, "default").assess(save=False)["criteria"]}
    assert acme["crm_deals"]["value"] == 1 and acme["lead_stages"]["value"]["mql"] == 1
    assert other["crm_deals"]["value"] == 0 and other["lead_stages"]["value"]["mql"] == 0
