"""proxy access: portal links owned by a person, proxy grants and their history,
confidential flags (issue 10)

Every existing portal link keeps its row and its account; ``person_id`` is new and
empty for them. A link now belongs to an account or, for a patient without one (a
young child), to a person.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idp.store.sql.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_LIVE = sa.text("status IN ('pending_cosignature', 'pending_approval', 'active')")


def _when() -> idp.store.sql.models.UTCDateTime:
    return idp.store.sql.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("portal_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("person_id", sa.Integer(), nullable=True))
        batch_op.alter_column("account_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(
            "fk_portal_links_person_id_persons", "persons", ["person_id"], ["id"]
        )
        batch_op.create_unique_constraint(
            "uq_portal_links_portal_id_person_id", ["portal_id", "person_id"]
        )
        batch_op.create_check_constraint("owner", "account_id IS NOT NULL OR person_id IS NOT NULL")

    op.create_table(
        "proxy_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portal_id", sa.Integer(), nullable=False),
        sa.Column("representative_account_id", sa.Integer(), nullable=False),
        sa.Column("patient_person_id", sa.Integer(), nullable=False),
        sa.Column("relationship", sa.String(length=24), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("full_access_requested", sa.Boolean(), nullable=False),
        sa.Column("teen_cosigned_at", _when(), nullable=True),
        sa.Column("teen_cosigned_by", sa.String(length=128), nullable=True),
        sa.Column("legal_document", sa.Boolean(), nullable=False),
        sa.Column("evidence_ref", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("approved_at", _when(), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.Column("ended_at", _when(), nullable=True),
        sa.Column("ended_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_person_id"],
            ["persons.id"],
            name="fk_proxy_grants_patient_person_id_persons",
        ),
        sa.ForeignKeyConstraint(
            ["portal_id"], ["portals.id"], name="fk_proxy_grants_portal_id_portals"
        ),
        sa.ForeignKeyConstraint(
            ["representative_account_id"],
            ["accounts.id"],
            name="fk_proxy_grants_representative_account_id_accounts",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_proxy_grants"),
    )
    with op.batch_alter_table("proxy_grants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_proxy_grants_live",
            ["portal_id", "representative_account_id", "patient_person_id"],
            unique=True,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        )
        batch_op.create_index("ix_proxy_grants_patient_person_id", ["patient_person_id"])
        batch_op.create_index(
            "ix_proxy_grants_representative_account_id", ["representative_account_id"]
        )

    op.create_table(
        "proxy_grant_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("at", _when(), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["proxy_grants.id"], name="fk_proxy_grant_events_grant_id_proxy_grants"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_proxy_grant_events"),
    )
    with op.batch_alter_table("proxy_grant_events", schema=None) as batch_op:
        batch_op.create_index("ix_proxy_grant_events_grant_id", ["grant_id"])

    op.create_table(
        "confidential_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portal_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("set_at", _when(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name="fk_confidential_flags_person_id_persons"
        ),
        sa.ForeignKeyConstraint(
            ["portal_id"], ["portals.id"], name="fk_confidential_flags_portal_id_portals"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_confidential_flags"),
        sa.UniqueConstraint(
            "portal_id",
            "person_id",
            "category",
            name="uq_confidential_flags_portal_id_person_id_category",
        ),
    )


def downgrade() -> None:
    op.drop_table("confidential_flags")
    op.drop_table("proxy_grant_events")
    op.drop_table("proxy_grants")
    # Links of persons without an account cannot survive the old schema.
    op.execute("DELETE FROM portal_links WHERE account_id IS NULL")
    with op.batch_alter_table("portal_links", schema=None) as batch_op:
        batch_op.drop_constraint("owner", type_="check")
        batch_op.drop_constraint("uq_portal_links_portal_id_person_id", type_="unique")
        batch_op.drop_constraint("fk_portal_links_person_id_persons", type_="foreignkey")
        batch_op.alter_column("account_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("person_id")
