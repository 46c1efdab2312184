"""Goal periods: the core's one period model (:mod:`attain.core.periods`).

``"2017"``, ``"2017-H1"``, ``"2017-Q3"``, ``"2017-07"``, ``"2017-01-15..2017-02-14"`` or a
mapping ``{start: 2017-01-15, end: 2017-02-14}`` (both days included).
"""

from attain.core.periods import (
    PERIOD_HELP,
    Period,
    PeriodError,
    PeriodKind,
    SplitKind,
    custom,
    parse_period,
)

__all__ = ["PERIOD_HELP", "Period", "PeriodError", "PeriodKind", "SplitKind", "custom", "parse_period"]
