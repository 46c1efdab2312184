"""Statement output: CSV and a self-contained HTML page (JSON goes through attain.core.output)."""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

from attain.core import output

LINE_COLUMNS = ["line", "rule", "type", "kind", "deal", "rep", "share_pct", "basis", "rate",
                "tier", "exact", "amount", "note", "source_period", "plugin", "plugin_version"]


def statement_csv(st: dict[str, Any]) -> str:
    rows = [dict(ln) for ln in st["lines"]]
    rows.append({"line": "", "rule": "TOTAL", "amount": st["total"]})
    return output.to_csv(rows, LINE_COLUMNS)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, Decimal):
        return format(v, "f")
    return str(v)


def money(v: Any) -> str:
    return output.money(v)


def statement_html(st: dict[str, Any]) -> str:
    e = html.escape
    head = [("Rep", st["rep"]), ("Period", st["period"]), ("Status", st["status"]),
            ("Plan", f"{st.get('plan')} v{st.get('plan_version')}"),
            ("Quota", money(st.get("quota"))), ("Credited", money(st.get("credited"))),
            ("Attainment", f"{_cell(st.get('attainment_pct'))} %"),
            ("Revision", _cell(st.get("revision")))]
    if st.get("team_credited") is not None:
        head += [("Team credited", money(st["team_credited"])),
                 ("Team quota", money(st.get("team_quota"))),
                 ("Team attainment", f"{_cell(st.get('team_attainment_pct'))} %")]
    cols = ["line", "rule", "kind", "deal", "rep", "basis", "rate", "tier", "amount", "note",
            "plugin"]
    body = "".join(
        "<tr>" + "".join(
            f"<td class=\"{'num' if c in ('basis', 'rate', 'amount', 'line') else ''}\">"
            f"{e(money(ln.get(c)) if c in ('basis', 'amount') else _cell(ln.get(c)))}</td>"
            for c in cols) + "</tr>\n"
        for ln in st["lines"])
    diff = ""
    if st.get("difference"):
        d = st["difference"]
        diff = (f"<p class=\"warn\">Changed since approval: approved {e(money(d['approved_total']))}"
                f", now {e(money(d['total']))} (difference {e(money(d['delta']))}). "
                f"Needs re-approval.</p>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Commission statement {e(st['rep'])} {e(st['period'])}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px}}
td.num{{text-align:right;font-variant-numeric:tabular-nums}}th{{background:#f3f3f3}}
.total td{{font-weight:bold}}.warn{{color:#a40}}
</style></head><body>
<h1>Commission statement</h1>
<table>{''.join(f'<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>' for k, v in head)}</table>
{diff}
<table><thead><tr>{''.join(f'<th>{e(c)}</th>' for c in cols)}</tr></thead><tbody>
{body}<tr class="total"><td colspan="8">Total</td><td class="num">{e(money(st['total']))}</td>
<td colspan="2"></td></tr></tbody></table>
<p>Each line is rounded half-even to cents; the total is the sum of the lines.</p>
</body></html>
"""
