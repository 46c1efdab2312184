"""The maturity plugin's own tables (prefixed ``maturity_``), migrated with the store's database
(``migrations/``, registered through ``attain_register_migrations``):

* ``maturity_answers`` — the questionnaire's answers, one row per tenant and question;
* ``maturity_assessments`` — every stored assessment, its level and the full result as exact
  JSON (Decimal as JSON numbers, read back as Decimal).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from attain.core import Store, upsert
from attain.core.output import dumps
from sqlalchemy import Boolean, Date, DateTime, Integer, String, Text, insert, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .scoring import Answer


class MaturityBase(DeclarativeBase):
    pass


class AnswerRow(MaturityBase):
    __tablename__ = "maturity_answers"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    question: Mapped[str] = mapped_column(String(200), primary_key=True)
    answer: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[dt.datetime] = mapped_column(DateTime)


class AssessmentRow(MaturityBase):
    __tablename__ = "maturity_assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    model: Mapped[str] = mapped_column(String(200))
    assessed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    as_of: Mapped[dt.date] = mapped_column(Date)
    level: Mapped[int] = mapped_column(Integer)
    data: Mapped[str] = mapped_column(Text)  # the assessment as exact JSON


def now() -> dt.datetime:
    """The current UTC time, naive (as every time in the store), to the second."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


class MaturityRepo:
    """Answers and assessments of one store, every read and write scoped to a tenant."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def answers(self, tenant: str) -> dict[str, Answer]:
        with self.store.connect() as conn:
            rows = conn.execute(select(AnswerRow.question, AnswerRow.answer, AnswerRow.note,
                                       AnswerRow.answered_at).where(AnswerRow.tenant == tenant))
            return {q: Answer(q, bool(a), n, t) for q, a, n, t in rows}

    def save_answers(self, tenant: str, answers: Iterable[Answer]) -> int:
        t = now()
        rows = [{"tenant": tenant, "question": a.question, "answer": a.answer, "note": a.note,
                 "answered_at": a.answered_at or t} for a in answers]
        with self.store.transaction(tenant) as conn:
            upsert(conn, AnswerRow, rows, ["tenant", "question"], ["answer", "note", "answered_at"])
        return len(rows)

    def save_assessment(self, tenant: str, result: dict[str, Any]) -> dict[str, Any]:
        """Store ``result``; returns it with its ``id`` and ``assessed_at``."""
        assessed_at = now()
        with self.store.transaction(tenant) as conn:
            row = conn.execute(insert(AssessmentRow).values(
                tenant=tenant, model=result["model"], assessed_at=assessed_at,
                as_of=result["as_of"], level=result["level"], data="{}"))
            new_id = int(row.inserted_primary_key[0])  # type: ignore[index]
            result = {"id": new_id, "assessed_at": assessed_at, **result}
            conn.execute(update(AssessmentRow).where(AssessmentRow.id == new_id)
                         .values(data=dumps(result, indent=None)))
        return result

    def assessments(self, tenant: str, model: str | None = None,
                    limit: int | None = None) -> list[dict[str, Any]]:
        """Stored assessments of ``tenant`` (of ``model``), oldest first; ``limit``: the newest."""
        q = select(AssessmentRow.data).where(AssessmentRow.tenant == tenant)
        if model is not None:
            q = q.where(AssessmentRow.model == model)
        q = q.order_by(AssessmentRow.id.desc())
        if limit is not None:
            q = q.limit(limit)
        with self.store.connect() as conn:
            out = [loads(r[0]) for r in conn.execute(q)]
        return out[::-1]

    def latest(self, tenant: str, model: str) -> dict[str, Any] | None:
        got = self.assessments(tenant, model, limit=1)
        return got[0] if got else None


def loads(text: str) -> Any:
    """A stored assessment (numbers with a fraction as Decimal, integers as int)."""
    return json.loads(text, parse_float=Decimal)
