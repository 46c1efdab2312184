"""deal_lead_links: the converted lead a deal came from (marketing attribution)

Revision ID: 0007
Revises: 0006

Filled from the event log's converted lead events (see attain.core.leadlinks); the stored KPI
signatures are cleared so every tenant's roll-ups are rebuilt with the links on first use.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from attain.core.leadlinks import Link, merge_links
    from attain.core.models import EVENT_ADAPTER
    from pydantic import ValidationError

    links = op.create_table(
        'deal_lead_links',
        sa.Column('tenant', sa.String(100), primary_key=True),
        sa.Column('deal_id', sa.String(200), primary_key=True),
        sa.Column('occurred_at', sa.DateTime(), nullable=False),
        sa.Column('event_id', sa.String(200), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
    )
    conn = op.get_bind()
    events = sa.table('events', sa.column('tenant', sa.String), sa.column('type', sa.String),
                      sa.column('payload', sa.Text))
    best: dict[str, dict[str, Link]] = {}
    q = sa.select(events.c.tenant, events.c.payload).where(
        events.c.type == 'lead', events.c.payload.contains('converted'))
    for tenant, payload in conn.execute(q):
        try:
            ev = EVENT_ADAPTER.validate_json(payload)
        except ValidationError:
            continue
        known = best.setdefault(tenant, {})
        known.update(merge_links(known, [ev]))
    rows = [{"tenant": t, "deal_id": d, "occurred_at": at, "event_id": eid, "source": src}
            for t, per in best.items() for d, (at, eid, src) in per.items()]
    if rows:
        op.bulk_insert(links, rows)
    op.execute("DELETE FROM meta WHERE key = 'kpi_signature'")  # rebuilt with the links


def downgrade() -> None:
    op.drop_table('deal_lead_links')
    op.execute("DELETE FROM meta WHERE key = 'kpi_signature'")
