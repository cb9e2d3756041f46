"""clients register a back-channel logout URI (OpenID Connect Back-Channel Logout 1.0)

Revision ID: 0019
Revises: 0010
Create Date: 2026-12-05 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, as 0010 does: a batch copy of ``clients`` is needless here.
    op.add_column("clients", sa.Column("backchannel_logout_uri", sa.Text(), nullable=True))
    op.add_column(
        "clients",
        sa.Column(
            "backchannel_logout_session_required",
            sa.Boolean(),
            nullable=False,
            server_default=sa.false(),
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("backchannel_logout_session_required")
        batch.drop_column("backchannel_logout_uri")
