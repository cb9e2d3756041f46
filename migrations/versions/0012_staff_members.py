"""staff members: accounts with a role, and a practice member's portals (issue 11)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idp.store.sql.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_members",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", idp.store.sql.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_staff_members_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_staff_members"),
    )
    op.create_table(
        "staff_portals",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("portal_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["staff_members.account_id"],
            name="fk_staff_portals_account_id_staff_members",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["portal_id"], ["portals.id"], name="fk_staff_portals_portal_id_portals"
        ),
        sa.PrimaryKeyConstraint("account_id", "portal_id", name="pk_staff_portals"),
    )


def downgrade() -> None:
    op.drop_table("staff_portals")
    op.drop_table("staff_members")
