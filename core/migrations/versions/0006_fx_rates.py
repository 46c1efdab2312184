"""dated exchange rates per tenant (multi-currency KPIs)

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'fx_rates',
        sa.Column('tenant', sa.String(100), primary_key=True),
        sa.Column('currency', sa.String(3), primary_key=True),
        sa.Column('day', sa.Date(), primary_key=True),
        sa.Column('rate', sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('fx_rates')
