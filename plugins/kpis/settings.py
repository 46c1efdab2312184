"""The kpis plugin's per-tenant settings, kept in the core's ``meta`` table (tenant, key, value):
the funnel's saved stage order (``attain funnel --save-stages``)."""

from __future__ import annotations

import json

from attain.core import Store, UserError, upsert
from attain.core.models import STAGE_LEN
from attain.core.store import meta_table
from sqlalchemy import delete, select

STAGES_KEY = "kpis:funnel_stages"


def parse_stages(text: str) -> list[str]:
    """A comma-separated stage order: names stripped, none empty, none twice, none too long."""
    stages = [s.strip() for s in text.split(",")]
    if not text.strip() or any(not s for s in stages):
        raise UserError(f"--save-stages: {text!r} has an empty stage name; give e.g. "
                        "'Prospecting,Engaging,Won'")
    seen: set[str] = set()
    for s in stages:
        if len(s) > STAGE_LEN:
            raise UserError(f"--save-stages: the stage name {s[:20]!r}… is longer than {STAGE_LEN} characters")
        if s in seen:
            raise UserError(f"--save-stages: the stage {s!r} is given twice")
        seen.add(s)
    return stages


def saved_stages(store: Store, tenant: str) -> list[str] | None:
    """The tenant's saved stage order, or None."""
    with store.connect() as conn:
        value = conn.execute(select(meta_table.c.value).where(meta_table.c.tenant == tenant,
                                                              meta_table.c.key == STAGES_KEY)).scalar()
    return None if value is None else [str(s) for s in json.loads(value)]


def save_stages(store: Store, tenant: str, stages: list[str] | None) -> None:
    """Save the tenant's stage order (None: forget it, back to the order first seen)."""
    with store.transaction(tenant) as conn:
        if stages is None:
            conn.execute(delete(meta_table).where(meta_table.c.tenant == tenant,
                                                  meta_table.c.key == STAGES_KEY))
        else:
            upsert(conn, meta_table, [{"tenant": tenant, "key": STAGES_KEY, "value": json.dumps(stages)}],
                   ("tenant", "key"), ("value",))


__all__ = ["STAGES_KEY", "parse_stages", "save_stages", "saved_stages"]
