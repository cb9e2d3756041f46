"""per-client and per-portal "require a second factor" settings (issue 9)

Revision ID: 0010
Revises: 0009
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
    # A plain ADD COLUMN (SQLite has it): a batch copy of ``portals`` would drop a table
    # that portal links point at, which SQLite refuses once there are links.
    for table in ("clients", "portals"):
        op.add_column(
            table,
            sa.Column("require_mfa", sa.Boolean(), nullable=False, server_default=sa.false()),
        )


def downgrade() -> None:
    for table in ("portals", "clients"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("require_mfa")
