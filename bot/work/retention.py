"""Retention, run daily by the scheduler and by `tipbot purge [--dry-run]`: closed tips
past their period (`RETENTION_*_DAYS`), with their files, and uploads that never
became part of a tip or a campaign (older than the draft time to live). Audited as
counts only."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.settings import Settings
from bot.uploads import UploadStore
from storage import retention
from storage.db import Database
from storage.stores import Stores


@dataclass(frozen=True)
class RetentionSettings:
    resolved: timedelta = timedelta(days=365)
    unfounded: timedelta = timedelta(days=180)
    spam: timedelta = timedelta(days=30)
    orphan_uploads: timedelta = timedelta(hours=24)  # a draft's time to live

    @classmethod
    def of(cls, s: Settings) -> RetentionSettings:
        return cls(
            resolved=timedelta(days=s.retention_resolved_days),
            unfounded=timedelta(days=s.retention_unfounded_days),
            spam=timedelta(days=s.retention_spam_days),
            orphan_uploads=timedelta(minutes=s.draft_ttl_minutes),
        )


@dataclass(frozen=True)
class PurgeReport:
    tips: int
    files: int
    orphans: int


class Retention:
    def __init__(
        self, db: Database, uploads: UploadStore, clock: Clock, settings: RetentionSettings
    ) -> None:
        self.db = db
        self.uploads = uploads
        self.clock = clock
        self.settings = settings

    def cutoffs(self, now: datetime) -> dict[str, datetime]:
        s = self.settings
        return {"resolved": now - s.resolved, "unfounded": now - s.unfounded, "spam": now - s.spam}

    async def purge(self, *, dry_run: bool = False, actor: str = "retention") -> PurgeReport:
        now = self.clock.now()
        async with self.db.write() as conn:
            purged = await retention.purge_closed(conn, self.cutoffs(now), dry_run=dry_run)
            used = await retention.referenced_uploads(conn, self.uploads.channel)
            if not dry_run:
                await Stores(conn).audit.audit(
                    now, actor, "ok", target=f"tips={purged.tips} files={len(purged.files)}"
                )
        files = [ref for channel, ref in purged.files if channel == self.uploads.channel]
        older = time.time() - self.settings.orphan_uploads.total_seconds()
        orphans = {ref for ref in self.uploads.stored_ids(older_than=older) if ref not in used}
        if not dry_run:
            for ref in orphans | set(files):
                self.uploads.delete(ref)
        return PurgeReport(purged.tips, len(purged.files), len(orphans - set(files)))
