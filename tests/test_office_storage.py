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

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def tip(ward: int | None, category: str = "drugs", code: str = "AAAA-BBBB") -> NewTip:
    tip_id = str(uuid.uuid4())
    return NewTip(
        id=tip_id,
        code=code,
        receipt_hash="h",
        submission_key=tip_id,
        channel="telegram",
        locale="vi",
        category_group="social_evils",
        category=category,
        urgent=False,
        province_code=1,
        ward_code=ward,
        address_text=None,
        latitude=None,
        longitude=None,
        location_label=None,
        occurred="now",
        occurred_text=None,
        description="d",
        contact_phone="+84900000000",
        created_at=NOW,
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
