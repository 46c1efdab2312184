"""How statement lines and headers are stored: JSON with exact decimal numbers, and the line-by-line
difference of two revisions."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any


def _dec(v: Any) -> Any:
    return str(v) if isinstance(v, Decimal) else v


def lines_to_json(lines: Iterable[dict[str, Any]]) -> str:
    return json.dumps([{k: _dec(v) if k != "inputs" else {ik: _dec(iv) for ik, iv in v.items()}
                        for k, v in ln.items()} for ln in lines], default=str)


def _num(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return Decimal(v)
        except Exception:
            return v
    return v


_NUMERIC = {"share_pct", "basis", "rate", "exact", "amount"}


def lines_from_json(text: str) -> list[dict[str, Any]]:
    out = []
    for ln in json.loads(text):
        d = {k: (_num(v) if k in _NUMERIC else v) for k, v in ln.items()}
        d["inputs"] = {k: _num(v) if k in _INPUT_NUMERIC else v
                       for k, v in (d.get("inputs") or {}).items()}
        out.append(d)
    return out


_INPUT_NUMERIC = {"deal_amount", "credited", "quota", "at_pct", "earned", "draw",
                  "balance_before", "amount_per_deal", "due", "booked"}


def header_to_json(h: Mapping[str, Any]) -> str:
    return json.dumps({k: (_dec(v) if not isinstance(v, dict) else
                           {ik: _dec(iv) for ik, iv in v.items()}) for k, v in h.items()},
                      sort_keys=True, default=str)


def header_from_json(text: str) -> dict[str, Any]:
    h = json.loads(text)
    for k in ("quota", "credited", "attainment_pct", "team_credited", "team_quota",
              "team_attainment_pct"):
        if h.get(k) is not None:
            h[k] = Decimal(h[k])
    if isinstance(h.get("carry"), dict):
        h["carry"] = {k: Decimal(v) for k, v in h["carry"].items()}
    return h


def line_key(d: Mapping[str, Any]) -> tuple[Any, ...]:
    return (d.get("rule"), d.get("kind"), d.get("deal"), d.get("rep"), d.get("tier"),
            d.get("source_period"), d.get("amount"))


def diff_lines(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
               ) -> dict[str, Any]:
    a = Counter(line_key(x) for x in old)
    b = Counter(line_key(x) for x in new)
    removed = a - b
    added = b - a

    def rows(c: Counter[tuple[Any, ...]]) -> list[dict[str, Any]]:
        out = []
        for k, n in sorted(c.items(), key=lambda kv: str(kv[0])):
            for _ in range(n):
                out.append({"rule": k[0], "kind": k[1], "deal": k[2], "rep": k[3], "tier": k[4],
                            "source_period": k[5], "amount": k[6]})
        return out

    return {"added": rows(added), "removed": rows(removed)}
