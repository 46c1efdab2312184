"""Scoring and the model as plugins: levels reached only in order, progress by weight, a partner
criterion replacing a bundled one, a partner model replacing the whole model, invalid criteria
refused with one clear message, a failing criterion isolated."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attain.plugins.maturity
import pytest
from attain.core import hookimpl
from attain.plugins.maturity import (
    Criterion,
    Level,
    Maturity,
    MaturityError,
    MaturityModel,
    Measurement,
    TenantData,
)
from attain.plugins.maturity.scoring import Answer, assess
from attain.testing import KitEngine, deal, make_engine, make_plugins

D = Decimal


def const(met: bool, value: Any = None) -> Any:
    return lambda data: Measurement(met, value, f"constant {met}", {}, None if met else "do it")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[KitEngine]:
    e = make_engine(tmp_path, make_plugins({"maturity": attain.plugins.maturity}))
    try:
        yield e
    finally:
        e.store.dispose()


def test_levels_are_reached_in_order_and_progress_is_by_weight(engine: KitEngine) -> None:
    model = MaturityModel("t", "test", (Level(1, "one", ""), Level(2, "two", ""), Level(3, "three", "")))
    crits = [Criterion("a", "", 1, weight=D(3), measure=const(True)),
             Criterion("b", "", 1, weight=D(1), required=False, measure=const(False)),
             Criterion("c", "", 2, measure=const(False)),
             Criterion("d", "", 3, measure=const(True)),
             Criterion("q", "Q?", 2, "answered", weight=D(1), required=False, question="Q?")]
    r = assess(model, crits, TenantData(engine, "default", dt.date(2017, 1, 1)), {})
    assert r["level"] == 1
    assert [(lv["reached"], lv["progress"]) for lv in r["levels"]] == [
        (True, D("75.0")), (False, D(0)), (False, D(100))]  # level 3 met, but level 2 is not
    # confidence of level 2: c measured (1.0) and q unanswered (0.2), equal weights
    assert r["levels"][1]["confidence"] == D("0.60")
    assert [(x["criterion"], x["priority"]) for x in r["recommendations"]] == [("c", 1), ("q", 2)]
    r = assess(model, crits, TenantData(engine, "default", dt.date(2017, 1, 1)),
               {"q": Answer("q", True)})
    assert r["levels"][1]["progress"] == D("50.0") and r["levels"][1]["confidence"] == D("0.80")


class Replacing:
    """A partner's stricter version of the bundled sales_stages criterion, and one of its own."""

    @hookimpl
    def attain_register_maturity_criteria(self, register: Any) -> None:
        register(SimpleNamespace(name="many_stages", description="six stages or more", level=2,
                                 weight=2, required=True, replaces="sales_stages",
                                 measure=lambda data: Measurement(len(data.stages) >= 6,
                                                                  len(data.stages), "stages")))


def test_a_partner_criterion_replaces_a_bundled_one(engine: KitEngine) -> None:
    engine.plugins.register(Replacing(), "stricter")
    engine.process_events([deal("D1", stage="A"), deal("D1", 2, stage="B"), deal("D1", 3, stage="C")])
    svc = Maturity(engine, "default")
    names = [c.name for c in svc.criteria()]
    assert "many_stages" in names and "sales_stages" not in names
    # the answer once checked by sales_stages is now checked by its replacement
    (q,) = [c for c in svc.criteria() if c.name == "documented_process"]
    assert q.checked_by == "many_stages"
    svc.save_answers([Answer("documented_process", True)])
    r = svc.assess()
    c = {x["id"]: x for x in r["criteria"]}
    assert c["many_stages"]["plugin"] == "stricter" and c["many_stages"]["value"] == 3
    assert c["documented_process"]["contradicted"] is True


class Broken:
    @hookimpl
    def attain_register_maturity_criteria(self, register: Any) -> None:
        register(Criterion("explodes", "raises", 2, required=False,
                           measure=lambda data: 1 / 0))  # type: ignore[arg-type,return-value]


def test_a_failing_criterion_is_isolated(engine: KitEngine) -> None:
    engine.plugins.register(Broken(), "broken")
    r = Maturity(engine, "default").assess(save=False)
    c = {x["id"]: x for x in r["criteria"]}
    assert c["explodes"]["met"] is False and "failed (ZeroDivisionError)" in c["explodes"]["detail"]
    assert c["crm_deals"]["detail"] == "no deal is recorded in the CRM"  # the others still ran
    assert engine.plugins.errors[("broken", "maturity:explodes")] == 1


def ns(**kw: Any) -> SimpleNamespace:
    return SimpleNamespace(name="x", description="", **kw)


@pytest.mark.parametrize("obj, message", [
    (ns(level=7, measure=const(True)), "level must be one of [1, 2, 3, 4, 5], got 7"),
    (ns(level=2), "a measured criterion needs measure(data)"),
    (ns(level=2, evidence="answered"), "an answered criterion needs a question"),
    (ns(level=2, evidence="guessed"), "evidence must be 'measured' or 'answered', got 'guessed'"),
    (ns(level=2, weight=0, measure=const(True)), "weight must be a positive number, got 0"),
])
def test_invalid_criteria_are_refused(engine: KitEngine, obj: Any, message: str) -> None:
    class Bad:
        @hookimpl
        def attain_register_maturity_criteria(self, register: Any) -> None:
            register(obj)

    engine.plugins.register(Bad(), "bad")
    with pytest.raises(MaturityError) as exc:
        Maturity(engine, "default").criteria()
    assert str(exc.value) == f"plugin 'bad': maturity criterion 'x': {message}"


class ThreeLevels:
    @hookimpl
    def attain_register_maturity_models(self, register: Any) -> None:
        register(MaturityModel("acme", "Acme's model", (
            Level(1, "Starting", ""), Level(2, "Scaling", ""), Level(3, "Leading", "")), criteria=(
            Criterion("has_deals", "deals exist", 2,
                      measure=lambda d: Measurement(bool(d.deals), len(d.deals), "deals")),
            Criterion("big", "ten deals", 3,
                      measure=lambda d: Measurement(len(d.deals) >= 10, len(d.deals), "deals")),
        )))


def test_a_partner_model_replaces_the_whole_model(engine: KitEngine) -> None:
    engine.plugins.register(ThreeLevels(), "acme")
    engine.process_events([deal("D1")])
    r = Maturity(engine, "default").assess()
    assert r["model"] == "acme" and r["level"] == 2 and r["level_name"] == "Scaling"
    assert [c["id"] for c in r["criteria"]] == ["has_deals", "big"]
    assert r["recommendations"] == [{"criterion": "big", "level": 3, "evidence": "measured",
                                     "priority": 1, "text": "meet: ten deals"}]
    # the bundled model is still there by name, with its own history
    std = Maturity(engine, "default", "standard").assess()
    assert std["model"] == "standard" and std["changes"] is None
    assert [h["model"] for h in [r, std]] == ["acme", "standard"]
    assert len(Maturity(engine, "default").history()) == 1
