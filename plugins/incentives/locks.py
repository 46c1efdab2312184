"""Commission periods of one tenant: which are locked (a locked period never changes) and the
first open period after one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from .db import (
    PeriodRow,
    StatementRow,
)
from .inputs import Inputs
from .periods import Period


class Locks(Inputs):
    """Period locks on top of the inputs."""

    # -- periods -----------------------------------------------------------------------------

    def locked_keys(self) -> set[str]:
        with self.session() as s:
            return set(s.scalars(select(PeriodRow.period).where(
                PeriodRow.tenant == self.tenant, PeriodRow.locked.is_(True))))

    def is_locked(self, period: Period, locked: set[str] | None = None) -> bool:
        keys = self.locked_keys() if locked is None else locked
        return period.key in keys or any(p.key in keys for p in period.parents())

    def first_open_after(self, period: Period, locked: set[str] | None = None) -> Period:
        keys = self.locked_keys() if locked is None else locked
        p = period.next()
        while self.is_locked(p, keys):
            p = p.next()
        return p

    def periods(self) -> list[dict[str, Any]]:
        with self.session() as s:
            locks = {r.period: r for r in s.scalars(select(PeriodRow).where(
                PeriodRow.tenant == self.tenant))}
            counts = dict(s.execute(select(StatementRow.period, func.count()).where(
                StatementRow.tenant == self.tenant).group_by(StatementRow.period)).all())
        keys = sorted(set(locks) | set(counts))
        return [{"period": k, "locked": bool(locks.get(k) and locks[k].locked),
                 "locked_at": locks[k].locked_at if k in locks else None,
                 "locked_by": locks[k].locked_by if k in locks else None,
                 "statements": counts.get(k, 0)} for k in keys]
