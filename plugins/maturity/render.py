"""An assessment (and the history) as a rich table, exact JSON, Markdown or HTML."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import typer
from attain.core.output import dumps
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text


class Format(StrEnum):
    table = "table"
    json = "json"
    md = "md"
    html = "html"


def _v(value: Any) -> str:
    """A criterion's value in one short cell."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_v(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_v(v) for v in value)
    return str(value)


def _mark(met: Any) -> str:
    return "–" if met is None else ("✓" if met else "✗")


def _criterion_cells(c: Mapping[str, Any]) -> list[str]:
    flag = " ⚠ contradicted" if c.get("contradicted") else (" (no data)" if c.get("no_data") else "")
    return [str(c["level"]), c["id"], _mark(c["met"]) + flag, c["evidence"],
            "yes" if c["required"] else "no", _v(c["value"]), c["detail"]]


CRITERIA_COLUMNS = ["level", "criterion", "met", "evidence", "required", "value", "detail"]
LEVEL_COLUMNS = ["level", "name", "reached", "progress %", "confidence"]


def _level_cells(lv: Mapping[str, Any]) -> list[str]:
    return [str(lv["level"]), lv["name"], _mark(lv["reached"]), str(lv["progress"]),
            str(lv["confidence"])]


def _change_lines(ch: Mapping[str, Any] | None) -> list[str]:
    if ch is None:
        return ["first assessment: nothing to compare with"]
    prev = ch["previous"]
    lines = [f"since assessment #{prev['id']} ({prev['assessed_at']}, as of {prev['as_of']}): "
             f"level {ch['level']['was']} → {ch['level']['now']}"]
    for c in ch["criteria"]:
        lines.append(f"{c['id']}: met {_mark(c['was_met'])} → {_mark(c['met'])}, "
                     f"value {_v(c['was_value'])} → {_v(c['value'])}")
    lines.extend(f"{name}: no longer assessed" for name in ch.get("removed", []))
    if not ch["criteria"] and not ch.get("removed"):
        lines.append("no criterion changed")
    return lines


def _headline(a: Mapping[str, Any]) -> str:
    return (f"Maturity of tenant {a['tenant']} as of {a['as_of']}: level {a['level']} "
            f"({a['level_name']}), confidence {a['confidence']}")


def table(a: Mapping[str, Any]) -> Group:
    levels = Table(title=_headline(a))
    for c in LEVEL_COLUMNS:
        levels.add_column(c)
    for lv in a["levels"]:
        levels.add_row(*_level_cells(lv))
    crit = Table(title="Criteria")
    for c in CRITERIA_COLUMNS:
        crit.add_column(c, overflow="fold")
    for c in a["criteria"]:
        crit.add_row(*_criterion_cells(c))
    recs = Table(title="Recommendations")
    for c in ("priority", "criterion", "recommendation"):
        recs.add_column(c, overflow="fold")
    for r in a["recommendations"]:
        recs.add_row(str(r["priority"]), r["criterion"], r["text"])
    parts: list[Any] = [levels, crit, recs]
    for x in a.get("contradictions", []):
        parts.append(Text(f"⚠ contradicted answer {x['criterion']}: {x['detail']}"))
    parts.append(Text("\n".join(_change_lines(a.get("changes")))))
    return Group(*parts)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def esc(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out.extend("| " + " | ".join(esc(c) for c in r) + " |" for r in rows)
    return out


def markdown(a: Mapping[str, Any]) -> str:
    lines = [f"# {_headline(a)}", "", "## Levels", ""]
    lines += _md_table(LEVEL_COLUMNS, [_level_cells(lv) for lv in a["levels"]])
    lines += ["", "## Criteria", ""]
    lines += _md_table(CRITERIA_COLUMNS, [_criterion_cells(c) for c in a["criteria"]])
    lines += ["", "## Recommendations", ""]
    lines += [f"{i}. **P{r['priority']}** `{r['criterion']}`: {r['text']}"
              for i, r in enumerate(a["recommendations"], start=1)] or ["none"]
    if a.get("contradictions"):
        lines += ["", "## Contradicted answers", ""]
        lines += [f"- `{x['criterion']}`: {x['detail']}" for x in a["contradictions"]]
    lines += ["", "## Changes", ""] + [f"- {s}" for s in _change_lines(a.get("changes"))]
    return "\n".join(lines) + "\n"


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(a: Mapping[str, Any]) -> str:
    recs = "".join(f"<li><strong>P{r['priority']}</strong> <code>{html.escape(r['criterion'])}</code>: "
                   f"{html.escape(r['text'])}</li>" for r in a["recommendations"])
    contra = "".join(f"<li><code>{html.escape(x['criterion'])}</code>: {html.escape(x['detail'])}</li>"
                     for x in a.get("contradictions", []))
    changes = "".join(f"<li>{html.escape(s)}</li>" for s in _change_lines(a.get("changes")))
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Attain maturity</title>"
            "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
            f"<h1>{html.escape(_headline(a))}</h1><h2>Levels</h2>"
            + _html_table(LEVEL_COLUMNS, [_level_cells(lv) for lv in a["levels"]])
            + "<h2>Criteria</h2>"
            + _html_table(CRITERIA_COLUMNS, [_criterion_cells(c) for c in a["criteria"]])
            + f"<h2>Recommendations</h2><ol>{recs}</ol>"
            + (f"<h2>Contradicted answers</h2><ul>{contra}</ul>" if contra else "")
            + f"<h2>Changes</h2><ul>{changes}</ul></body></html>\n")


