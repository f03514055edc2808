"""Uploaded files' platform references in the database, so that every replica sends
a file by the reference the first upload got instead of uploading it again."""

from __future__ import annotations

from bot.clock import Clock
from storage import sentfiles
from storage.db import Database


class DatabaseFileRefs:
    def __init__(self, db: Database, channel: str, clock: Clock) -> None:
        self.db = db
        self.channel = channel
        self.clock = clock

    async def get(self, name: str) -> str | None:
        async with self.db.read() as conn:
            return await sentfiles.get(conn, self.channel, name)

    async def put(self, name: str, ref: str) -> None:
        async with self.db.write() as conn:
            await sentfiles.put(conn, self.channel, name, ref, self.clock.now())
