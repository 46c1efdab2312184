"""Output helpers: exact JSON (Decimal as JSON numbers, never through float), CSV and tables."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def dumps(obj: Any, indent: int | None = 2) -> str:
    """JSON with Decimal written as an exact JSON number."""
    return "".join(_encode(obj, indent, 0))


def _encode(obj: Any, indent: int | None, level: int) -> Iterable[str]:
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            yield "null"
        else:
            yield format(obj, "f")
    elif obj is None or isinstance(obj, (bool, int, float, str)):
        yield json.dumps(obj)
    elif isinstance(obj, (dt.date, dt.datetime)):
        yield json.dumps(obj.isoformat())
    elif isinstance(obj, Mapping):
        if not obj:
            yield "{}"
            return
        pad, inner = _pads(indent, level)
        items = []
        for k, v in obj.items():
            items.append(json.dumps(str(k)) + ": " + "".join(_encode(v, indent, level + 1)))
        yield "{" + inner + ("," + inner).join(items) + pad + "}"
    elif isinstance(obj, (list, tuple)):
        if not obj:
            yield "[]"
            return
        pad, inner = _pads(indent, level)
        yield "[" + inner + ("," + inner).join("".join(_encode(v, indent, level + 1)) for v in obj) + pad + "]"
    elif hasattr(obj, "model_dump"):
        yield from _encode(obj.model_dump(), indent, level)
    else:
        yield json.dumps(str(obj))


def _pads(indent: int | None, level: int) -> tuple[str, str]:
    if indent is None:
        return "", " "
    return "\n" + " " * (indent * level), "\n" + " " * (indent * (level + 1))


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, Decimal):
        return format(v, "f")
    return str(v)


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def money(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, Decimal):
        return f"{v:,.2f}"
    return str(v)


def plain(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, Decimal):
        return format(v, ",f") if v == v.to_integral_value() else format(v, "f")
    return str(v)
