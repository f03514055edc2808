"""A known data set of tips for digest, statistics and export tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from handlers.domain.vntime import VIETNAM
from storage.models import NewAttachment, NewTip
from storage.schema import tips as tips_table
from storage.stores import Stores
from storage.tips import TipRepository

# A known data set: 1 Nov 2026 (Vietnam time), unit 1 (Hoàn Kiếm) and unit 2 (Ba Đình).
DAY = datetime(2026, 11, 25, tzinfo=VIETNAM)
KNOWN = [
    # (category, group, ward, hour, claimed after minutes, resolved after minutes)
    ("drugs", "social_evils", 70, 8, 10, 120),
    ("drugs", "social_evils", 70, 9, 30, None),
    ("gambling", "social_evils", 70, 10, None, None),
    ("theft_robbery", "criminal", 70, 11, 20, 60),
    ("fraud", "criminal", 4, 12, None, None),
    ("propaganda", "political_security", 4, 13, 5, None),
    ("fire_risk", "other", None, 14, None, None),
]


def conn_of(office: Stores) -> Any:
    return office.conn


async def seed(office: Stores, tips: TipRepository, day: datetime) -> list[str]:
    codes = []
    for n, (cat, group, ward, hour, claim, resolve) in enumerate(KNOWN):
        created = day.replace(hour=hour).astimezone(UTC)
        tip_id = str(uuid.uuid4())
        code = f"AAAA-{'BCDEFGH'[n]}AAA"
        await tips.add_tip(
            make_tip(
                0,
                id=tip_id,
                code=code,
                receipt_hash="x",
                submission_key=f"seed:{tip_id}",
                category_group=group,
                category=cat,
                province_code=1 if ward else None,
                ward_code=ward,
                description="seeded",
                created_at=created,
                attachments=[],
            )
        )
        await office.units.route_tip(
            tip_id,
            ward_code=ward,
            category=cat,
            urgent=False,
            now=created,
            claim_within=timedelta(hours=24),
        )
        await office.alerts.mark_alerts_sent(
            [a.id for a in await office.alerts.pending_alerts() if a.tip_id == tip_id], created
        )
        await conn_of(office).execute(
            update(tips_table)
            .where(tips_table.c.id == tip_id)
            .values(
                claimed_by="seed" if claim is not None else None,
                claimed_at=created + timedelta(minutes=claim) if claim is not None else None,
                resolved_at=created + timedelta(minutes=resolve) if resolve is not None else None,
                status="resolved" if resolve is not None else "verifying" if claim else "new",
            )
        )
        codes.append(code)
    return codes


# Storage tests' clock and a tip with every field set (override what a test needs).
NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def make_tip(n: int, **over: object) -> NewTip:
    values: dict[str, object] = dict(
        id=f"00000000-0000-4000-8000-{n:012d}",
        code=f"AAAA-{n:04d}",
        receipt_hash="h",
        submission_key=f"s-{n}",
        channel="telegram",
        locale="vi",
        category_group="criminal",
        category="fraud",
        urgent=False,
        province_code=1,
        ward_code=70,
        address_text=None,
        latitude=None,
        longitude=None,
        location_label=None,
        occurred="today",
        occurred_text=None,
        description="mô tả",
        contact_phone=None,
        created_at=NOW,
        attachments=[NewAttachment(kind="photo", file_ref="f1")],
    )
    values.update(over)
    return NewTip.model_validate(values)
