"""unlinkable tips: follow-up links with an expiry instead of tips.tipster_key

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 03:40:00
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

FOLLOW_UP_DAYS = 30  # the default window; the service applies its own setting from now on


def upgrade() -> None:
    op.create_table(
        "followups",
        sa.Column("tip_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat_key", sa.String(length=64), nullable=False),
        sa.Column("address", sa.LargeBinary(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tip_id"], ["tips.id"], name=op.f("fk_followups_tip_id_tips"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tip_id", name=op.f("pk_followups")),
    )
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.create_index("ix_followups_channel_chat_key", ["channel", "chat_key"])
        batch_op.create_index("ix_followups_expires_at", ["expires_at"])

    # Open tips whose tipster still has a conversation keep a follow-up link (for the
    # window); every other link between a tip and a person is dropped here.
    bind = op.get_bind()
    now = datetime.now(UTC)
    rows = bind.execute(
        sa.text(
            "SELECT t.id, t.channel, t.tipster_key, t.created_at, c.address, c.locale "
            "FROM tips t JOIN conversations c "
            "ON c.channel = t.channel AND c.user_key = t.tipster_key "
            "WHERE t.status IN ('new', 'verifying', 'in_progress')"
        )
    ).all()
    for row in rows:
        created = row.created_at
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        expires = created + timedelta(days=FOLLOW_UP_DAYS)
        if expires <= now:
            continue
        stored = expires.replace(tzinfo=None) if bind.dialect.name == "sqlite" else expires
        bind.execute(
            sa.text(
                "INSERT INTO followups (tip_id, channel, chat_key, address, locale, expires_at) "
                "VALUES (:tip_id, :channel, :chat_key, :address, :locale, :expires_at)"
            ),
            {
                "tip_id": row.id,
                "channel": row.channel,
                "chat_key": row.tipster_key,
                "address": row.address,
                "locale": row.locale,
                "expires_at": stored,
            },
        )
    # Submission keys were "channel:pseudonym:draft": replace them with the tip's id.
    bind.execute(sa.text("UPDATE tips SET submission_key = id"))
    with op.batch_alter_table("tips", schema=None) as batch_op:
        batch_op.drop_index("ix_tips_tipster_key_created_at")
        batch_op.drop_column("tipster_key")
        # Sealed values are longer than a phone number.
        batch_op.alter_column(
            "contact_phone", existing_type=sa.String(length=32), type_=sa.Text()
        )


def downgrade() -> None:
    with op.batch_alter_table("tips", schema=None) as batch_op:
        batch_op.alter_column(
            "contact_phone", existing_type=sa.Text(), type_=sa.String(length=32)
        )
        batch_op.add_column(
            sa.Column("tipster_key", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.create_index(
            "ix_tips_tipster_key_created_at", ["tipster_key", "created_at"], unique=False
        )
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "UPDATE tips SET tipster_key = COALESCE((SELECT f.chat_key FROM followups f "
            "WHERE f.tip_id = tips.id), 'erased')"
        )
    )
    with op.batch_alter_table("tips", schema=None) as batch_op:
        batch_op.alter_column("tipster_key", server_default=None)
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.drop_index("ix_followups_expires_at")
        batch_op.drop_index("ix_followups_channel_chat_key")
    op.drop_table("followups")