def emit(a: Mapping[str, Any], fmt: Format, console: Console) -> None:
    if fmt is Format.json:
        typer.echo(dumps(a))
    elif fmt is Format.md:
        typer.echo(markdown(a), nl=False)
    elif fmt is Format.html:
        typer.echo(to_html(a), nl=False)
    else:
        console.print(table(a))


def emit_rows(rows: Sequence[Mapping[str, Any]], fmt: Format, title: str, console: Console,
              table_columns: Sequence[str] | None = None) -> None:
    """Plain rows (e.g. the criteria list) in any format (the table: ``table_columns``)."""
    if fmt is Format.json:
        typer.echo(dumps(list(rows)))
        return
    header = list(rows[0]) if rows else []
    cells = [[_v(r[h]) for h in header] for r in rows]
    if fmt is Format.md:
        typer.echo(f"# {title}\n\n" + "\n".join(_md_table(header, cells)))
    elif fmt is Format.html:
        typer.echo(f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
                   f"</title></head><body><h1>{html.escape(title)}</h1>"
                   + _html_table(header, cells) + "</body></html>")
    else:
        shown = list(table_columns or header)
        t = Table(title=title)
        for h in shown:
            t.add_column(h, overflow="fold")
        for r in rows:
            t.add_row(*[_v(r[h]) for h in shown])
        console.print(t)


# -- history -------------------------------------------------------------------------------------


def history_rows(history: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """One column per assessment: the level, its progress per level and each criterion."""
    header = ["", *[f"#{h['id']} {str(h['as_of'])}" for h in history]]
    rows = [["assessed at", *[str(h["assessed_at"]) for h in history]],
            ["level", *[str(h["level"]) for h in history]],
            ["confidence", *[str(h["confidence"]) for h in history]]]
    levels = sorted({k for h in history for k in h["levels"]}, key=int)
    rows += [[f"level {k} progress %", *[str(h["levels"].get(k, "–")) for h in history]] for k in levels]
    names = list(dict.fromkeys(n for h in history for n in h["criteria"]))
    rows += [[n, *[_mark(h["criteria"].get(n)) for h in history]] for n in names]
    return header, rows


def emit_history(history: Sequence[Mapping[str, Any]], fmt: Format, console: Console) -> None:
    if fmt is Format.json:
        typer.echo(dumps(list(history)))
        return
    if not history:
        if fmt is Format.table:
            console.print("no assessment stored yet: run attain maturity assess")
        else:
            typer.echo("no assessment stored yet")
        return
    header, rows = history_rows(history)
    if fmt is Format.md:
        typer.echo("# Maturity history\n\n" + "\n".join(_md_table(header, rows)))
    elif fmt is Format.html:
        typer.echo("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Attain "
                           "maturity history</title></head><body><h1>Maturity history</h1>"
                           + _html_table(header, rows) + "</body></html>")
    else:
        t = Table(title="Maturity history")
        for h in header:
            t.add_column(h)
        for r in rows:
            t.add_row(*r)
        console.print(t)
