"""The database schema: one SQLAlchemy Core metadata for SQLite and PostgreSQL.

Alembic migrations under storage/migrations are the source of truth for deployed
databases; tests check that they produce exactly this metadata. Long on purpose: one
metadata object holds every table, so the comparison has one thing to compare.
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
    false,
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
    # Whose update it is (the person's pseudonym, as the conversation's key): replicas
    # never process two updates of one person at once or out of order.
    Column("order_key", String(64), nullable=True),
    UniqueConstraint("channel", "update_key"),
    Index("ix_inbox_status_id", "status", "id"),
    Index("ix_inbox_order_key_id", "order_key", "id"),
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
    # Random, kept in the draft: a replayed submission is recognised without naming who.
    Column("submission_key", String(96), nullable=False, unique=True),
    Column("channel", String(16), nullable=False),
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
    Column("contact_phone", Text, nullable=True),  # sealed
    Column("status", String(16), nullable=False, default="new"),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # Officer workflow: who claimed it and when, when it was closed, and the escalation
    # deadline (a claim is due by then; the sweep escalates one level each time it passes).
    Column("claimed_by", String(36), nullable=True),
    Column("claimed_at", UtcDateTime(), nullable=True),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("claim_due_at", UtcDateTime(), nullable=True),
    Column("escalation_level", Integer, nullable=False, default=0, server_default="0"),
    Index("ix_tips_created_at", "created_at"),
    Index("ix_tips_claim_due_at", "claim_due_at"),
)

# The one link between a tip and its tipster's chat, for relaying officers' questions
# while the tip is open and young (decision 0013); deleted when either ends. The
# address is sealed; `chat_key` is the chat's pseudonym (the outbox's per-chat order).
followups = Table(
    "followups",
    metadata,
    Column("tip_id", String(36), ForeignKey("tips.id", ondelete="CASCADE"), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("chat_key", String(64), nullable=False),
    Column("address", LargeBinary, nullable=False),
    Column("locale", String(8), nullable=True),
    Column("expires_at", UtcDateTime(), nullable=False),
    Index("ix_followups_channel_chat_key", "channel", "chat_key"),
    Index("ix_followups_expires_at", "expires_at"),
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
    # No file name: a phone's names ("Nguyen_Van_Lan_CCCD.jpg") can say who sent it.
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
    # A second factor (TOTP, RFC 6238): the shared secret, sealed, and the last time
    # step used, so a code seen over a shoulder cannot sign in a second time.
    Column("totp_secret", Text, nullable=True),
    Column("totp_step", BigInteger, nullable=True),
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


# ---- officer workflow ----------------------------------------------------------------

# Police units. A unit covers wards (none: the whole city, for city-level units) and
# optionally only some categories. Supervisors of a unit also see its sub-units.
units = Table(
    "units",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("parent_id", Integer, ForeignKey("units.id"), nullable=True),
    Column("city_level", Boolean, nullable=False, default=False),
    # Optional alert destination: a group chat an admin added the bot to.
    Column("group_channel", String(16), nullable=True),
    Column("group_key", String(64), nullable=True),
    Column("group_address", LargeBinary, nullable=True),  # sealed
    Column("created_at", UtcDateTime(), nullable=False),
)

unit_wards = Table(
    "unit_wards",
    metadata,
    Column("unit_id", Integer, ForeignKey("units.id", ondelete="CASCADE"), primary_key=True),
    Column("ward_code", Integer, primary_key=True),
    Index("ix_unit_wards_ward_code", "ward_code"),
)

unit_categories = Table(
    "unit_categories",
    metadata,
    Column("unit_id", Integer, ForeignKey("units.id", ondelete="CASCADE"), primary_key=True),
    Column("category", String(48), primary_key=True),
)

unit_members = Table(
    "unit_members",
    metadata,
    Column("unit_id", Integer, ForeignKey("units.id", ondelete="CASCADE"), primary_key=True),
    Column("staff_id", String(36), ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False),  # officer · supervisor
    Index("ix_unit_members_staff_id", "staff_id"),
)

# A staff account's chat identity (pseudonymous key) and sealed address, per channel.
staff_links = Table(
    "staff_links",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("user_key", String(64), primary_key=True),
    Column("staff_id", String(36), ForeignKey("staff.id", ondelete="CASCADE"), nullable=False),
    Column("address", LargeBinary, nullable=False),
    Column("locale", String(8), nullable=True),
    Column("linked_at", UtcDateTime(), nullable=False),
    Index("ix_staff_links_staff_id", "staff_id"),
)

# One-time invite codes (only their SHA-256 is kept).
invites = Table(
    "invites",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # officer · supervisor · admin
    Column("unit_id", Integer, ForeignKey("units.id", ondelete="CASCADE"), nullable=True),
    Column("name", String(64), nullable=True),
    Column("staff_id", String(36), ForeignKey("staff.id", ondelete="CASCADE"), nullable=True),
    Column("created_by", String(36), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),
)

# Group chats an admin added the bot to, waiting to be bound to a unit.
pending_groups = Table(
    "pending_groups",
    metadata,
    Column("id", String(12), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("chat_key", String(64), nullable=False),
    Column("address", LargeBinary, nullable=False),
    Column("added_by", String(36), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

tip_routes = Table(
    "tip_routes",
    metadata,
    Column("tip_id", String(36), ForeignKey("tips.id", ondelete="CASCADE"), primary_key=True),
    Column("unit_id", Integer, ForeignKey("units.id", ondelete="CASCADE"), primary_key=True),
    Column("routed_at", UtcDateTime(), nullable=False),
    Index("ix_tip_routes_unit_id", "unit_id"),
)

# The tip's thread: questions, answers, internal notes, status changes, transfers.
tip_events = Table(
    "tip_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("tip_id", String(36), ForeignKey("tips.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("staff_id", String(36), nullable=True),
    Column("detail", String(64), nullable=True),
    Column("body", Text, nullable=True),
    Index("ix_tip_events_tip_id", "tip_id"),
)

# Alerts waiting to go to a unit; the alerter batches them per destination.
alert_queue = Table(
    "alert_queue",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("tip_id", String(36), ForeignKey("tips.id", ondelete="CASCADE"), nullable=False),
    Column("unit_id", Integer, ForeignKey("units.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # new · escalated
    Column("created_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
    Index("ix_alert_queue_sent_at_unit_id", "sent_at", "unit_id"),
)

# Messages sent to each alert destination, to keep groups under 20 messages a minute.
alert_sends = Table(
    "alert_sends",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("dest_key", String(96), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("messages", Integer, nullable=False),
    Index("ix_alert_sends_dest_key_at", "dest_key", "at"),
)

# Append-only (triggers refuse UPDATE and DELETE): who did what to which tip, when.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("staff_id", String(36), nullable=True),
    Column("actor_key", String(64), nullable=True),  # pseudonym when not staff
    Column("action", String(32), nullable=False),
    Column("tip_id", String(36), nullable=True),
    Column("target", String(64), nullable=True),
    Column("outcome", String(8), nullable=False),  # ok · denied
    Index("ix_audit_log_at", "at"),
)

# The two-person rule: requests that wait for a second person (decision 0013).
approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("requested_by", String(36), nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(12), nullable=False),
    Column("decided_by", String(36), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("decided_at", UtcDateTime(), nullable=True),
)

# Digest periods already sent, so none goes out twice.
digest_runs = Table(
    "digest_runs",
    metadata,
    Column("kind", String(8), primary_key=True),  # daily · weekly
    Column("period", String(16), primary_key=True),  # first day, ISO
    Column("scope", String(16), primary_key=True),  # unit id or "city"
    Column("sent_at", UtcDateTime(), nullable=False),
)


# ---- campaigns -----------------------------------------------------------------------

# Citizens who opted in to awareness messages. Consent is explicit: the text they agreed
# to (its catalog key and locale) and when. Opting out deletes the row.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("user_key", String(64), primary_key=True),
    Column("address", LargeBinary, nullable=False),  # sealed
    Column("locale", String(8), nullable=False),
    Column("wards", JSON, nullable=False),  # [] = every ward
    Column("topics", JSON, nullable=False),  # [] = every topic
    Column("consent_text", String(64), nullable=False),
    Column("consent_at", UtcDateTime(), nullable=False),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_by", String(36), nullable=False),
    Column("text", Text, nullable=False),
    Column("photo_channel", String(16), nullable=True),
    Column("photo_ref", Text, nullable=True),
    Column("report_button", Boolean, nullable=False, default=False),
    # Confirmed by the admin as a paid Telegram broadcast (BROADCAST_PAID; decision 0017).
    Column("paid", Boolean, nullable=False, default=False, server_default=false()),
    Column("wards", JSON, nullable=False),  # audience; [] = all
    Column("topics", JSON, nullable=False),
    # draft · confirmed · scheduled · running · paused · done · cancelled
    Column("status", String(16), nullable=False),
    Column("run_at", UtcDateTime(), nullable=True),  # one-off schedule
    Column("cron", String(64), nullable=True),  # recurring schedule (Asia/Ho_Chi_Minh)
    Column("runs", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime(), nullable=True),
)

# The ledger: one row per (campaign, run, recipient), created when a run starts. A row
# leaves `pending` once, for one terminal state; `sending` marks rows whose send is in
# flight, which become `ambiguous` if the process dies before the outcome is written.
campaign_deliveries = Table(
    "campaign_deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("run", Integer, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("chat_key", String(64), nullable=False),
    Column("address", LargeBinary, nullable=False),
    Column("locale", String(8), nullable=False),
    Column("status", String(12), nullable=False),
    Column("next_at", UtcDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", String(64), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("campaign_id", "run", "channel", "chat_key"),
    Index("ix_campaign_deliveries_status_next_at", "status", "next_at"),
)

# Web chat messages on their way to whichever replica holds a page's long poll (only
# with several replicas on PostgreSQL; decision 0016): sealed, addressed by an HMAC of
# the session (never the session itself), deleted after a few minutes.
web_deliveries = Table(
    "web_deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("box", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# Files we uploaded to a platform, by our stored file's name: the platform's reference
# (Telegram's file_id, sealed) lets every replica send it again without re-uploading.
sent_files = Table(
    "sent_files",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("ref", Text, nullable=False),  # sealed: "<method> <file_id>"
    Column("created_at", UtcDateTime(), nullable=False),
)

# The send budget of each bot, shared by replicas on PostgreSQL (decision 0016): how
# many messages went out in each quarter second. Rows older than a few seconds go.
rate_slots = Table(
    "rate_slots",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("slot", BigInteger, primary_key=True),
    Column("used", Integer, nullable=False),
)
