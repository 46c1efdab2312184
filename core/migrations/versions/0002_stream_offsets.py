"""stream offsets committed with the batch; events index on (tenant, type)

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'stream_offsets',
        sa.Column('group_id', sa.String(length=200), nullable=False),
        sa.Column('topic', sa.String(length=250), nullable=False),
        sa.Column('partition', sa.Integer(), nullable=False),
        sa.Column('next_offset', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('group_id', 'topic', 'partition'),
    )
    op.create_index('ix_events_tenant_type', 'events', ['tenant', 'type'])


def downgrade() -> None:
    op.drop_index('ix_events_tenant_type', table_name='events')
    op.drop_table('stream_offsets')
