"""matching_index: the fingerprint of the secret the blocking keys were made under

Without it a process with another secret (a development server restarted with a
fresh random key, a command run without IDP_SECRET_KEY) made keys that never
matched, and identity matching silently stopped (issue 8, item 14).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "matching_index",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("secret_fingerprint", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_index")),
    )


def downgrade() -> None:
    op.drop_table("matching_index")
