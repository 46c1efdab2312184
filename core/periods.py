"""One period model and one event-day rule for the whole of Attain.

**The day of an event is its UTC calendar day** (:func:`utc_day`): ``2017-03-31T23:30:00-05:00``
is 2017-04-01 04:30 UTC, so it counts in April and in 2017-Q2 for KPIs (a lead's or activity's
quarter), goals and commissions alike. A time without an offset is taken as UTC. (A deal counts on
its ``closed_on``/``engaged_on`` dates, which are dates already.)

A :class:`Period` is an inclusive range of days with a label: a calendar year (``"2017"``), half
(``"2017-H1"``), quarter (``"2017-Q3"``), month (``"2017-07"``) or any range
(``"2017-01-15..2017-02-14"``). :meth:`Period.parse` reads the calendar periods commissions use
(month, quarter, year); :func:`parse_period` reads every form (goals).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

PeriodKind = Literal["year", "half", "quarter", "month", "custom"]
CalendarKind = Literal["month", "quarter", "year"]
SplitKind = Literal["quarter", "month"]

_NO_OFFSET = dt.timedelta(0)


def naive_utc(t: dt.datetime) -> dt.datetime:
    """``t`` in UTC without tzinfo (how the store keeps times); a naive time is taken as UTC."""
    if t.tzinfo is None:
        return t
    if t.utcoffset() == _NO_OFFSET:
        return t.replace(tzinfo=None)
    return t.astimezone(dt.UTC).replace(tzinfo=None)


def utc_day(t: dt.datetime) -> dt.date:
    """The day an event counts on: the UTC calendar day of ``t`` (naive = UTC)."""
    if t.tzinfo is not None and t.utcoffset() != _NO_OFFSET:
        t = t.astimezone(dt.UTC)
    return t.date()


def quarter_of(day: dt.date | None) -> str:
    """``2017-04-03`` → ``"2017-Q2"``; ``""`` when there is no date."""
    if day is None:
        return ""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


class PeriodError(ValueError):
    """A period that cannot be understood."""


PERIOD_HELP = ('"2017", "2017-H1", "2017-Q3", "2017-07", "2017-01-15..2017-02-14" '
               "or {start: 2017-01-15, end: 2017-02-14}")

_YEAR = re.compile(r"^(\d{4})$")
_HALF = re.compile(r"^(\d{4})-H([12])$", re.I)
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.I)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})$")


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _shift_date(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February in a year without one
        return d.replace(year=d.year + years, day=28)


@dataclass(frozen=True, order=True, slots=True)
class Period:
    """An inclusive range of days with a label; periods order by start, then end."""

    start: dt.date
    end: dt.date
    label: str
    kind: PeriodKind = "custom"

    # -- construction --------------------------------------------------------------------------

    @staticmethod
    def calendar(kind: CalendarKind | Literal["half"], year: int, index: int = 1) -> Period:
        """Month ``index`` (1–12), quarter (1–4), half (1–2) or the year ``year``."""
        return _calendar(kind, year, index)

    @staticmethod
    def parse(text: str) -> Period:
        """A month (``2017-03``), quarter (``2017-Q1``, ``2017q1``) or year (``2017``)."""
        return _parse_calendar(text.strip())

    @staticmethod
    def of(day: dt.date, kind: CalendarKind) -> Period:
        """The month, quarter or year containing ``day``."""
        return _of(day, kind)

    # -- properties ----------------------------------------------------------------------------

    @property
    def key(self) -> str:
        """The label (``2017-03``, ``2017-Q1``, ``2017``, ``2017-01-15..2017-02-14``)."""
        return self.label

    @property
    def year(self) -> int:
        return self.start.year

    @property
    def index(self) -> int:
        """The month (1–12), quarter (1–4) or half (1–2) of the year; 1 for a year."""
        m = self.start.month
        return {"month": m, "quarter": (m - 1) // 3 + 1, "half": (m - 1) // 6 + 1}.get(self.kind, 1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __str__(self) -> str:
        return self.label

    def contains(self, day: dt.date | None) -> bool:
        return day is not None and self.start <= day <= self.end

    def overlaps(self, start: dt.date | None, end: dt.date | None) -> bool:
        """Whether ``[start, end]`` (None = open-ended) overlaps this period."""
        return (start is None or start <= self.end) and (end is None or end >= self.start)

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

    # -- stepping ------------------------------------------------------------------------------

    def next(self) -> Period:
        """The following period of the same kind (a range: the same length, right after)."""
        if self.kind == "custom":
            return custom(self.end + dt.timedelta(days=1), self.end + dt.timedelta(days=self.days))
        steps = {"month": 12, "quarter": 4, "half": 2, "year": 1}[self.kind]
        i = self.index
        return _calendar(self.kind, self.year + i // steps, i % steps + 1)

    def prev(self) -> Period:
        """The period of the same kind before this one."""
        if self.kind == "custom":
            return custom(self.start - dt.timedelta(days=self.days), self.start - dt.timedelta(days=1))
        steps = {"month": 12, "quarter": 4, "half": 2, "year": 1}[self.kind]
        i = self.index
        return _calendar(self.kind, self.year - 1, steps) if i == 1 else _calendar(self.kind, self.year, i - 1)

    def parents(self) -> list[Period]:
        """The calendar periods that contain this one (a month's quarter and year; a quarter's
        year)."""
        out: list[Period] = []
        if self.kind == "month":
            out.append(_calendar("quarter", self.year, (self.index - 1) // 3 + 1))
        if self.kind in ("month", "quarter", "half"):
            out.append(_calendar("year", self.year, 1))
        return out

    def shift_years(self, years: int) -> Period:
        """The same period ``years`` earlier (negative) or later."""
        if self.kind == "custom":
            return custom(_shift_date(self.start, years), _shift_date(self.end, years))
        return _calendar(self.kind, self.year + years, self.index)

    def split(self, into: SplitKind) -> list[Period]:
        """Calendar quarters or months of this period, clipped to it, in order."""
        out: list[Period] = []
        p = _of(self.start, into)
        while p.start <= self.end:
            start, end = max(p.start, self.start), min(p.end, self.end)
            out.append(p if (start, end) == (p.start, p.end) else custom(start, end))
            p = p.next()
        return out

    def months(self) -> list[Period]:
        """The months inside this period (itself for a month)."""
        return self.split("month")

    def as_json(self) -> str | dict[str, str]:
        if self.kind == "custom":
            return {"start": self.start.isoformat(), "end": self.end.isoformat()}
        return self.label


@lru_cache(maxsize=4096)
def _calendar(kind: str, year: int, index: int) -> Period:
    if kind == "month":
        return Period(dt.date(year, index, 1), _month_end(year, index), f"{year}-{index:02d}", "month")
    if kind == "quarter":
        return Period(dt.date(year, 3 * index - 2, 1), _month_end(year, 3 * index), f"{year}-Q{index}",
                      "quarter")
    if kind == "half":
        return Period(dt.date(year, 6 * index - 5, 1), _month_end(year, 6 * index), f"{year}-H{index}",
                      "half")
    if kind == "year":
        return Period(dt.date(year, 1, 1), dt.date(year, 12, 31), f"{year}", "year")
    raise PeriodError(f"unknown period kind {kind!r}")


@lru_cache(maxsize=65536)
def _of(day: dt.date, kind: str) -> Period:
    if kind == "month":
        return _calendar("month", day.year, day.month)
    if kind == "quarter":
        return _calendar("quarter", day.year, (day.month - 1) // 3 + 1)
    return _calendar("year", day.year, 1)


@lru_cache(maxsize=4096)
def _parse_calendar(text: str) -> Period:
    if m := _MONTH.match(text):
        month = int(m.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"{text!r}: month must be 01–12")
        return _calendar("month", int(m.group(1)), month)
    if m := _QUARTER.match(text):
        return _calendar("quarter", int(m.group(1)), int(m.group(2)))
    if m := _YEAR.match(text):
        return _calendar("year", int(m.group(1)), 1)
    raise PeriodError(f"{text!r} is not a period; use YYYY-MM (month), YYYY-Qn (quarter) or YYYY")


def custom(start: dt.date, end: dt.date) -> Period:
    """The range ``start..end`` (both included)."""
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
    """Any period: ``"2017"``, ``"2017-H1"``, ``"2017-Q3"``, ``"2017-07"``,
    ``"2017-01-15..2017-02-14"`` or ``{start: …, end: …}``; raises :class:`PeriodError` naming
    what is wrong."""
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
        return _calendar("year", int(m[1]), 1)
    if m := _HALF.match(text):
        return _calendar("half", int(m[1]), int(m[2]))
    if (m := re.match(r"^(\d{4})-Q([1-4])$", text, re.I)):
        return _calendar("quarter", int(m[1]), int(m[2]))
    if (m := _MONTH.match(text)) and 1 <= int(m[2]) <= 12:
        return _calendar("month", int(m[1]), int(m[2]))
    if m := _RANGE.match(text):
        return custom(_date(m[1], "start"), _date(m[2], "end"))
    raise PeriodError(f"period {text!r} is not understood; use {PERIOD_HELP}")


def periods_between(first: Period, last: Period) -> list[Period]:
    """Every period of ``first.kind`` from ``first`` to ``last`` inclusive."""
    out = []
    p = first
    while p <= last:
        out.append(p)
        p = p.next()
    return out


def month_key(day: dt.date) -> str:
    """``2017-03-14`` → ``"2017-03"``."""
    return _of(day, "month").label
