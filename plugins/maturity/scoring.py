"""Scoring: every criterion evaluated on the tenant's data and answers, the levels reached, the
confidence of each, contradicted answers, prioritised recommendations, and what changed since
the previous assessment.

* A level is **reached** when all its required criteria are met and every level below is.
* **Progress** of a level: the weight of its met criteria over the weight of all its criteria.
* **Confidence**: the weighted mean of its criteria's confidence — 1.0 for measured evidence,
  0.6 for an answer, 0.3 for an answer the data contradicts, 0.2 for a question not answered.
* An answer **"yes" is contradicted** when the measured criterion it is ``checked_by`` has data
  and is not met; the data wins (the answered criterion is not met) and the answer is flagged.
* **Recommendations**: every criterion not met above the reached level. Priority 1 is a
  required criterion of the next level, 2 an optional one of the next level, 3 and 4 those of the
  level after it, and so on; measured ones say what the data shows.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from attain.core import quantize

from .data import TenantData
from .model import Criterion, Level, MaturityModel, Measurement

log = logging.getLogger("attain.plugins.maturity")

CONFIDENCE = {"measured": Decimal("1.0"), "answered": Decimal("0.6"),
              "contradicted": Decimal("0.3"), "unanswered": Decimal("0.2")}


@dataclass(frozen=True)
class Answer:
    question: str
    answer: bool
    note: str | None = None
    answered_at: dt.datetime | None = None


def _measure(c: Criterion, data: TenantData) -> Measurement:
    try:
        return c.measure_on(data)
    except Exception as exc:  # a partner's criterion must not break the assessment
        log.exception("maturity criterion %r (plugin %r) failed", c.name, c.plugin)
        data.engine.plugins.record_error(c.plugin or "maturity", f"maturity:{c.name}", exc)
        return Measurement(False, None, f"no data: the criterion failed ({type(exc).__name__}); "
                           "see the log", {}, None, no_data=True)


def _answered(c: Criterion, answer: Answer | None, check: Mapping[str, Any] | None
              ) -> dict[str, Any]:
    if answer is None:
        return {"met": False, "value": None, "detail": "not answered yet (attain maturity "
                "questionnaire)", "contradicted": False, "confidence": CONFIDENCE["unanswered"],
                "recommendation": f"answer the questionnaire: {c.question}"}
    row: dict[str, Any] = {"met": answer.answer, "value": answer.answer,
                           "detail": f"answered {'yes' if answer.answer else 'no'}"
                                     + (f" ({answer.note})" if answer.note else ""),
                           "contradicted": False, "confidence": CONFIDENCE["answered"],
                           "recommendation": None if answer.answer else c.recommendation}
    if answer.answer and check is not None and not check["met"] and not check["no_data"]:
        row.update(met=False, contradicted=True, confidence=CONFIDENCE["contradicted"],
                   detail=f"answered yes, but the data contradicts it: {check['detail']}",
                   recommendation=check.get("recommendation") or c.recommendation)
    return row


def evaluate(criteria: Sequence[Criterion], data: TenantData, answers: Mapping[str, Answer]
             ) -> list[dict[str, Any]]:
    """Every criterion's row (measured ones first, so answers can be checked against them)."""
    rows: dict[str, dict[str, Any]] = {}
    for c in criteria:
        if c.evidence != "measured":
            continue
        got = _measure(c, data)
        rows[c.name] = {"met": bool(got.met), "value": got.value, "detail": got.detail,
                        "numbers": dict(got.numbers), "no_data": got.no_data,
                        "contradicted": False, "confidence": CONFIDENCE["measured"],
                        "recommendation": None if got.met else got.recommendation}
    for c in criteria:
        if c.evidence == "answered":
            check = rows.get(c.checked_by) if c.checked_by else None
            rows[c.name] = {**_answered(c, answers.get(c.name), check), "numbers": {},
                            "no_data": False}
    out = []
    for c in criteria:
        r = rows[c.name]
        out.append({"id": c.name, "level": c.level, "description": c.description,
                    "evidence": c.evidence, "required": c.required, "weight": c.weight,
                    "plugin": c.plugin, "checked_by": c.checked_by, **r})
    return out


