"""The database schema: one SQLAlchemy Core metadata for SQLite and PostgreSQL.

Alembic migrations under storage/migrations are the source of truth for deployed
databases; tests check that they produce exactly this metadata.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite has no time zone type)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Every raw inbound update, written before it is acknowledged to the platform.
# The payload is cleared once processed: the row then only remembers the key for dedup.
inbox = Table(
    "inbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("update_key", String(64), nullable=False),
    Column("payload", JSON, nullable=True),
    Column("status", String(8), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("processed_at", UtcDateTime(), nullable=True),
    UniqueConstraint("channel", "update_key"),
    Index("ix_inbox_status_id", "status", "id"),
)

# One row per (channel, pseudonymous user): where the citizen is in a flow and the draft.
conversations = Table(
    "conversations",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("user_key", String(64), primary_key=True),
    Column("address", LargeBinary, nullable=False),  # sealed (encrypted) chat address
    Column("locale", String(8), nullable=True),
    Column("state", String(32), nullable=False),
    Column("draft", JSON, nullable=True),
    Column("flood", JSON, nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=True),
    Index("ix_conversations_expires_at", "expires_at"),
)

tips = Table(
    "tips",
    metadata,
    Column("id", String(36), primary_key=True),  # random UUID, never sequential
    Column("code", String(16), nullable=False, unique=True),
    Column("receipt_hash", String(200), nullable=False),
    Column("submission_key", String(96), nullable=False, unique=True),
    Column("channel", String(16), nullable=False),
    Column("tipster_key", String(64), nullable=False),
    Column("locale", String(8), nullable=False),
    Column("category_group", String(32), nullable=False),
    Column("category", String(48), nullable=False),
    Column("urgent", Boolean, nullable=False, default=False),
    Column("province_code", Integer, nullable=True),
    Column("ward_code", Integer, nullable=True),
    Column("address_text", Text, nullable=True),
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
    Column("location_label", Text, nullable=True),
    Column("occurred", String(16), nullable=False),
    Column("occurred_text", Text, nullable=True),
    Column("description", Text, nullable=False),
    Column("contact_phone", String(32), nullable=True),
    Column("status", String(16), nullable=False, default="new"),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_tips_tipster_key_created_at", "tipster_key", "created_at"),
    Index("ix_tips_created_at", "created_at"),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("tip_id", String(36), ForeignKey("tips.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("file_ref", Text, nullable=False),
    Column("file_unique_id", String(128), nullable=True),
    Column("file_size", BigInteger, nullable=True),
    Column("mime_type", String(128), nullable=True),
    Column("file_name", Text, nullable=True),
    Column("media_group", String(64), nullable=True),
    Column("too_large", Boolean, nullable=False, default=False),
    Index("ix_attachments_tip_id", "tip_id"),
)

# Outgoing messages, written in the same transaction as the state change that caused them.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("chat_key", String(64), nullable=False),
    Column("address", LargeBinary, nullable=False),  # sealed chat address
    Column("payload", JSON, nullable=True),  # erased once delivered
    Column("status", String(8), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("lease_until", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("last_error", String(64), nullable=True),
    Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_outbox_chat_key_id", "chat_key", "id"),
)

# Chats that told us (403) they do not want messages; cleared when they write again.
unreachable_chats = Table(
    "unreachable_chats",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("chat_key", String(64), primary_key=True),
    Column("since", UtcDateTime(), nullable=False),
)


# Officers and admins. Passwords only as Argon2id hashes.
staff = Table(
    "staff",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

# Browser sessions bound to a staff account; only a hash of the cookie's token is kept.
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("staff_id", String(36), ForeignKey("staff.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Index("ix_staff_sessions_staff_id", "staff_id"),
)
