"""the forecast plugin's tables (forecast_runs, forecast_figures)

Revision ID: forecast_0001
Revises:
"""
from __future__ import annotations

from alembic import op
from attain.core.store import create_missing

revision = "forecast_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from attain.plugins.forecast.storage import ForecastBase

    create_missing(op.get_bind(), ForecastBase.metadata)


def downgrade() -> None:
    for name in ("forecast_figures", "forecast_runs"):
        op.drop_table(name)
