"""the maturity plugin's tables (maturity_answers, maturity_assessments)

Revision ID: maturity_0001
Revises:
"""
from __future__ import annotations

from alembic import op
from attain.core.store import create_missing

revision = "maturity_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from attain.plugins.maturity.storage import MaturityBase

    create_missing(op.get_bind(), MaturityBase.metadata)


def downgrade() -> None:
    for name in ("maturity_assessments", "maturity_answers"):
        op.drop_table(name)
