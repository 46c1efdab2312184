"""The bundled CRM data alone (`attain import crm-csv`: deals with stage history, no leads,
activities or costs) assesses to level 2 at most, naming the missing level-3 criteria; a "yes"
the data contradicts is flagged. Figures are checked against the CSV read with plain Python.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

from testkit import BUNDLED_DIR, Cli


def pipeline() -> list[dict[str, str]]:
    with (BUNDLED_DIR / "sales_pipeline.csv").open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in result["criteria"]}


def test_bundled_data_is_level_2_at_most(bundled_url: str, tmp_path: Path) -> None:
    rows = pipeline()
    cli = Cli(bundled_url)
    bare = cli.json("maturity", "assess", "--format", "json")
    # without answers level 2's answered criteria are missing: level 1
    assert bare["level"] == 1
    assert bare["next_level"]["missing"] == ["crm_every_deal", "documented_process"]

    answers = tmp_path / "answers.yaml"
    answers.write_text("crm_every_deal: yes\ndocumented_process: yes\nlead_definitions: no\n"
                       "sales_methodology: yes\n", encoding="utf-8")
    cli("maturity", "questionnaire", "--answers", str(answers))
    r = cli.json("maturity", "assess", "--format", "json")
    assert r["level"] == 2 and r["level_name"] == "Defined"
    assert r["next_level"]["level"] == 3
    assert set(r["next_level"]["missing"]) == {"lead_stages", "lead_sources", "lead_definitions"}
    c = by_id(r)
    assert c["crm_deals"]["value"] == len(rows) == 8800
    won = sum(1 for x in rows if x["deal_stage"] == "Won")
    lost = sum(1 for x in rows if x["deal_stage"] == "Lost")
    assert c["basic_kpis"]["value"] == (Decimal(won) / (won + lost)).quantize(Decimal("0.0001"))
    # Prospecting rows have one snapshot; every other row went through two stages or more
    history = sum(1 for x in rows if x["deal_stage"] != "Prospecting")
    assert c["stage_history"]["numbers"] == {"deals": 8800, "with_history": history}
    assert c["stage_history"]["met"] is True
    assert c["lead_sources"]["met"] is False and c["lead_sources"]["value"] == 0
    assert c["lead_stages"]["value"] == {"mql": 0, "sal": 0, "sql": 0}
    texts = {x["criterion"]: x for x in r["recommendations"]}
    assert texts["lead_sources"]["text"] == "record a lead source on deals: 0 of 8,800 have one today"
    assert texts["lead_sources"]["priority"] == 1 and texts["lead_stages"]["priority"] == 1
    assert texts["lead_stages"]["text"].startswith("record the lead stages MQL → SAL → SQL")
    assert texts["lead_definitions"]["text"] == ("agree written MQL, SAL and SQL definitions between "
                                                 "marketing and sales")
    # 35 reps on the roster, none logged an activity
    teams = (BUNDLED_DIR / "sales_teams.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    assert texts["activity_adoption"]["text"] == (f"log activities in the CRM: 0 of {len(teams)} reps "
                                                  "logged any in the last 90 days")
    assert texts["activity_adoption"]["priority"] == 3  # a required criterion of level 4
    assert r["changes"]["level"] == {"was": 1, "now": 2}


def test_a_contradicted_answer_is_flagged(bundled_url: str, tmp_path: Path) -> None:
    cli = Cli(bundled_url)
    answers = tmp_path / "answers.yaml"
    answers.write_text("lead_source_policy: yes\nlead_definitions: yes\nsales_methodology: yes\n",
                       encoding="utf-8")
    cli("maturity", "questionnaire", "--answers", str(answers))
    r = cli.json("maturity", "assess", "--format", "json", "--no-save")
    c = by_id(r)
    for name in ("lead_source_policy", "lead_definitions"):
        assert c[name]["contradicted"] is True and c[name]["met"] is False
        assert c[name]["confidence"] == Decimal("0.3")
    assert c["lead_source_policy"]["detail"] == ("answered yes, but the data contradicts it: 0 of 8,800 "
                                                 "deals (0.0 %) have a lead source")
    # stage history backs the methodology answer: not contradicted
    assert c["sales_methodology"]["contradicted"] is False and c["sales_methodology"]["met"] is True
    assert {x["criterion"] for x in r["contradictions"]} == {"lead_source_policy", "lead_definitions"}
    table = cli("maturity", "assess", "--no-save").stdout
    assert "contradicted answer lead_source_policy" in table
