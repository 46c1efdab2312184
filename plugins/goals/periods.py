"""Goal periods: a year, a half, a quarter, a month, or any inclusive date range.

``"2017"``, ``"2017-H1"``, ``"2017-Q3"``, ``"2017-07"``, ``"2017-01-15..2017-02-14"`` or a
mapping ``{start: 2017-01-15, end: 2017-02-14}`` (both days included).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

PeriodKind = Literal["year", "half", "quarter", "month", "custom"]
SplitKind = Literal["quarter", "month"]

PERIOD_HELP = ('"2017", "2017-H1", "2017-Q3", "2017-07", "2017-01-15..2017-02-14" '
               "or {start: 2017-01-15, end: 2017-02-14}")

_YEAR = re.compile(r"^(\d{4})$")
_HALF = re.compile(r"^(\d{4})-H([12])$", re.I)
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.I)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})$")


class PeriodError(ValueError):
    """A period that cannot be understood."""


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _shift_date(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February in a year without one
        return d.replace(year=d.year + years, day=28)


@dataclass(frozen=True, order=True)
class Period:
    """An inclusive range of days with a human label."""

    start: dt.date
    end: dt.date
    label: str
    kind: PeriodKind = "custom"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def contains(self, day: dt.date | None) -> bool:
        return day is not None and self.start <= day <= self.end

    def elapsed_days(self, as_of: dt.date) -> int:
        """Days of the period up to and including ``as_of`` (0 before it, all after it)."""
        if as_of < self.start:
            return 0
        return (min(as_of, self.end) - self.start).days + 1

    def upto(self, as_of: dt.date) -> Period | None:
        """The part of the period up to and including ``as_of`` (None before it starts)."""
        if as_of < self.start:
            return None
        if as_of >= self.end:
            return self
        return custom(self.start, as_of)

    def shift_years(self, years: int) -> Period:
        """The same period ``years`` earlier (negative) or later."""
        if self.kind == "custom":
            return custom(_shift_date(self.start, years), _shift_date(self.end, years))
        year = self.start.year + years
        return parse_period(f"{year}{self.label[4:]}")

    def split(self, into: SplitKind) -> list[Period]:
        """Calendar quarters or months of this period, clipped to it, in order."""
        out: list[Period] = []
        y, m = self.start.year, self.start.month
        if into == "quarter":
            m = 3 * ((m - 1) // 3) + 1
        step = 3 if into == "quarter" else 1
        while dt.date(y, m, 1) <= self.end:
            if into == "quarter":
                whole = parse_period(f"{y}-Q{(m - 1) // 3 + 1}")
            else:
                whole = parse_period(f"{y}-{m:02d}")
            start, end = max(whole.start, self.start), min(whole.end, self.end)
            out.append(whole if (start, end) == (whole.start, whole.end) else custom(start, end))
            m += step
            if m > 12:
                y, m = y + 1, m - 12
        return out

    def months(self) -> list[Period]:
        return self.split("month")

    def as_json(self) -> str | dict[str, str]:
        if self.kind == "custom":
            return {"start": self.start.isoformat(), "end": self.end.isoformat()}
        return self.label

    def __str__(self) -> str:
        return self.label


def custom(start: dt.date, end: dt.date) -> Period:
    if end < start:
        raise PeriodError(f"period ends ({end}) before it starts ({start})")
    return Period(start, end, f"{start.isoformat()}..{end.isoformat()}", "custom")


def _date(v: Any, what: str) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v).strip())
    except ValueError:
        raise PeriodError(f"period {what} {v!r} is not a date (YYYY-MM-DD)") from None


def parse_period(value: Any) -> Period:
    """Parse a period; raises :class:`PeriodError` naming what is wrong."""
    if isinstance(value, Period):
        return value
    if isinstance(value, Mapping):
        missing = [k for k in ("start", "end") if value.get(k) in (None, "")]
        if missing:
            raise PeriodError(f"period range needs {' and '.join(missing)} (use {PERIOD_HELP})")
        extra = set(value) - {"start", "end"}
        if extra:
            raise PeriodError(f"period range has unknown keys {sorted(extra)}; use start and end")
        return custom(_date(value["start"], "start"), _date(value["end"], "end"))
    if isinstance(value, bool) or value is None:
        raise PeriodError(f"period {value!r} is not a period; use {PERIOD_HELP}")
    text = str(value).strip()
    if m := _YEAR.match(text):
        y = int(m[1])
        return Period(dt.date(y, 1, 1), dt.date(y, 12, 31), text, "year")
    if m := _HALF.match(text):
        y, h = int(m[1]), int(m[2])
        return Period(dt.date(y, 6 * h - 5, 1), _month_end(y, 6 * h), f"{y}-H{h}", "half")
    if m := _QUARTER.match(text):
        y, q = int(m[1]), int(m[2])
        return Period(dt.date(y, 3 * q - 2, 1), _month_end(y, 3 * q), f"{y}-Q{q}", "quarter")
    if m := _MONTH.match(text):
        y, mo = int(m[1]), int(m[2])
        return Period(dt.date(y, mo, 1), _month_end(y, mo), text, "month")
    if m := _RANGE.match(text):
        return custom(_date(m[1], "start"), _date(m[2], "end"))
    raise PeriodError(f"period {text!r} is not understood; use {PERIOD_HELP}")
