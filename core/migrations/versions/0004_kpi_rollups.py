"""KPI roll-ups per (dim, name, grain, period) replace the KPI cell cube

Revision ID: 0004
Revises: 0003

The roll-ups are derived data: the engine fills them from the deals and the event log's facts
(a rebuild) the first time it writes or reads a tenant whose KPI signature is missing, so this
revision only swaps the tables and clears the stored signatures.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'kpi_rollups',
        sa.Column('tenant', sa.String(length=100), nullable=False),
        sa.Column('dim', sa.String(length=10), nullable=False),
        sa.Column('grain', sa.String(length=10), nullable=False),
        sa.Column('period', sa.String(length=12), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('components', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('tenant', 'dim', 'grain', 'period', 'name'),
        sqlite_with_rowid=False,
    )
    op.drop_table('kpi_cells')
    op.execute("DELETE FROM meta WHERE key = 'kpi_signature'")  # rebuilt on first use


def downgrade() -> None:
    op.create_table(
        'kpi_cells',
        sa.Column('tenant', sa.String(length=100), nullable=False),
        sa.Column('cell', sa.String(length=1000), nullable=False),
        sa.Column('owner', sa.String(length=200), nullable=False),
        sa.Column('product', sa.String(length=200), nullable=False),
        sa.Column('account', sa.String(length=200), nullable=False),
        sa.Column('quarter', sa.String(length=10), nullable=False),
        sa.Column('components', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('tenant', 'cell'),
    )
    op.drop_table('kpi_rollups')
    op.execute("DELETE FROM meta WHERE key = 'kpi_signature'")
