"""The officer desk's actions travel the same path as a chat's: a form posted on
`/staff/tips/<CODE>` becomes a raw payload in the durable inbox, the dispatcher hands
it to the officer flow (`handlers/staff/desk.py`, the one place that claims, sets a
status, asks a tipster, notes or transfers, with its authorisation and audit), and
what the flow answers comes back through the outbox to this channel.

So the desk has no second implementation of any officer action, and a question to a
tipster is durable before the page is answered (decision 0014). The chat address is
the staff account id (sealed like every address); the person appears as a pseudonym
of it; the account is linked to this channel when it signs in.

What the outbox delivers here waits in a per-account mailbox in memory (the notices
the desk shows: "claimed", "question sent", a new alert), like the web chat's."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.aio import woken
from bot.channels.base import Ignored, Payload, SendResult
from bot.channels.web.mailbox import Mailboxes
from bot.identity import Identity
from handlers.core.commands import parse_command
from handlers.core.events import Event, EventKind
from storage.db import Database
from storage.staff import StaffAccounts

if TYPE_CHECKING:
    from bot.dispatch.dispatcher import Pipeline

NAME = "desk"
# What a desk form may ask for: the officer commands that change a tip, and the admin
# commands of the admin pages. Anything else in a stored payload is ignored, whatever it
# says; the flows still check who may do what.
ACTIONS = frozenset(
    {"claim", "unclaim", "setstatus", "ask", "note", "transfer"}
    | {"invite", "removestaff", "campaign", "approve", "refuse", "approvals"}
)
DESK_BOXES = 5_000  # accounts with a desk open; the least recently used go first


class DeskChannel:
    name = NAME

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.mailboxes = Mailboxes(DESK_BOXES)

    def user_key(self, staff_id: str) -> str:
        return self.identity.pseudonym(NAME, staff_id)

    def parse(self, payload: dict[str, Any]) -> Event | Ignored:
        staff_id = str(payload.get("staff", ""))
        command = parse_command(str(payload.get("text", "")))
        if not staff_id or command is None or command[0] not in ACTIONS:
            return Ignored("not-a-desk-action")
        lang = payload.get("lang") if payload.get("lang") in ("vi", "en") else None
        base = Event(EventKind.COMMAND, NAME, self.user_key(staff_id), staff_id, lang)
        return replace(base, command=command[0], args=command[1])

    async def send(self, address: str, payload: Payload) -> SendResult:
        self.mailboxes.deliver(address, payload)
        return SendResult("ok")

    def order_key(self, payload: dict[str, Any]) -> str | None:
        staff_id = payload.get("staff")
        return self.user_key(staff_id) if isinstance(staff_id, str) and staff_id else None

    def notices(self, staff_id: str, after: int) -> list[str]:
        """The texts the flow sent this account after message number `after`."""
        box = self.mailboxes.get(staff_id)
        return [str(message["text"]) for seq, message in box.messages if seq > after]

    def last_notice(self, staff_id: str) -> int:
        return self.mailboxes.get(staff_id).seq

    async def wait_notice(self, staff_id: str, after: int, seconds: float) -> None:
        """Wait (a little) for the flow's answer to reach this account's mailbox: the
        outbox delivers it a moment after the action is done."""
        box = self.mailboxes.get(staff_id)
        deadline = asyncio.get_running_loop().time() + seconds
        while box.seq <= after:
            left = deadline - asyncio.get_running_loop().time()
            box.changed.clear()
            if left <= 0 or not await woken(box.changed, left):
                return

    def close(self) -> None:
        self.mailboxes.close()

    async def submit(
        self,
        pipeline: Pipeline,
        db: Database,
        *,
        staff_id: str,
        request_id: str,
        command: str,
        lang: str | None,
        now: datetime,
    ) -> int:
        """Put a form's command in the inbox as this account's, wait (a little) until
        the flow has done it and its answer is here; returns the mailbox number the
        answer comes after (for the page to show it)."""
        async with db.write() as conn:
            # The desk is a chat of this account's (linked once); the flow finds the
            # account through it and re-reads it, as for any chat.
            await StaffAccounts(conn).link_chat(
                staff_id, channel=NAME, user_key=self.user_key(staff_id),
                address=self.identity.seal(staff_id), locale=lang or "vi", now=now,
            )  # fmt: skip
        before = self.last_notice(staff_id)
        # One id per rendered form: a double submit or a browser's retry is taken once.
        key = f"{self.user_key(staff_id)[:16]}:{request_id}"
        await pipeline.ingest(NAME, [(key, {"staff": staff_id, "text": command, "lang": lang})])
        if await pipeline.settled(NAME, key):
            await self.wait_notice(staff_id, before, seconds=2.0)
        return before
