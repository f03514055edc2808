"""Who may open an uploaded file from the web: a campaign's photo, anyone; a tip's
attachment, only active staff whose units see the tip — decided in the query,
re-read on every request, and audited whether allowed or not."""

from __future__ import annotations

from bot.clock import Clock
from storage.db import Database
from storage.stores import Stores


class FileAccess:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def may_open(self, channel: str, user_key: str, file_ref: str) -> bool:
        """May this chat open an uploaded file? A campaign's photo: anyone. A tip's
        attachment: only active staff whose units see the tip — decided in the query,
        re-read on every request, and audited whether allowed or not."""
        async with self.db.write() as conn:
            stores = Stores(conn)
            if await stores.campaigns.has_photo(channel, file_ref):
                return True
            actor = await stores.staff.actor(channel, user_key)
            found = await stores.desk.visible_file(actor.id, channel, file_ref) if actor else None
            await stores.audit.audit(
                self.clock.now(),
                "file.open",
                "ok" if found else "denied",
                staff_id=actor.id if actor else None,
                actor_key=user_key,
                target=found.code if found else None,
            )
            return found is not None
