"""deals keep the deal's lead source (marketing-sourced revenue)

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deals') as batch_op:
        batch_op.add_column(sa.Column('lead_source', sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deals') as batch_op:
        batch_op.drop_column('lead_source')
