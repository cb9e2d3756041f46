"""per-practice proxy ages and calendar: teen age, age of majority, adult-grant period
and IANA time zone (issue 10 item 3)

Every existing practice gets the defaults the policy used until now (13, 18, 18 months,
UTC), so no grant's access changes on upgrade.

Revision ID: 0011
Revises: 0019
Create Date: 2026-12-05 08:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0019"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("proxy_teen_age", sa.Integer(), "13"),
    ("proxy_majority_age", sa.Integer(), "18"),
    ("proxy_adult_grant_months", sa.Integer(), "18"),
    ("time_zone", sa.String(length=64), "UTC"),
)


def upgrade() -> None:
    # Plain ADD COLUMN, as 0010 does: a batch copy of ``portals`` would drop a table that
    # portal links and proxy grants point at, which SQLite refuses once they exist.
    for name, type_, default in _COLUMNS:
        op.add_column("portals", sa.Column(name, type_, nullable=False, server_default=default))


def downgrade() -> None:
    with op.batch_alter_table("portals") as batch:
        for name, _type, _default in reversed(_COLUMNS):
            batch.drop_column(name)
