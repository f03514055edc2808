"""Key rotation (`tipbot rotate-key`): everything sealed under the old key is sealed
again under the new one, and every pseudonym (an HMAC keyed by the secret) is
recomputed from the chat address it stands for — in one transaction, so a crash
leaves the old state whole.

The caller supplies the two `Rekey` functions (bot/ knows identities; storage does
not): `address(sealed)` opens an address with the old key and seals it with the new
one, returning (new sealed address, new pseudonym); `vault` opens old values and seals
new ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import (
    alert_sends,
    campaign_deliveries,
    conversations,
    followups,
    inbox,
    outbox,
    pending_groups,
    sent_files,
    staff_links,
    subscriptions,
    tip_events,
    tips,
    units,
    unreachable_chats,
)
from storage.tips import SEALED
from storage.vault import Vault, is_sealed


@dataclass(frozen=True)
class Rekey:
    vault: Vault  # the new key first, the old one after it
    address: Callable[[str, bytes], tuple[bytes, str] | None]  # (channel, sealed) → new


async def rotate(conn: AsyncConnection, rekey: Rekey) -> dict[str, int]:
    """Reseal and re-key every row; returns how many rows each table had changed."""
    done: dict[str, int] = {}
    vault = rekey.vault

    def reseal(value: Any, ad: str) -> Any:
        if is_sealed(value):
            return vault.seal(vault.open(value, ad), ad)
        return value

    # Tip texts and thread bodies: the associated data (the tip's id) stays.
    rows = await conn.execute(select(tips.c.id, *(tips.c[c] for c in SEALED)))
    for row in rows.all():
        values = {c: reseal(getattr(row, c), f"tips.{c}:{row.id}") for c in SEALED}
        await conn.execute(update(tips).where(tips.c.id == row.id).values(**values))
    rows = await conn.execute(select(tip_events.c.id, tip_events.c.tip_id, tip_events.c.body))
    for row in rows.all():
        body = reseal(row.body, f"tip_events.body:{row.tip_id}")
        await conn.execute(update(tip_events).where(tip_events.c.id == row.id).values(body=body))
    rows = await conn.execute(
        select(inbox.c.id, inbox.c.channel, inbox.c.update_key, inbox.c.payload)
    )
    for row in rows.all():
        payload = reseal(row.payload, f"inbox.payload:{row.channel}:{row.update_key}")
        await conn.execute(update(inbox).where(inbox.c.id == row.id).values(payload=payload))

    # Rows keyed by a chat's pseudonym: a new address, a new pseudonym, and (for
    # conversations and the outbox) content whose associated data names them.
    done["conversations"] = await _rekey_rows(
        conn, conversations, "user_key", rekey, content=("draft", "conversations.draft")
    )
    done["outbox"] = await _rekey_rows(
        conn, outbox, "chat_key", rekey, content=("payload", "outbox.payload"), by_id=True
    )
    for table, key in (
        (subscriptions, "user_key"),
        (staff_links, "user_key"),
        (followups, "chat_key"),
        (campaign_deliveries, "chat_key"),
        (pending_groups, "chat_key"),
    ):
        done[table.name] = await _rekey_rows(conn, table, key, rekey)
    rows = await conn.execute(
        select(units.c.id, units.c.group_channel, units.c.group_address).where(
            units.c.group_address.is_not(None)
        )
    )
    for row in rows.all():
        moved = rekey.address(row.group_channel, row.group_address)
        if moved is not None:
            await conn.execute(
                update(units)
                .where(units.c.id == row.id)
                .values(group_address=moved[0], group_key=moved[1])
            )
    # Keyed by pseudonym with no address to recompute it from: short-lived bookkeeping
    # (a chat that blocked us, an hour's alert budget) that is simply dropped.
    await conn.execute(delete(unreachable_chats))
    await conn.execute(delete(alert_sends))
    await conn.execute(delete(sent_files))  # a cache: files are uploaded again
    return done


async def _rekey_rows(
    conn: AsyncConnection,
    table: Table,
    key: str,
    rekey: Rekey,
    *,
    content: tuple[str, str] | None = None,
    by_id: bool = False,
) -> int:
    pk = [c for c in table.primary_key.columns]
    rows = (await conn.execute(select(table))).all()
    changed = 0
    for row in rows:
        values = row._asdict()
        moved = rekey.address(values["channel"], values["address"])
        if moved is None:
            await conn.execute(delete(table).where(*(c == values[c.name] for c in pk)))
            continue
        new: dict[str, Any] = {"address": moved[0], key: moved[1]}
        if content is not None:
            column, prefix = content
            value = values[column]
            if is_sealed(value):
                old_ad = f"{prefix}:{values['channel']}:{values[key]}"
                new_ad = f"{prefix}:{values['channel']}:{moved[1]}"
                new[column] = rekey.vault.seal(rekey.vault.open(value, old_ad), new_ad)
        where = [table.c.id == values["id"]] if by_id else [c == values[c.name] for c in pk]
        await conn.execute(update(table).where(*where).values(**new))
        changed += 1
    return changed
