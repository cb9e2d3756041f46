"""proxy sign-in: the person a refresh token acts for, the practice's RelatedPerson id
(issue 10 items 5 and 6)

``refresh_tokens.acting_for_person_id``: set when a representative signed in for someone
else; every refresh re-asks the proxy policy about that person at that moment, so the
column holds who, never what level. ``proxy_grants.related_person``: the practice's FHIR
``RelatedPerson`` id for the representative, sent as ``fhirUser`` in proxy ID tokens.
Both are plain ADD COLUMNs (nullable), so every existing row keeps its meaning.
``ix_audit_events_actor``: the account page lists a representative's own proxy actions.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("refresh_tokens", sa.Column("acting_for_person_id", sa.Integer(), nullable=True))
    op.add_column("proxy_grants", sa.Column("related_person", sa.String(length=64), nullable=True))
    op.create_index("ix_audit_events_actor", "audit_events", ["actor"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_actor", table_name="audit_events")
    with op.batch_alter_table("proxy_grants") as batch:
        batch.drop_column("related_person")
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_column("acting_for_person_id")
