"""the api plugin's table (api_tokens)

Revision ID: api_0001
Revises:
"""
from __future__ import annotations

from alembic import op
from attain.core.store import create_missing

revision = "api_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from attain.plugins.api.tokens import ApiBase

    create_missing(op.get_bind(), ApiBase.metadata)


def downgrade() -> None:
    op.drop_table("api_tokens")
