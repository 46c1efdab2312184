"""`attain plan report`: the figures of the document are those of the commands' JSON; Markdown,
HTML and PDF (WeasyPrint and the matplotlib fallback); `plan quotas` still works beside it."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest
from attain.core import output

from forecast.helpers import ForecastCli

D = Decimal
NOTES = """\
strategy:
  - title: Win the entertainment segment
    points: [Route inbound leads there first, Quarterly campaign]
  - title: Shorten the cycle
    text: Mutual close plans on every deal above 5,000
"""
PLAN = Path(__file__).resolve().parents[2] / "examples" / "plans" / "tiered.yaml"


@pytest.fixture(scope="module")
def report_data(sqlite_template: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    notes = tmp_path_factory.mktemp("notes") / "strategy.yaml"
    notes.write_text(NOTES)
    cli = ForecastCli(sqlite_template)
    data = cli.json("plan", "report", "--year", "2018", "--format", "json", "--plan", str(PLAN),
                    "--notes", str(notes))
    return {"data": data, "notes": str(notes), "cli": cli}


def test_report_figures_equal_the_commands(report_data: dict) -> None:
    cli, data = report_data["cli"], report_data["data"]
    wi = cli.json("whatif", "--year", "2018", "--plan", str(PLAN), "--format", "json")
    fc = cli.json("forecast", "--no-save", "--period", "2018", "--format", "json")
    bt = cli.json("forecast", "backtest", "--cutoff", "2017-06-30", "--no-save", "--format", "json")
    s = data["summary"]
    for key in ("target", "expected_revenue", "capacity_gap", "hires_needed", "commission_cost",
                "quota_total", "quota_coverage"):
        assert data["capacity"][key] == wi[key], key
    assert s["commission_cost"] == wi["commission_cost"]
    company = [p for p in fc["periods"] if p["group"] == "company"]
    assert [(p["period"], p["forecast"], p["lower"], p["upper"]) for p in data["forecast"]["periods"]] \
        == [(p["period"], p["forecast"], p["lower"], p["upper"]) for p in company]
    assert s["forecast_total"] == sum((p["forecast"] for p in company), D(0))
    assert s["weighted_pipeline"] == fc["weighted_pipeline"]
    assert data["backtest"]["models"] == bt["models"]
    assert data["backtest"]["baselines"] == bt["baselines"]
    assert s["last_year_revenue"] == D(10005534)
    assert [n["title"] for n in data["strategy"]] == ["Win the entertainment segment",
                                                      "Shorten the cycle"]
    insight = cli.json("forecast", "insight", "--format", "json")
    assert data["segments"] == insight["segments"]


def test_markdown_and_html_show_those_figures(report_data: dict, tmp_path: Path) -> None:
    cli, data = report_data["cli"], report_data["data"]
    md = cli("plan", "report", "--year", "2018", "--plan", str(PLAN), "--notes",
             report_data["notes"]).stdout
    s = data["summary"]
    for v in (s["target"], s["expected_revenue"], s["forecast_total"], s["commission_cost"],
              *[p["forecast"] for p in data["forecast"]["periods"]],
              *[p["upper"] for p in data["forecast"]["periods"]]):
        assert output.money(v) in md, v
    assert f"| ets-simple | {data['backtest']['models'][0]['mape']} |" in md
    assert "loses to the naive baseline" in md
    assert "## Strategy" in md and "- Route inbound leads there first" in md
    assert "![" not in md  # no chart files on standard output
    out = tmp_path / "plan.md"
    cli("plan", "report", "--year", "2018", "--output", str(out))
    text = out.read_text()
    for name in ("forecast", "segments", "capacity"):
        png = tmp_path / f"plan-{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png.name})" in text
    html = cli("plan", "report", "--year", "2018", "--format", "html").stdout
    assert html.startswith("<!DOCTYPE html>") and html.count("data:image/png;base64,") == 3
    assert output.money(s["target"]) in html


def test_pdf_with_weasyprint_and_without(report_data: dict, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cli = report_data["cli"]
    import weasyprint  # noqa: F401 (in the forecast extra: a missing install fails, never skips)

    pdf = tmp_path / "plan.pdf"
    res = cli("plan", "report", "--year", "2018", "--format", "pdf", "--output", str(pdf))
    assert "weasyprint" in res.stdout
    assert pdf.read_bytes()[:5] == b"%PDF-"
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as if it were not installed
    plain = tmp_path / "plain.pdf"
    res = cli("plan", "report", "--year", "2018", "--format", "pdf", "--output", str(plain))
    assert "matplotlib" in res.stdout and plain.read_bytes()[:5] == b"%PDF-"


def test_report_errors_and_plan_quotas_still_there(report_data: dict, wide_errors: None,
                                                   tmp_path: Path) -> None:
    cli = report_data["cli"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just text\n")
    for args, message in [(("--format", "pdf"), "needs --output"),
                          (("--format", "docx"), "use one of md, html, pdf, json"),
                          (("--notes", str(bad)), "needs a title"),
                          (("--notes", str(tmp_path / "none.yaml")), "cannot read"),
                          (("--cutoff", "2017-06-15"), "not the last day of a month")]:
        res = cli("plan", "report", "--year", "2018", *args, ok=False)
        assert res.exit_code == 2, (args, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines
    plan = cli.json("plan", "quotas", "--year", "2018", "--growth", "10%", "--format", "json")
    assert plan["target"] == D("11006087.40")
