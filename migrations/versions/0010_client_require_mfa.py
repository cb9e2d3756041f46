"""per-client and per-portal "require a second factor" settings (issue 9)

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-05 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("clients", "portals"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("require_mfa", sa.Boolean(), nullable=False, server_default=sa.false())
            )


def downgrade() -> None:
    for table in ("portals", "clients"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("require_mfa")
