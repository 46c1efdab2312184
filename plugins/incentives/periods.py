"""Commission periods: calendar months (``2017-03``), quarters (``2017-Q1``) and years (``2017``).

A period is a closed date range ``[start, end]``. Periods of one kind are totally ordered and
``next``/``prev`` step through them. Locking a quarter or a year locks every month inside it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

PeriodKind = Literal["month", "quarter", "year"]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")


class PeriodError(ValueError):
    """A period text that is not ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``."""


@dataclass(frozen=True, order=True, slots=True)
class Period:
    """``index`` is the month (1–12), the quarter (1–4) or 1 for a year."""

    kind: PeriodKind
    year: int
    index: int

    # -- construction ------------------------------------------------------------------------

    @staticmethod
    def parse(text: str) -> Period:
        return _parse(text.strip())

    @staticmethod
    def of(day: dt.date, kind: PeriodKind) -> Period:
        return _of(day, kind)

    # -- properties --------------------------------------------------------------------------

    @property
    def key(self) -> str:
        if self.kind == "month":
            return f"{self.year}-{self.index:02d}"
        if self.kind == "quarter":
            return f"{self.year}-Q{self.index}"
        return f"{self.year}"

    def __str__(self) -> str:
        return self.key

    @property
    def start(self) -> dt.date:
        if self.kind == "month":
            return dt.date(self.year, self.index, 1)
        if self.kind == "quarter":
            return dt.date(self.year, 3 * self.index - 2, 1)
        return dt.date(self.year, 1, 1)

    @property
    def end(self) -> dt.date:
        return self.next().start - dt.timedelta(days=1)

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def months(self) -> list[Period]:
        """The months inside this period (itself for a month)."""
        if self.kind == "month":
            return [self]
        first = self.start.month
        count = 3 if self.kind == "quarter" else 12
        return [Period("month", self.year, m) for m in range(first, first + count)]

    def parents(self) -> list[Period]:
        """The periods that contain this one (a month's quarter and year; a quarter's year)."""
        out: list[Period] = []
        if self.kind == "month":
            out.append(Period("quarter", self.year, (self.index - 1) // 3 + 1))
        if self.kind != "year":
            out.append(Period("year", self.year, 1))
        return out

    def next(self) -> Period:
        if self.kind == "month":
            return Period("month", self.year + self.index // 12, self.index % 12 + 1)
        if self.kind == "quarter":
            return Period("quarter", self.year + self.index // 4, self.index % 4 + 1)
        return Period("year", self.year + 1, 1)

    def prev(self) -> Period:
        if self.kind == "month":
            return (Period("month", self.year - 1, 12) if self.index == 1
                    else Period("month", self.year, self.index - 1))
        if self.kind == "quarter":
            return (Period("quarter", self.year - 1, 4) if self.index == 1
                    else Period("quarter", self.year, self.index - 1))
        return Period("year", self.year - 1, 1)

    def overlaps(self, start: dt.date | None, end: dt.date | None) -> bool:
        """Whether ``[start, end]`` (None = open-ended) overlaps this period."""
        return (start is None or start <= self.end) and (end is None or end >= self.start)


@lru_cache(maxsize=4096)
def _parse(text: str) -> Period:
    if m := _MONTH.match(text):
        month = int(m.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"{text!r}: month must be 01–12")
        return Period("month", int(m.group(1)), month)
    if m := _QUARTER.match(text):
        return Period("quarter", int(m.group(1)), int(m.group(2)))
    if m := _YEAR.match(text):
        return Period("year", int(m.group(1)), 1)
    raise PeriodError(f"{text!r} is not a period; use YYYY-MM (month), YYYY-Qn (quarter) or YYYY")


@lru_cache(maxsize=65536)
def _of(day: dt.date, kind: PeriodKind) -> Period:
    if kind == "month":
        return Period("month", day.year, day.month)
    if kind == "quarter":
        return Period("quarter", day.year, (day.month - 1) // 3 + 1)
    return Period("year", day.year, 1)


def month_key(day: dt.date) -> str:
    """``2017-03-14`` → ``"2017-03"`` (the index key of the calculator)."""
    return _of(day, "month").key


def periods_between(first: Period, last: Period) -> list[Period]:
    """Every period of ``first.kind`` from ``first`` to ``last`` inclusive."""
    out = []
    p = first
    while p <= last:
        out.append(p)
        p = p.next()
    return out