def _levels(levels: Sequence[Level], rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    below = True
    for lv in sorted(levels, key=lambda x: x.number):
        mine = [r for r in rows if r["level"] == lv.number]
        total = sum((r["weight"] for r in mine), Decimal(0))
        met = sum((r["weight"] for r in mine if r["met"]), Decimal(0))
        conf = sum((r["weight"] * r["confidence"] for r in mine), Decimal(0))
        reached = below and all(r["met"] for r in mine if r["required"])
        below = reached
        out.append({"level": lv.number, "name": lv.name, "description": lv.description,
                    "reached": reached,
                    "progress": Decimal(100) if not total else quantize(met * 100 / total, 1),
                    "confidence": Decimal("1.00") if not total else quantize(conf / total, 2),
                    "criteria": len(mine), "met": sum(1 for r in mine if r["met"]),
                    "missing_required": [r["id"] for r in mine if r["required"] and not r["met"]]})
    return out


def _recommendations(rows: Sequence[dict[str, Any]], level: int) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        if r["met"] or r["level"] <= level:
            continue
        step = r["level"] - level - 1
        text = r.get("recommendation") or f"meet: {r['description']}"
        out.append({"criterion": r["id"], "level": r["level"], "evidence": r["evidence"],
                    "priority": 2 * step + (1 if r["required"] else 2), "text": text,
                    "weight": r["weight"]})
    out.sort(key=lambda x: (x["priority"], -x["weight"], x["evidence"] != "measured", x["criterion"]))
    for x in out:
        del x["weight"]
    return out


def assess(model: MaturityModel, criteria: Sequence[Criterion], data: TenantData,
           answers: Mapping[str, Answer]) -> dict[str, Any]:
    """The assessment of one tenant as of ``data.as_of`` (the JSON shape of docs/maturity.md)."""
    rows = evaluate(criteria, data, answers)
    levels = _levels(model.levels, rows)
    reached = [lv for lv in levels if lv["reached"]]
    level = reached[-1]["level"] if reached else 0
    counted = [r for r in rows if r["level"] <= level]
    weight = sum((r["weight"] for r in counted), Decimal(0))
    conf = (Decimal("1.00") if not weight
            else quantize(sum((r["weight"] * r["confidence"] for r in counted), Decimal(0)) / weight, 2))
    names = {lv.number: lv.name for lv in model.levels}
    nxt = next((lv for lv in levels if not lv["reached"]), None)
    return {
        "tenant": data.tenant, "as_of": data.as_of, "model": model.name,
        "level": level, "level_name": names.get(level, "none"), "confidence": conf,
        "next_level": None if nxt is None else {"level": nxt["level"], "name": nxt["name"],
                                                "missing": nxt["missing_required"]},
        "levels": levels,
        "criteria": [{k: v for k, v in r.items() if k != "recommendation"} for r in rows],
        "contradictions": [{"criterion": r["id"], "checked_by": r["checked_by"], "detail": r["detail"]}
                           for r in rows if r["contradicted"]],
        "recommendations": _recommendations(rows, level),
    }


def changes(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> dict[str, Any] | None:
    """What changed since ``previous`` (a stored assessment): the level and every criterion whose
    met/value moved; None without a previous one."""
    if previous is None:
        return None
    before = {c["id"]: c for c in previous.get("criteria", [])}
    moved = []
    for c in current["criteria"]:
        was = before.get(c["id"])
        if was is None:
            moved.append({"id": c["id"], "was_met": None, "met": c["met"], "was_value": None,
                          "value": c["value"]})
        elif was.get("met") != c["met"] or _plain(was.get("value")) != _plain(c["value"]):
            moved.append({"id": c["id"], "was_met": was.get("met"), "met": c["met"],
                          "was_value": was.get("value"), "value": c["value"]})
    gone = sorted(set(before) - {c["id"] for c in current["criteria"]})
    return {"previous": {"id": previous.get("id"), "assessed_at": previous.get("assessed_at"),
                         "as_of": previous.get("as_of"), "level": previous.get("level")},
            "level": {"was": previous.get("level"), "now": current["level"]},
            "criteria": moved, "removed": gone}


def _plain(v: Any) -> Any:
    """Values compared across a JSON round trip (Decimal and int as text)."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, Decimal)):
        return str(Decimal(v).normalize())
    return str(v)
