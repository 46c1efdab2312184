"""the goals plugin's tables (goals_goals, goals_status, goals_config, goals_clock)

Databases whose tables an earlier version created with ``create_all`` are adopted as they are.

Revision ID: goals_0001
Revises:
"""
from __future__ import annotations

from alembic import op
from attain.core.store import create_missing

revision = "goals_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from attain.plugins.goals.storage import GoalsBase

    create_missing(op.get_bind(), GoalsBase.metadata)


def downgrade() -> None:
    for name in ("goals_clock", "goals_config", "goals_status", "goals_goals"):
        op.drop_table(name)
