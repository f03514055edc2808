"""The officer-workflow SQL on SQLite and PostgreSQL: authorisation inside the queries,
routing, claim/status updates, the append-only audit log, digest periods once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, update

from storage.db import Database
from storage.migrate import upgrade_async
from storage.models import NewTip
from storage.schema import audit_log, staff, unit_members
from storage.stores import Stores
from storage.tips import TipRepository
from tests.harness import VAULT
from tests.seeds import make_tip

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def tip(ward: int | None, category: str = "drugs", code: str = "AAAA-BBBB") -> NewTip:
    tip_id = str(uuid.uuid4())
    return make_tip(
        0,
        id=tip_id,
        code=code,
        submission_key=tip_id,
        category_group="social_evils",
        category=category,
        ward_code=ward,
        occurred="now",
        description="d",
        contact_phone="+84900000000",
        created_at=NOW,
        attachments=[],
    )


async def member(office: Stores, unit: int | None, role: str, key: str) -> str:
    code = await office.staff.create_invite(
        role=role,
        unit_id=unit,
        name=key,
        staff_id=None,
        created_by=None,
        now=NOW,
        ttl=timedelta(days=1),
    )
    actor = await office.staff.redeem_invite(
        code, channel="telegram", user_key=key, address=b"x", locale="vi", now=NOW
    )
    assert actor is not None
    assert (
        await office.staff.redeem_invite(  # one-time
            code, channel="telegram", user_key=key + "2", address=b"x", locale="vi", now=NOW
        )
        is None
    )
    return actor.id


async def test_visibility_routing_and_actions(db_url: str) -> None:
    await upgrade_async(db_url)
    db = Database(db_url, vault=VAULT)
    try:
        async with db.write() as conn:
            office = Stores(conn)
            city = await office.units.add_unit(
                "City", parent_id=None, city_level=True, wards=[], categories=[], now=NOW
            )
            district = await office.units.add_unit(
                "A", parent_id=None, city_level=False, wards=[70], categories=[], now=NOW
            )
            sub = await office.units.add_unit(
                "A-sub", parent_id=district, city_level=False, wards=[4], categories=[], now=NOW
            )
            fraud_only = await office.units.add_unit(
                "B", parent_id=None, city_level=False, wards=[70], categories=["fraud"], now=NOW
            )
            officer = await member(office, district, "officer", "o1")
            sub_officer = await member(office, sub, "officer", "o2")
            supervisor = await member(office, district, "supervisor", "s1")
            city_officer = await member(office, city, "officer", "c1")
            admin = await member(office, None, "admin", "a1")
            tips = TipRepository(conn)
            in_a, in_sub, nowhere = (
                tip(70, code="AAAA-AAAA"),
                tip(4, code="BBBB-BBBB"),
                tip(None, code="CCCC-CCCC"),
            )
            for t in (in_a, in_sub, nowhere):
                assert await tips.add_tip(t)
                await office.units.route_tip(
                    t.id,
                    ward_code=t.ward_code,
                    category=t.category,
                    urgent=False,
                    now=NOW,
                    claim_within=timedelta(hours=1),
                )

            async def sees(staff_id: str) -> set[str]:
                return {line.code for line in await office.desk.search(staff_id)}

            # Ward 70 drugs: unit A only (B takes fraud only). No ward: the city unit.
            assert await sees(officer) == {"AAAA-AAAA"}
            assert await sees(sub_officer) == {"BBBB-BBBB"}
            assert await sees(supervisor) == {"AAAA-AAAA", "BBBB-BBBB"}  # and sub-units
            assert await sees(city_officer) == {"AAAA-AAAA", "BBBB-BBBB", "CCCC-CCCC"}
            assert await sees(admin) == set()
            assert fraud_only

            # Contact details: the handling unit only, not the supervisor above nor the city.
            view = await office.desk.tip_view(officer, "AAAA-AAAA")
            assert view is not None and view.contact_phone == "+84900000000"
            assert (await office.desk.tip_view(city_officer, "AAAA-AAAA")).contact_phone is None  # type: ignore[union-attr]
            assert await office.desk.tip_view(sub_officer, "AAAA-AAAA") is None

            # Claim: only once, only if visible; moves "new" to "verifying".
            assert await office.desk.claim(sub_officer, "AAAA-AAAA", NOW) is None
            claimed = await office.desk.claim(officer, "AAAA-AAAA", NOW)
            assert claimed is not None and claimed.status == "verifying"
            assert await office.desk.claim(supervisor, "AAAA-AAAA", NOW) is None
            assert await office.desk.set_status(sub_officer, "AAAA-AAAA", "resolved", NOW) is None
            done = await office.desk.set_status(officer, "AAAA-AAAA", "resolved", NOW)
            assert done is not None and done.status == "resolved"

            # Escalation candidates: unclaimed and due.
            due = await office.alerts.due_for_escalation(NOW + timedelta(hours=2))
            assert {d.code for d in due} == {"BBBB-BBBB", "CCCC-CCCC"}
            assert set(await office.units.supervisors(in_sub.id)) == {supervisor}

            # Deactivated: nothing, at once.
            await conn.execute(update(staff).where(staff.c.id == officer).values(active=False))
            assert await sees(officer) == set()
            assert await office.staff.actor("telegram", "o1") is None
            # Moved: the old unit's tips are gone.
            await conn.execute(
                update(unit_members)
                .where(unit_members.c.staff_id == sub_officer)
                .values(unit_id=fraud_only)
            )
            assert await sees(sub_officer) == set()

            assert await office.digests.digest_claim("daily", "2026-11-26", "city", NOW)
            assert not await office.digests.digest_claim("daily", "2026-11-26", "city", NOW)
    finally:
        await db.dispose()


async def test_audit_log_is_append_only(db_url: str) -> None:
    await upgrade_async(db_url)
    db = Database(db_url, vault=VAULT)
    try:
        async with db.write() as conn:
            await Stores(conn).audit.audit(NOW, "view", "denied", actor_key="k", target="X")
        for statement in (
            update(audit_log).values(outcome="ok"),
            delete(audit_log),
        ):
            with pytest.raises(Exception, match="append-only"):
                async with db.write() as conn:
                    await conn.execute(statement)
        async with db.read() as conn:
            entries = await Stores(conn).audit.entries()
        assert [(e["action"], e["outcome"]) for e in entries] == [("view", "denied")]
    finally:
        await db.dispose()


async def test_the_desks_queries_on_every_backend(db_url: str) -> None:
    """The desk's inbox (filters, order, count, search in sealed text), its live
    version, similar tips, figures scoped like every read, late routing of tips that
    had no unit, desk links and second-factor steps — the same SQL on both engines."""
    from storage.models import DeskFilter

    await upgrade_async(db_url)
    db = Database(db_url, vault=VAULT)
    try:
        async with db.write() as conn:
            office = Stores(conn)
            tips = TipRepository(conn)
            orphan = tip(70, code="ZZZZ-ZZZZ")  # filed while no unit exists
            assert await tips.add_tip(orphan)
            assert await office.units.route_tip(
                orphan.id, ward_code=70, category="drugs", urgent=False, now=NOW,
                claim_within=timedelta(hours=1),
            ) == []  # fmt: skip
            unit = await office.units.add_unit(
                "A", parent_id=None, city_level=False, wards=[70], categories=[], now=NOW
            )
            other = await office.units.add_unit(
                "B", parent_id=None, city_level=False, wards=[4], categories=[], now=NOW
            )
            officer = await member(office, unit, "officer", "o1")
            outsider = await member(office, other, "officer", "o2")
            routed = await office.units.route_unrouted(
                NOW, claim_urgent=timedelta(minutes=10), claim_normal=timedelta(hours=1)
            )
            assert routed == 1
            assert await office.units.route_unrouted(
                NOW, claim_urgent=timedelta(minutes=10), claim_normal=timedelta(hours=1)
            ) == 0  # fmt: skip
            gamble = tip(70, category="gambling", code="AAAA-AAAA").model_copy(
                update={"description": "Sòng bạc trong nhà kho"}
            )
            urgent = tip(70, code="BBBB-BBBB").model_copy(update={"urgent": True})
            old = tip(70, code="CCCC-CCCC").model_copy(
                update={"created_at": NOW - timedelta(days=20)}
            )
            for t in (gamble, urgent, old, tip(4, code="DDDD-DDDD")):
                assert await tips.add_tip(t)
                await office.units.route_tip(
                    t.id, ward_code=t.ward_code, category=t.category, urgent=t.urgent,
                    now=t.created_at, claim_within=timedelta(hours=1),
                )  # fmt: skip

            async def codes(f: DeskFilter, **kw: object) -> list[str]:
                lines, total = await office.desk.desk_lines(officer, f, NOW, limit=10, **kw)  # type: ignore[arg-type]
                assert total == len(lines)
                return [line.code for line in lines]

            everything = await codes(DeskFilter())
            assert everything[0] == "BBBB-BBBB" and "DDDD-DDDD" not in everything
            assert sorted(everything) == ["AAAA-AAAA", "BBBB-BBBB", "CCCC-CCCC", "ZZZZ-ZZZZ"]
            assert await codes(DeskFilter(category="gambling")) == ["AAAA-AAAA"]
            assert await codes(DeskFilter(since=NOW - timedelta(days=7), urgent=True)) == [
                "BBBB-BBBB"
            ]
            assert await codes(DeskFilter(overdue=True)) == ["CCCC-CCCC"]  # due 20 days ago
            assert await codes(DeskFilter(unit_id=other)) == []
            assert await codes(DeskFilter(), matches=lambda words: "kho" in words) == ["AAAA-AAAA"]
            page, total = await office.desk.desk_lines(
                officer, DeskFilter(), NOW, limit=2, offset=2
            )
            assert total == 4 and len(page) == 2

            before = await office.desk.version(officer)
            untouched = await office.desk.version(outsider)
            await office.desk.add_event(gamble.id, "note", NOW, staff_id=officer, body="x")
            assert await office.desk.version(officer) != before
            assert await office.desk.version(outsider) == untouched
            assert await office.desk.waiting(officer) == 4

            similar = await office.desk.similar(officer, urgent.id, timedelta(days=7))
            assert {s.code for s in similar} == {"AAAA-AAAA", "ZZZZ-ZZZZ"}  # not the old one
            assert await office.desk.similar(outsider, urgent.id, timedelta(days=7)) == []

            rows = await office.digests.visible_rows(
                officer, NOW - timedelta(days=7), NOW + timedelta(minutes=1)
            )
            assert len(rows) == 3
            assert await office.digests.visible_open_counts(officer, NOW) == (4, 1)
            theirs = await office.digests.visible_rows(
                outsider, NOW - timedelta(days=30), NOW + timedelta(minutes=1)
            )
            assert [r.ward_code for r in theirs] == [4]

            for _ in range(2):  # linking the same chat again keeps one link
                await office.staff.link_chat(
                    officer, channel="desk", user_key="k", address=b"a", locale="vi", now=NOW
                )
            assert [c.channel for c in await office.staff.staff_chats([officer])].count("desk") == 1
            await conn.execute(
                update(staff).where(staff.c.id == officer).values(username="officer-one")
            )
            assert await office.staff.set_totp("officer-one", "JBSWY3DPEHPK3PXP")
            facts = await office.staff.sign_in_facts("officer-one")
            assert facts is not None and facts.totp_secret == "JBSWY3DPEHPK3PXP"
            assert await office.staff.use_totp_step(officer, 100)
            assert not await office.staff.use_totp_step(officer, 100)  # once
            assert not await office.staff.use_totp_step(officer, 99)
            assert await office.staff.use_totp_step(officer, 101)
    finally:
        await db.dispose()
