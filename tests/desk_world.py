"""A desk to test: three units, an account of every kind, tips put straight into
storage, and browsers (HTTP clients) signed in as each account."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bot.desk.signin import hash_password
from bot.uploads import sniff
from storage.models import NewAttachment, NewTip
from storage.stores import Stores
from tests.harness import Harness

PASSWORD = "correct horse battery staple"
HOAN_KIEM, BA_DINH = 70, 4
# name: (role, unit): unit 1 covers Hoàn Kiếm, unit 2 Ba Đình, unit 3 is city level.
ACCOUNTS: dict[str, tuple[str, int | None]] = {
    "minh": ("officer", 1),
    "tuan": ("supervisor", 1),
    "hoa": ("officer", 2),
    "city": ("officer", 3),
    "chief": ("admin", None),
    "gone": ("officer", 1),
}


async def desk_world(bot: Harness) -> None:
    assert bot.app is not None
    now = datetime.now(UTC)
    hashed = hash_password(PASSWORD)
    async with bot.app.db.write() as conn:
        stores = Stores(conn)
        for name, wards, city in (
            ("Công an phường Hoàn Kiếm", [HOAN_KIEM], False),
            ("Công an phường Ba Đình", [BA_DINH], False),
            ("Công an thành phố Hà Nội", [], True),
        ):
            await stores.units.add_unit(
                name, parent_id=None, city_level=city, wards=wards, categories=[], now=now
            )
        for name, (role, unit) in ACCOUNTS.items():
            member = await stores.staff.upsert(
                name, hashed, "admin" if role == "admin" else "officer", now
            )
            if unit is not None:
                await stores.staff.set_membership(member.id, unit, role)


async def add_tip(
    bot: Harness,
    code: str,
    *,
    ward: int | None = HOAN_KIEM,
    category: str = "drugs",
    group: str = "social_evils",
    description: str = "Bán ma túy ở ngõ 5 mỗi tối",
    urgent: bool = False,
    contact: str | None = None,
    location: tuple[float, float] | None = None,
    photo: bytes | None = None,
    created_at: datetime | None = None,
) -> str:
    assert bot.app is not None
    now = created_at or datetime.now(UTC)
    tip_id = str(uuid.uuid4())
    files = []
    if photo is not None:
        sniffed = sniff(photo[:32])
        assert sniffed is not None
        ref = bot.app.web.store.save(photo, sniffed)
        files.append(NewAttachment(kind="photo", file_ref=ref, mime_type=sniffed.mime))
    async with bot.app.db.write() as conn:
        stores = Stores(conn)
        await stores.tips.add_tip(NewTip(
            id=tip_id, code=code, receipt_hash="h", submission_key=tip_id, channel="web",
            locale="vi", category_group=group, category=category, urgent=urgent,
            province_code=1 if ward else None, ward_code=ward, address_text=None,
            latitude=location[0] if location else None,
            longitude=location[1] if location else None, location_label=None,
            occurred="today", occurred_text=None, description=description,
            contact_phone=contact, created_at=now, attachments=files,
        ))  # fmt: skip
        await stores.units.route_tip(
            tip_id, ward_code=ward, category=category, urgent=urgent, now=now,
            claim_within=timedelta(hours=1),
        )  # fmt: skip
    return tip_id


async def signed_in(bot: Harness, name: str, **kwargs: Any) -> httpx.AsyncClient:
    """An HTTP client signed in as `name` (the caller closes it)."""
    assert bot.app is not None and bot.app.web_url
    client = httpx.AsyncClient(base_url=bot.app.web_url.rstrip("/"), timeout=30, **kwargs)
    page = await client.get("/staff/login")
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert csrf
    done = await client.post(
        "/staff/login", data={"csrf": csrf.group(1), "username": name, "password": PASSWORD}
    )
    assert done.status_code == 303, done.text
    return client


def form_of(page: str, action: str, field: str = "action") -> dict[str, str]:
    """The hidden fields of one form: on a tip page by its action, on the admin pages
    by its command (`field="command"`)."""
    start = page.index(f'name="{field}" value="{action}"')
    form = page[page.rindex("<form", 0, start) : page.index("</form>", start)]
    return dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form))
