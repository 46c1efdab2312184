"""`attain maturity` commands: stored assessments and history with what changed since the
previous one, every output format, the questionnaire (prompts and --answers) and its errors.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from testkit import Cli

from maturity import seed
from maturity.conftest import engine_on


def seeded(db_url: str, opened: list[Any]) -> Cli:
    engine = engine_on(db_url, opened)
    seed.load(engine, seed.build())
    return Cli(db_url)


def test_history_and_changes_since_the_previous_assessment(db_url: str, tmp_path: Path,
                                                           open_engine: list[Any]) -> None:
    cli = seeded(db_url, open_engine)
    first = cli.json("maturity", "assess", "--format", "json")
    assert first["level"] == 1 and first["changes"] is None and first["id"] >= 1
    answers = tmp_path / "a.yaml"
    answers.write_text(seed.ALL_YES, encoding="utf-8")
    cli("maturity", "questionnaire", "--answers", str(answers))
    # no goals yet: level 3 (goals_tracked is a required criterion of level 4)
    second = cli.json("maturity", "assess", "--format", "json")
    assert second["level"] == 3
    ch = second["changes"]
    assert ch["previous"]["id"] == first["id"] and ch["level"] == {"was": 1, "now": 3}
    moved = {c["id"]: c for c in ch["criteria"]}
    # exactly the eight answered criteria moved; nothing measured did (same data)
    assert set(moved) == {"crm_every_deal", "documented_process", "lead_definitions",
                          "sales_methodology", "lead_source_policy", "training_programme",
                          "shared_goals", "forecast_reviews"}
    assert moved["lead_definitions"] == {"id": "lead_definitions", "was_met": False, "met": True,
                                         "was_value": None, "value": True}
    # a --no-save assessment is not stored
    cli("maturity", "assess", "--no-save", "--format", "json")
    # as of an earlier day: every deal was open, and of the activities only Fay's of 15 January
    # fall in the 90 days up to 31 March (2017-01-01 .. 2017-03-31): 1 of 6 reps
    early = cli.json("maturity", "assess", "--as-of", "2017-03-31", "--format", "json")
    crit = {c["id"]: c for c in early["criteria"]}
    assert early["as_of"] == "2017-03-31"
    assert crit["basic_kpis"]["met"] is False and crit["activity_adoption"]["value"] == Decimal("0.1667")
    assert early["level"] == 1 and early["changes"]["level"] == {"was": 3, "now": 1}

    hist = cli.json("maturity", "history", "--format", "json")
    assert [h["id"] for h in hist] == [first["id"], second["id"], early["id"]]
    assert [h["level"] for h in hist] == [1, 3, 1]
    assert hist[0]["changes"] is None
    assert hist[1]["changes"]["level"] == {"was": 1, "now": 3}
    assert hist[1]["criteria"]["lead_definitions"] is True and hist[0]["criteria"]["lead_definitions"] is False
    assert [h["id"] for h in cli.json("maturity", "history", "--format", "json", "--limit", "1")] == [early["id"]]
    table = cli("maturity", "history").stdout
    assert "Maturity history" in table and "lead_definitions" in table
    md = cli("maturity", "history", "--format", "md").stdout
    line = next(x for x in md.splitlines() if x.startswith("| level |"))
    assert line == "| level | 1 | 3 | 1 |"
    assert "<table>" in cli("maturity", "history", "--format", "html").stdout
    # another tenant has no history
    assert cli.json("maturity", "history", "--tenant", "other", "--format", "json") == []
    assert "no assessment stored yet" in cli("maturity", "history", "--tenant", "other").stdout


class Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.cells: list[str] = []
        self.h1 = ""

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "meta":  # a void element
            return
        self.stack.append(tag)
        if tag == "td":
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        assert self.stack.pop() == tag, f"</{tag}> closes another element"

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "td":
            self.cells[-1] += data
        elif self.stack and self.stack[-1] == "h1":
            self.h1 += data


def test_every_output_format(db_url: str, open_engine: list[Any]) -> None:
    cli = seeded(db_url, open_engine)
    r = cli.json("maturity", "assess", "--format", "json", "--no-save")
    assert set(r) >= {"level", "levels", "criteria", "recommendations"}
    assert all(set(lv) >= {"level", "name", "reached", "progress"} for lv in r["levels"])
    assert all(set(c) >= {"id", "level", "met", "evidence", "value", "detail"} for c in r["criteria"])
    assert all(c["evidence"] in ("measured", "answered") for c in r["criteria"])
    assert all(set(x) >= {"criterion", "text", "priority"} for x in r["recommendations"])
    ids = [c["id"] for c in r["criteria"]]

    table = cli("maturity", "assess", "--no-save").stdout
    assert "level 1 (Ad hoc)" in table and "Recommendations" in table

    md = cli("maturity", "assess", "--format", "md", "--no-save").stdout
    assert md.startswith("# Maturity of tenant default as of 2017-06-30: level 1 (Ad hoc)")
    rows = [x for x in md.splitlines() if x.startswith("| ") and x.split("|")[2].strip() in ids]
    assert [x.split("|")[2].strip() for x in rows] == ids
    # not answered yet: the first step is answering level 2's questions
    assert ("1. **P1** `crm_every_deal`: answer the questionnaire: Is every deal tracked in the CRM "
            "(no side spreadsheets)?\n2. **P1** `documented_process`: answer the questionnaire") in md

    page = cli("maturity", "assess", "--format", "html", "--no-save").stdout
    assert page.startswith("<!DOCTYPE html>")
    p = Cells()
    p.feed(page)
    assert p.stack == [] and p.h1.startswith("Maturity of tenant default")
    assert set(ids) <= set(p.cells)
    lead = next(c for c in r["criteria"] if c["id"] == "lead_stages")
    assert lead["detail"] in p.cells


def test_the_criteria_list(db_url: str, partner_plugin: object) -> None:
    from attain.plugins.maturity.criteria import BUILTIN

    cli = Cli(db_url)
    rows = cli.json("maturity", "criteria", "--format", "json")
    got = {r["id"]: r for r in rows}
    assert set(got) == {c.name for c in BUILTIN} | {"crm_hygiene"}
    assert got["crm_hygiene"]["plugin"] == "maturity_example" and got["crm_hygiene"]["level"] == 3
    assert got["lead_sources"] == {"id": "lead_sources", "level": 3, "weight": 2, "required": True,
                                   "evidence": "measured", "plugin": "maturity", "checked_by": None,
                                   "description": "more than half of the deals have a lead source"}
    assert [r["level"] for r in rows] == sorted(r["level"] for r in rows)
    assert "crm_hygiene" in cli("maturity", "criteria").stdout
    assert "| crm_hygiene | 3 |" in cli("maturity", "criteria", "--format", "md").stdout
    assert "<td>crm_hygiene</td>" in cli("maturity", "criteria", "--format", "html").stdout


def test_questionnaire_prompts_and_errors(db_url: str, tmp_path: Path, open_engine: list[Any]) -> None:
    cli = seeded(db_url, open_engine)
    qs = [line for line in cli("maturity", "questions").stdout.splitlines() if "│" in line]
    assert any("crm_every_deal" in q for q in qs)
    # interactive: eight questions, each a yes/no then an optional note
    replies = "\n".join(["y", "all of them"] + ["n", ""] * 7) + "\n"
    out = cli("maturity", "questionnaire", input=replies).stdout
    assert "1/8" in out and "saved 8 answer(s) for tenant default (1 yes, 7 no" in out
    r = cli.json("maturity", "assess", "--format", "json", "--no-save")
    got = {c["id"]: c for c in r["criteria"]}
    assert got["crm_every_deal"]["met"] is True and got["crm_every_deal"]["detail"] == "answered yes (all of them)"
    assert got["documented_process"]["value"] is False

    bad = tmp_path / "bad.yaml"
    bad.write_text("crm_every_deal: perhaps\n", encoding="utf-8")
    res = cli("maturity", "questionnaire", "--answers", str(bad), ok=False)
    assert res.exit_code == 2 and res.stderr.strip() == (
        f"error: {bad}: crm_every_deal: answer 'perhaps' is not yes or no")
    bad.write_text("crm_every_dael: yes\n", encoding="utf-8")
    res = cli("maturity", "questionnaire", "--answers", str(bad), ok=False)
    assert res.exit_code == 2 and "unknown question(s) crm_every_dael" in res.stderr
    bad.write_text("a: [1\n", encoding="utf-8")
    res = cli("maturity", "questionnaire", "--answers", str(bad), ok=False)
    assert res.exit_code == 2 and res.stderr.startswith(f"error: {bad}: line") and "Traceback" not in res.stderr
    res = cli("maturity", "questionnaire", "--answers", str(tmp_path / "missing.yaml"), ok=False)
    assert res.exit_code == 2 and "cannot read the answers file" in res.stderr
    res = cli("maturity", "assess", "--as-of", "2017-13-01", ok=False)
    assert res.exit_code == 2
    res = cli("maturity", "assess", "--model", "nope", ok=False)
    assert res.exit_code == 2 and res.stderr.strip() == "error: no maturity model 'nope'; models: standard"
