"""refresh tokens bound to the SSO session that issued them (Back-Channel Logout §2.7)

``refresh_tokens.sid``: set only on tokens issued without ``offline_access``; when that
session ends (sign-out at the provider, a session ended from the account page) those
tokens end with it, while ``offline_access`` tokens, which the patient granted to outlive
the session, stay. A plain nullable ADD COLUMN: existing rows keep their meaning.

Revision ID: 0020
Revises: 0013
Create Date: 2026-12-05 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("refresh_tokens", sa.Column("sid", sa.String(length=64), nullable=True))
    op.create_index("ix_refresh_tokens_sid", "refresh_tokens", ["sid"])


def downgrade() -> None:
    op.drop_index("ix_refresh_tokens_sid", table_name="refresh_tokens")
    op.drop_column("refresh_tokens", "sid")
