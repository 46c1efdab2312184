"""the incentives plugin's tables (plans, assignments, splits, periods, statements and their
revisions, adjustments, inquiries, accruals, audit, generation)

Databases whose tables an earlier version created with ``create_all`` are adopted as they are.

Revision ID: incentives_0001
Revises:
"""
from __future__ import annotations

from alembic import op
from attain.core.store import create_missing

revision = "incentives_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from attain.plugins.incentives.db import Base

    create_missing(op.get_bind(), Base.metadata)


def downgrade() -> None:
    from attain.plugins.incentives.db import Base

    for table in reversed(Base.metadata.sorted_tables):
        op.drop_table(table.name)
