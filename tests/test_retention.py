"""Retention (issue 10): closed tips go after their period with their files and thread;
uploads that never became part of a tip go after a draft's lifetime; a dry run
deletes nothing; the purge is audited as counts."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from bot.clock import Clock
from bot.uploads import UploadStore, sniff
from bot.work.retention import Retention, RetentionSettings
from storage.db import Database
from storage.migrate import upgrade_async
from storage.models import NewAttachment, NewTip
from storage.schema import audit_log, tip_events, tips
from storage.stores import Stores
from tests.harness import SECRET, VAULT, tipbot
from tests.journeys import photo_with_location

NOW = datetime.now(UTC)


def _tip(code: str, files: list[str]) -> NewTip:
    tip_id = str(uuid.uuid4())
    return NewTip(
        id=tip_id, code=code, receipt_hash="h", submission_key=tip_id, channel="web",
        locale="vi", category_group="other", category="other", urgent=False,
        province_code=None, ward_code=None, address_text=None, latitude=None, longitude=None,
        location_label=None, occurred="now", occurred_text=None, description="d",
        contact_phone=None, created_at=NOW - timedelta(days=400),
        attachments=[NewAttachment(kind="photo", file_ref=f) for f in files],
    )  # fmt: skip


async def test_closed_tips_and_unused_uploads_go_after_their_time(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tipbot.db'}"
    await upgrade_async(url)
    db = Database(url, vault=VAULT)
    store = UploadStore(tmp_path / "uploads", "web", SECRET.encode())
    photo = photo_with_location()
    kept_file, old_file, orphan = (store.save(photo, sniff(photo[:64])) for _ in range(3))  # type: ignore[arg-type]
    for ref in (old_file, orphan):  # written long ago
        past = time.time() - 3 * 86400
        os.utime(store.originals / ref, (past, past))
    closed = {
        "OLDR-AAAA": ("resolved", 400, [old_file]),
        "NEWR-AAAA": ("resolved", 10, [kept_file]),
        "SPAM-AAAA": ("spam", 40, []),
        "OPEN-AAAA": ("verifying", None, []),
    }
    try:
        async with db.write() as conn:
            stores = Stores(conn)
            for code, (status, days, files) in closed.items():
                tip = _tip(code, files)
                await stores.tips.add_tip(tip)
                await stores.desk.add_event(tip.id, "note", NOW, body="ghi chú")
                resolved = NOW - timedelta(days=days) if days is not None else None
                await conn.execute(
                    update(tips)
                    .where(tips.c.id == tip.id)
                    .values(status=status, resolved_at=resolved)
                )
        retention = Retention(db, store, Clock(), RetentionSettings())
        dry = await retention.purge(dry_run=True)
        assert (dry.tips, dry.files, dry.orphans) == (2, 1, 1)
        assert store.read_original(old_file) is not None  # a dry run deletes nothing
        report = await retention.purge()
        assert (report.tips, report.files, report.orphans) == (2, 1, 1)
        async with db.read() as conn:
            left = set((await conn.execute(select(tips.c.code))).scalars())
            events = (await conn.execute(select(func.count()).select_from(tip_events))).scalar()
            audit = (await conn.execute(select(audit_log.c.target))).scalars().all()
        assert left == {"NEWR-AAAA", "OPEN-AAAA"} and events == 2
        assert audit == ["tips=2 files=1"]
        assert store.read_original(old_file) is None and store.read_original(orphan) is None
        assert store.read_clean(kept_file) is not None
    finally:
        await db.dispose()
    done = tipbot("purge", "--dry-run", cwd=tmp_path)
    assert done.returncode == 0 and "would delete: 0 closed tips" in done.stdout, done.stderr
