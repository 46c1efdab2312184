"""Commission periods: calendar months (``2017-03``), quarters (``2017-Q1``) and years (``2017``)
of the core's one period model (:mod:`attain.core.periods`).

A period is a closed date range ``[start, end]``. Periods of one kind are totally ordered and
``next``/``prev`` step through them. Locking a quarter or a year locks every month inside it.
"""

from attain.core.periods import CalendarKind as PeriodKind
from attain.core.periods import Period, PeriodError, month_key, periods_between

__all__ = ["Period", "PeriodError", "PeriodKind", "month_key", "periods_between"]
