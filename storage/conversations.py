"""Conversation rows: the current step, the draft and the flood counters per citizen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import vault_of
from storage.dialect import insert_in, once_per_dialect
from storage.models import StoredConversation
from storage.schema import conversations

_COLUMNS = ("address", "locale", "state", "draft", "flood", "updated_at", "expires_at")

# Every update loads and saves its conversation: built once (storage/dialect.py).
_load = once_per_dialect(
    lambda _: select(conversations).where(
        tuple_(conversations.c.channel, conversations.c.user_key).in_(
            bindparam("keys", expanding=True)
        )
    )
)


def _build_save(dialect: str) -> Any:
    stmt = insert_in(dialect, conversations)
    return stmt.on_conflict_do_update(
        index_elements=["channel", "user_key"],
        set_={name: stmt.excluded[name] for name in _COLUMNS},
    )


_save = once_per_dialect(_build_save)


async def load_many(
    conn: AsyncConnection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], StoredConversation]:
    """Load the conversations of (channel, user_key) pairs in one query."""
    if not keys:
        return {}
    result = await conn.execute(_load(conn), {"keys": list(set(keys))})
    rows = [_opened(conn, row._asdict()) for row in result]
    return {(r.channel, r.user_key): r for r in rows}


def _ad(channel: str, user_key: str) -> str:
    return f"conversations.draft:{channel}:{user_key}"


def _opened(conn: AsyncConnection, row: dict[str, object]) -> StoredConversation:
    """A stored row with its draft opened (drafts hold a tip being written)."""
    draft = vault_of(conn).open_json(row["draft"], _ad(str(row["channel"]), str(row["user_key"])))
    return StoredConversation.model_validate({**row, "draft": draft})


async def save_many(conn: AsyncConnection, rows: list[StoredConversation]) -> None:
    """Insert or update conversations in one statement."""
    if not rows:
        return
    vault = vault_of(conn)
    await conn.execute(
        _save(conn),
        [
            {
                **row.model_dump(),
                "draft": None
                if row.draft is None
                else vault.seal_json(row.draft, _ad(row.channel, row.user_key)),
            }
            for row in rows
        ],
    )


async def expired(conn: AsyncConnection, now: datetime, limit: int) -> list[StoredConversation]:
    """Conversations whose draft outlived its time to live."""
    result = await conn.execute(
        select(conversations)
        .where(conversations.c.expires_at <= now)
        .order_by(conversations.c.expires_at)
        .limit(limit)
    )
    return [_opened(conn, row._asdict()) for row in result]


async def purge_idle(conn: AsyncConnection, before: datetime) -> int:
    """Delete conversations resting at the menu since `before`: the row holds the chat's
    sealed address and pseudonym, which nothing needs once the person has gone quiet."""
    result = await conn.execute(
        delete(conversations).where(
            conversations.c.state == "menu", conversations.c.updated_at < before
        )
    )
    return int(result.rowcount or 0)
