"""Build a sample data set (default 1,000 tips over one day in Hà Nội), route it through
the real storage code, and print the city-wide daily digest with its chart.

    .venv/bin/python bench/sample_digest.py [--tips 1000] [--out docs/samples]

Deterministic (seeded), so the digest can be compared between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import update

from bot.figures import build_digest
from handlers.core.i18n import Catalog
from handlers.domain import taxonomy
from handlers.domain.places import gazetteer
from storage.db import Database
from storage.migrate import upgrade_async
from storage.models import NewTip
from storage.schema import tips as tips_table
from storage.stores import Stores
from storage.tips import TipRepository
from storage.vault import Vault

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = datetime(2026, 11, 26, tzinfo=VIETNAM)
# Rough weights per category: most tips are social evils and crime, a few political.
WEIGHTS = {
    "drugs": 18, "gambling": 9, "prostitution": 3, "social_other": 3,
    "theft_robbery": 16, "fraud": 12, "assault": 5, "human_trafficking": 1,
    "child_abuse": 1, "weapons": 1, "criminal_other": 3,
    "propaganda": 2, "incitement": 1, "sabotage": 1, "political_other": 1,
    "fire_risk": 6, "dispute": 7, "public_order": 8, "other": 2,
}  # fmt: skip


async def main(count: int, out: Path) -> None:
    rng = random.Random(2025)
    places = gazetteer("ha_noi")
    wards = [p.code for p in rng.sample(places.all(), 40)]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/sample.db"
        await upgrade_async(url)
        db = Database(url, vault=Vault(b"bench-" + b"x9" * 24))
        now = DAY + timedelta(days=1, hours=7)
        try:
            async with db.write() as conn:
                stores = Stores(conn)
                tips = TipRepository(conn)
                await stores.units.add_unit(
                    "Công an thành phố", parent_id=None, city_level=True, wards=[], categories=[],
                    now=DAY,
                )  # fmt: skip
                for i in range(0, 40, 8):
                    await stores.units.add_unit(
                        f"Công an cụm {i // 8 + 1}", parent_id=1, city_level=False,
                        wards=wards[i : i + 8], categories=[], now=DAY,
                    )  # fmt: skip
                categories = list(WEIGHTS)
                for n in range(count):
                    category = rng.choices(categories, weights=list(WEIGHTS.values()))[0]
                    created = DAY + timedelta(seconds=rng.randrange(86_400))
                    ward = rng.choice(wards) if rng.random() > 0.08 else None
                    tip_id = str(uuid.uuid4())
                    await tips.add_tip(
                        NewTip(
                            id=tip_id, code=f"SAMP-{n:04d}", receipt_hash="-",
                            submission_key=tip_id, channel=rng.choice(["telegram", "web"]),
                            locale="vi",
                            category_group=taxonomy.BY_ID[category].group.value,
                            category=category, urgent=rng.random() < 0.1,
                            province_code=places.province_code if ward else None,
                            ward_code=ward, address_text=None, latitude=None, longitude=None,
                            location_label=None, occurred="today", occurred_text=None,
                            description="(sample)", contact_phone=None,
                            created_at=created.astimezone(UTC),
                        )
                    )  # fmt: skip
                    await stores.units.route_tip(
                        tip_id, ward_code=ward, category=category, urgent=False,
                        now=created.astimezone(UTC), claim_within=timedelta(hours=24),
                    )  # fmt: skip
                    claimed = rng.random() < 0.8
                    resolved = claimed and rng.random() < 0.55
                    at = created.astimezone(UTC)
                    await conn.execute(
                        update(tips_table)
                        .where(tips_table.c.id == tip_id)
                        .values(
                            claimed_by="sample" if claimed else None,
                            claimed_at=at + timedelta(minutes=rng.expovariate(1 / 40))
                            if claimed
                            else None,
                            resolved_at=at + timedelta(hours=rng.expovariate(1 / 5))
                            if resolved
                            else None,
                            status="resolved" if resolved else "verifying" if claimed else "new",
                        )
                    )
                start = datetime.combine(DAY.date(), time(), VIETNAM)
                text, path = await build_digest(
                    stores,
                    catalog=Catalog(),
                    places=places,
                    kind="daily",
                    start=start,
                    end=start + timedelta(days=1),
                    unit_id=None,
                    name=f"Toàn thành phố ({places.province_name})",
                    now=now.astimezone(UTC),
                    charts_dir=out,
                )
        finally:
            await db.dispose()
    (out / "sample-digest.txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"chart: {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tips", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("docs/samples"))
    options = parser.parse_args()
    asyncio.run(main(options.tips, options.out))
