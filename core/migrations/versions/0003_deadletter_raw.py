"""dead letters keep the original bytes of inputs that are not storable text

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deadletters') as batch_op:
        batch_op.add_column(sa.Column('raw', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deadletters') as batch_op:
        batch_op.drop_column('raw')
