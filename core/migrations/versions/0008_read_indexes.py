"""indexes of two reads: the event log's newest position per tenant, and each account's first
won deal (the period metrics)

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_events_tenant_id', 'events', ['tenant', 'id'])
    op.create_index('ix_deals_tenant_status_account', 'deals', ['tenant', 'status', 'account', 'closed_on'])


def downgrade() -> None:
    op.drop_index('ix_deals_tenant_status_account', 'deals')
    op.drop_index('ix_events_tenant_id', 'events')
