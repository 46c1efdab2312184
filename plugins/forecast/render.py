"""The plan document as blocks (headings, paragraphs, tables, lists, charts), rendered to
Markdown, HTML (charts embedded as PNG data) or PDF (WeasyPrint from the HTML; matplotlib's PDF
backend when WeasyPrint is not installed)."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from attain.core import output

Block = tuple[Any, ...]


def money(v: Any) -> str:
    return "–" if v is None else output.money(v)


def pct(v: Any) -> str:
    return "–" if v is None else f"{Decimal(v) * 100:.1f}%"


def plain(v: Any) -> str:
    return output.plain(v)


def _table(cols: Sequence[str], rows: Sequence[Sequence[str]]) -> Block:
    return ("table", list(cols), [list(r) for r in rows])


def blocks(d: dict[str, Any]) -> list[Block]:  # noqa: PLR0915 (one section after the other)
    s, cap, fc, b = d["summary"], d["capacity"], d["forecast"], d["backtest"]
    out: list[Block] = [("h1", f"Sales plan {d['year']}"),
                        ("p", f"From the data up to {d['as_of']} (base year {d['base_year']}).")]
    out.append(("h2", "Executive summary"))
    verdict = "covers" if s["capacity_gap"] <= 0 else "does not cover"
    out.append(("list", [
        f"Target {money(s['target'])}: {d['base_year']} won revenue "
        f"{money(s['last_year_revenue'])} + {pct(s['growth'])}.",
        f"The team's expected revenue at last year's productivity is {money(s['expected_revenue'])}: "
        f"it {verdict} the target (capacity gap {money(s['capacity_gap'])}; hires needed "
        f"{s['hires_needed']}).",
        f"The time-series forecast ({s['model']}) for {d['year']} is {money(s['forecast_total'])}; "
        f"its backtest error is {plain(s['backtest_mape'])}% MAPE.",
        f"Open pipeline {money(s['pipeline'])}, weighted {money(s['weighted_pipeline'])}.",
        "Commission cost: " + (f"{money(s['commission_cost'])} ({cap['commission_plan']})"
                               if s["commission_cost"] is not None else
                               "no plan given (--plan FILE)") + ".",
    ]))
    out.append(("chart", "capacity"))
    ly = d["last_year"]
    out.append(("h2", f"Results {d['base_year']}"))
    out.append(_table(["region", "won revenue", "won", "closed", "win rate", "avg deal size",
                       "cycle days"],
                      [[r["region"], money(r["revenue"]), plain(r["won"]), plain(r["closed"]),
                        pct(r["win_rate"]), money(r["avg_deal_size"]), plain(r["cycle_days"])]
                       for r in ly["regions"]]
                      + [["company", money(ly["revenue"]), plain(ly["won"]), plain(ly["closed"]),
                          pct(ly["win_rate"]), money(ly["avg_deal_size"]),
                          plain(ly["cycle_days"])]]))
    out.append(("h2", "Goals"))
    if d["goals"]:
        out.append(_table(["goal", "metric", "owner", "period", "target", "stretch"],
                          [[g["id"], g["metric"], g["owner"], g["period"], plain(g["target"]),
                            plain(g["stretch"])] for g in d["goals"]]))
    else:
        out.append(("p", f"No goals stored for {d['year']} yet (`attain goals add` / "
                         "`attain goals apply plan.yaml`; cascades with `attain goals cascade`)."))
    seg = d["segments"]
    out.append(("h2", "Markets and segments"))
    out.append(("p", f"Ideal customer profile: **{seg['icp']}** (best mean rank of win rate, deal "
                     f"size and speed); most revenue: {seg['most_revenue']}."))
    out.append(_table(["segment", "won revenue", "won", "win rate", "avg deal size", "cycle days",
                       "score"],
                      [[r["segment"], money(r["revenue"]), plain(r["won"]), pct(r["win_rate"]),
                        money(r["avg_deal_size"]), plain(r["cycle_days"]), plain(r["score"])]
                       for r in seg["segments"]]))
    out.append(("chart", "segments"))
    bn = d["bottlenecks"]
    steps = list(bn["company"])
    out.append(("p", "Funnel conversion per team (bottleneck: the step furthest below the company):"))
    out.append(_table(["team", *steps, "bottleneck"],
                      [["company", *[pct(bn["company"][s_]) for s_ in steps], "–"]]
                      + [[t["team"], *[pct(t[s_]) for s_ in steps], t["bottleneck"] or "–"]
                         for t in bn["teams"]]))
    out.append(("h2", "Forecast"))
    out.append(("p", f"Won revenue per quarter, {fc['model']} with {pct(fc['interval'])} "
                     "prediction intervals; weighted pipeline, commit and best case of the open "
                     "deals expected in each quarter."))
    out.append(_table(["quarter", "forecast", "lower", "upper", "weighted", "commit", "best case"],
                      [[p["period"], money(p["forecast"]), money(p["lower"]), money(p["upper"]),
                        money(p["weighted"]), money(p["commit"]), money(p["best_case"])]
                       for p in fc["periods"]]))
    out.append(("chart", "forecast"))
    out.append(("p", f"Backtest: trained {b['train'][0]}..{b['train'][1]}, tested "
                     f"{b['test'][0]}..{b['test'][1]} (cutoff {b['cutoff']})."))
    out.append(_table(["", "name", "MAPE %", "coverage"],
                      [["model", m["name"], plain(m["mape"]), pct(m["coverage"])]
                       for m in b["models"]]
                      + [["baseline", x["name"], plain(x["mape"]), "–"] for x in b["baselines"]]))
    out.append(("list", list(b["verdicts"])))
    out.append(("h2", "Resources and capacity"))
    out.append(_table(["figure", "value"], [
        ["headcount", plain(cap["headcount"])], ["full-time equivalents", plain(cap["fte"])],
        ["ramp (months)", plain(cap["levers"]["ramp_months"])],
        ["quota total", money(cap["quota_total"])], ["quota coverage", pct(cap["quota_coverage"])],
        ["expected revenue", money(cap["expected_revenue"])],
        ["capacity gap", money(cap["capacity_gap"])], ["hires needed", plain(cap["hires_needed"])],
        ["one hire brings", money(cap["hire_expected_revenue"])]]))
    out.append(("list", list(cap["notes"])))
    out.append(("h2", "Commission plan and cost"))
    if cap["commission_cost"] is not None:
        out.append(_table(["figure", "value"], [
            ["plan", cap["commission_plan"]], ["commission cost", money(cap["commission_cost"])],
            ["share of expected revenue", pct(cap["commission_rate"])],
            ["cost of sales", money(cap["cost_of_sales"])]]))
    else:
        out.append(("p", "No commission plan given: pass `--plan FILE` to cost one."))
    out.append(("h2", "KPIs and targets"))
    out.append(_table(["KPI", str(d["base_year"]), str(d["year"])],
                      [[k["kpi"], _kpi(k["kpi"], k["last_year"]), _kpi(k["kpi"], k["target"])]
                       for k in d["kpis"]]))
    out.append(("h2", "Review timeline"))
    out.append(_table(["when", "what"], [[t["when"], t["what"]] for t in d["timeline"]]))
    out.append(("h2", "Strategy"))
    if d["strategy"]:
        for note in d["strategy"]:
            out.append(("h3", note["title"]))
            out.append(("list", note["points"]))
    else:
        out.append(("p", "No strategy notes given (`--notes strategy.yaml`)."))
    return out


def _kpi(name: str, v: Any) -> str:
    if name == "win_rate":
        return pct(v)
    if name in ("won_revenue", "avg_deal_size", "closed_pipeline_needed"):
        return money(v)
    return plain(v)


def _md_cell(v: str) -> str:
    return v.replace("|", "\\|")


def to_markdown(bl: list[Block], charts: dict[str, str] | None = None) -> str:
    """Markdown; ``charts`` maps a chart to the image path to link (none: charts left out)."""
    lines: list[str] = []
    for blk in bl:
        kind = blk[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + blk[1], ""]
        elif kind == "p":
            lines += [blk[1], ""]
        elif kind == "list":
            lines += [f"- {x}" for x in blk[1]] + [""]
        elif kind == "table":
            cols, rows = blk[1], blk[2]
            lines.append("| " + " | ".join(_md_cell(c) for c in cols) + " |")
            lines.append("|" + "|".join("---" for _ in cols) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
            lines.append("")
        elif kind == "chart" and charts and blk[1] in charts:
            lines += [f"![{blk[1]}]({charts[blk[1]]})", ""]
    return "\n".join(lines)


CSS = """
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 10pt; color: #222; margin: 0; }
h1 { font-size: 20pt; color: #1f3b63; border-bottom: 2px solid #1f3b63; }
h2 { font-size: 14pt; color: #1f3b63; margin-top: 18pt; page-break-after: avoid; }
h3 { font-size: 11pt; }
table { border-collapse: collapse; margin: 6pt 0; page-break-inside: avoid; }
th, td { border: 1px solid #ccc; padding: 2pt 6pt; white-space: nowrap; }
th { background: #eef2f7; text-align: left; }
td.n { text-align: right; }
img { max-width: 100%; page-break-inside: avoid; }
@page { size: A4; margin: 16mm; @bottom-right { content: counter(page); font-size: 8pt; } }
"""


def _inline(text: str) -> str:
    """Markdown's **bold** and `code` in a paragraph, escaped."""
    out, bold, code = [], False, False
    for i, part in enumerate(text.replace("`", "\x00`\x00").replace("**", "\x00**\x00").split("\x00")):
        if part == "**":
            out.append("</b>" if bold else "<b>")
            bold = not bold
        elif part == "`":
            out.append("</code>" if code else "<code>")
            code = not code
        elif part or i:
            out.append(html.escape(part))
    return "".join(out)


def _numeric(v: str) -> bool:
    t = v.replace(",", "").replace("%", "").replace("-", "", 1)
    return t.replace(".", "", 1).isdigit()


def to_html(bl: list[Block], charts: dict[str, bytes]) -> str:
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>{html.escape(bl[0][1])}</title><style>{CSS}</style></head><body>"]
    for blk in bl:
        kind = blk[0]
        if kind in ("h1", "h2", "h3"):
            parts.append(f"<{kind}>{html.escape(blk[1])}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{_inline(blk[1])}</p>")
        elif kind == "list":
            parts.append("<ul>" + "".join(f"<li>{_inline(x)}</li>" for x in blk[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(c)}</th>" for c in blk[1])
            body = "".join("<tr>" + "".join(
                f"<td class='n'>{html.escape(c)}</td>" if _numeric(c) else f"<td>{html.escape(c)}</td>"
                for c in r) + "</tr>" for r in blk[2])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "chart" and blk[1] in charts:
            data = base64.b64encode(charts[blk[1]]).decode("ascii")
            parts.append(f"<img alt='{blk[1]} chart' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "".join(parts)


def to_pdf(bl: list[Block], charts: dict[str, bytes], path: Path) -> str:
    """Write the PDF; returns the engine used (``weasyprint`` or ``matplotlib``)."""
    try:
        import weasyprint
    except ImportError:
        _pdf_matplotlib(bl, charts, path)
        return "matplotlib"
    weasyprint.HTML(string=to_html(bl, charts)).write_pdf(str(path))
    return "weasyprint"


def _pdf_matplotlib(bl: list[Block], charts: dict[str, bytes], path: Path) -> None:
    """A plain PDF without WeasyPrint: the Markdown text on A4 pages, then the charts."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    text = to_markdown(bl).splitlines()
    per_page = 70
    with PdfPages(str(path)) as pdf:
        for start in range(0, len(text), per_page):
            fig = plt.figure(figsize=(8.27, 11.69))
            fig.text(0.05, 0.97, "\n".join(text[start:start + per_page]), va="top",
                     family="monospace", fontsize=6.5)
            pdf.savefig(fig)
            plt.close(fig)
        for png in charts.values():
            fig = plt.figure(figsize=(8.27, 11.69))
            ax = fig.add_axes((0.05, 0.5, 0.9, 0.45))
            ax.imshow(mpimg.imread(io.BytesIO(png), format="png"))
            ax.axis("off")
            pdf.savefig(fig)
            plt.close(fig)
