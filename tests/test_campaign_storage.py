"""The campaign SQL on SQLite and PostgreSQL: subscriptions (upsert, opt-out, erasure),
audience, the ledger's state machine, cancellation and recovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.campaigns import Campaigns
from storage.db import Database
from storage.migrate import upgrade_async
from storage.outbox import mark_unreachable
from storage.subscriptions import Subscriptions
from tests.harness import VAULT

NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


async def test_ledger_state_machine(db_url: str) -> None:
    await upgrade_async(db_url)
    db = Database(db_url, vault=VAULT)
    try:
        async with db.write() as conn:
            store = Campaigns(conn)
            subs = Subscriptions(conn)
            for n, topics in enumerate([["drugs"], ["fraud"], [], ["drugs"]]):
                await subs.subscribe(
                    channel="telegram", user_key=f"u{n}", address=b"a", locale="vi",
                    wards=[70] if n else [], topics=topics, consent_text="c", now=NOW,
                )  # fmt: skip
            # Subscribing again updates, it does not duplicate.
            await subs.subscribe(
                channel="telegram", user_key="u3", address=b"a", locale="en",
                wards=[4], topics=["drugs"], consent_text="c", now=NOW,
            )  # fmt: skip
            await mark_unreachable(conn, "telegram", "u1", NOW)
            audience = {s.user_key for s in await subs.audience([70], ["drugs"])}
            # u0: every ward; u2: ward 70, every topic; u3 moved to ward 4; u1 blocked.
            assert audience == {"u0", "u2"}
            assert {s.user_key for s in await subs.audience([], ["drugs"])} == {"u0", "u2", "u3"}

            cid = await store.create(
                created_by="admin-1", text="t", photo_channel=None, photo_ref=None,
                report_button=True, now=NOW,
            )  # fmt: skip
            assert not await store.transition(cid, admin_id="admin-2", from_=("draft",), status="x")
            await store.set_audience(cid, [], ["drugs"])
            assert await store.start_run(cid, NOW) == 3

            rows = await store.claim(NOW, 2)
            assert len(rows) == 2 and all(r.attempts == 1 for r in rows)
            await store.record(
                [
                    (rows[0].id, "sent", None, None),
                    (rows[1].id, "pending", "429", NOW + timedelta(seconds=5)),
                ],
                NOW,
            )
            assert await store.claim(NOW, 5) != []  # the third row
            assert await store.recover(NOW) == 1  # left "sending" → ambiguous
            assert await store.claim(NOW, 5) == []  # the 429 one is not due yet
            later = NOW + timedelta(seconds=6)
            (retry,) = await store.claim(later, 5)
            await store.record([(retry.id, "blocked", "403", None)], later)
            assert await store.finish_done(later) == [cid]
            counts = await store.progress(cid)
            assert (counts["sent"], counts["ambiguous"], counts["blocked"]) == (1, 1, 1)
            assert counts["targeted"] == 3 and counts["pending"] == 0
            assert (await store.get(cid)).status == "done"  # type: ignore[union-attr]

            # Cancelling ends what is still waiting; recurring campaigns go back to waiting.
            other = await store.create(
                created_by="admin-1", text="t2", photo_channel=None, photo_ref=None,
                report_button=False, now=NOW,
            )  # fmt: skip
            await store.start_run(other, NOW)
            assert await store.transition(
                other, admin_id=None, from_=("running",), status="cancelled"
            )
            cancelled = await store.progress(other)
            assert cancelled["cancelled"] == 3 and cancelled["pending"] == 0
            weekly = await store.create(
                created_by="admin-1", text="t3", photo_channel=None, photo_ref=None,
                report_button=False, now=NOW,
            )  # fmt: skip
            await store.transition(weekly, admin_id="admin-1", from_=("draft",), cron="0 8 * * mon")
            await store.start_run(weekly, NOW)
            for row in await store.claim(NOW, 10):
                await store.record([(row.id, "sent", None, None)], NOW)
            await store.finish_done(NOW)
            assert (await store.get(weekly)).status == "scheduled"  # type: ignore[union-attr]

            # Opt-out and erasure.
            assert await subs.unsubscribe("telegram", "u2")
            assert not await subs.unsubscribe("telegram", "u2")
            await subs.erase("telegram", "u0")
            assert await subs.subscription("telegram", "u0") is None
            assert {s.user_key for s in await subs.audience([], [])} == {"u3"}
    finally:
        await db.dispose()
