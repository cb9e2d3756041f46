"""candidate search: index accounts.person_id and person_blocking_keys.person_id

Without the first, joining each candidate person to its account scans the accounts
table (p50 539 ms at 1M persons, 2 ms with it: bench/match_candidates.py); the
second keeps re-indexing one person from scanning the keys table.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index("ix_accounts_person_id", ["person_id"], unique=False)
    with op.batch_alter_table("person_blocking_keys", schema=None) as batch_op:
        batch_op.create_index("ix_person_blocking_keys_person_id", ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("person_blocking_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_person_blocking_keys_person_id")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_accounts_person_id")
