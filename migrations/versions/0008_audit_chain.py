"""tamper-evident audit: hash chain per segment, segment heads, retention checkpoints (issue 11)

Events already recorded are chained here, oldest first, into shard 0 of their UTC
day, so `idp audit verify` covers the whole trail from this revision on.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idp.store.sql.models
from idp.audit.chain import GENESIS, ChainedEvent, event_hash, segment_for

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_chain_heads",
        sa.Column("segment", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("segment"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("segment", sa.String(length=16), nullable=False),
        sa.Column("through_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.Column("created_at", idp.store.sql.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("segment"),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("segment", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_audit_events_chain", ["segment", "seq"], unique=True)
    _chain_existing_events()


def _chain_existing_events() -> None:
    events = sa.table(
        "audit_events",
        sa.column("id", sa.Integer()),
        sa.column("at", idp.store.sql.models.UTCDateTime(timezone=True)),
        *(sa.column(c, sa.String()) for c in ("type", "outcome", "actor", "subject")),
        *(sa.column(c, sa.String()) for c in ("client_id", "ip", "user_agent", "session_id")),
        sa.column("details", sa.JSON()),
        sa.column("segment", sa.String()),
        sa.column("seq", sa.Integer()),
        sa.column("hash", sa.String()),
    )
    heads = sa.table(
        "audit_chain_heads",
        sa.column("segment", sa.String()),
        sa.column("seq", sa.Integer()),
        sa.column("last_hash", sa.String()),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(events).order_by(events.c.id)).mappings().all()
    state: dict[str, tuple[int, str]] = {}
    for row in rows:
        segment = segment_for(row["at"], 0)
        seq, prev = state.get(segment, (0, GENESIS))
        chained = ChainedEvent(
            segment=segment,
            seq=seq + 1,
            at=row["at"],
            type=row["type"],
            outcome=row["outcome"],
            actor=row["actor"],
            subject=row["subject"],
            client_id=row["client_id"],
            ip=row["ip"],
            user_agent=row["user_agent"],
            session_id=row["session_id"],
            details=row["details"],
        )
        digest = event_hash(chained, prev)
        bind.execute(
            sa.update(events)
            .where(events.c.id == row["id"])
            .values(segment=segment, seq=seq + 1, hash=digest)
        )
        state[segment] = (seq + 1, digest)
    for segment, (seq, digest) in state.items():
        bind.execute(sa.insert(heads).values(segment=segment, seq=seq, last_hash=digest))


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_chain")
        batch_op.drop_column("hash")
        batch_op.drop_column("seq")
        batch_op.drop_column("segment")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_chain_heads")
