"""`tipbot invite | unit | digest | audit`: bootstrapping and inspection from a shell
(the first admin comes from here; everything else can then be done in the chat)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, time, timedelta
from pathlib import Path

from bot.channels.web import NAME as WEB
from bot.clock import Clock
from bot.figures import Reports, build_digest
from bot.identity import Identity
from bot.settings import Settings
from bot.uploads import EXTENSIONS, UploadStore, sniff
from bot.work.retention import Retention, RetentionSettings
from handlers.core.events import Msg
from handlers.core.i18n import Catalog
from handlers.core.staffing import account_label
from handlers.domain import digest, taxonomy
from handlers.domain.places import gazetteer
from handlers.domain.vntime import VIETNAM
from storage import rekey
from storage.db import Database
from storage.migrate import upgrade_async
from storage.models import AttachmentRef
from storage.stores import Stores
from storage.vault import Vault


async def run(settings: Settings, args: argparse.Namespace) -> int:
    await upgrade_async(settings.resolved_database_url)
    if args.command == "rotate-key":
        old_key = await asyncio.to_thread(Path(args.old_key_file).read_text)
        return await _rotate_key(settings, old_key.strip().encode())
    db = Database(settings.resolved_database_url, vault=Vault(settings.secret_key()))
    now = Clock().now()
    try:
        if args.command == "invite":
            return await _invite(db, args, settings, now)
        if args.command == "unit":
            return await _unit(db, args, settings, now)
        if args.command == "digest":
            return await _digest(db, args, settings, now)
        if args.command == "export":
            return await _export(db, args, settings, now)
        if args.command == "evidence":
            return await _evidence(db, args, settings, now)
        if args.command == "purge":
            return await _purge(db, args, settings)
        async with db.read() as conn:
            entries = await Stores(conn).audit.entries(args.limit)
        for e in reversed(entries):
            who = e["staff_id"] or f"~{(e['actor_key'] or '')[:8]}"
            print(
                f"{e['at'].astimezone(VIETNAM):%Y-%m-%d %H:%M:%S} {e['outcome']:<6} "
                f"{e['action']:<18} {who:<34} {e['target'] or ''}"
            )
        return 0
    finally:
        await db.dispose()


async def _invite(db: Database, args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    if args.role != "admin" and args.unit is None:
        print("officers and supervisors need --unit", file=sys.stderr)
        return 2
    async with db.write() as conn:
        stores = Stores(conn)
        if args.unit is not None and not await stores.units.unit_exists(args.unit):
            print(f"no unit {args.unit}", file=sys.stderr)
            return 2
        staff_id = None
        if args.staff:
            staff_id = await stores.staff.staff_id(args.staff)
            if staff_id is None:
                print(f"no account {args.staff}", file=sys.stderr)
                return 2
        code = await stores.staff.create_invite(
            role=args.role,
            unit_id=args.unit,
            name=account_label(args.name or ""),
            staff_id=staff_id,
            created_by=None,
            now=now,
            ttl=timedelta(days=settings.invite_ttl_days),
        )
        await stores.audit.audit(now, "cli.invite", "ok", target=args.role)
    print(f"Invite code: {code}")
    print(f"Send the bot, from the chat to link: /join {code}")
    print(f"(one use, expires in {settings.invite_ttl_days} days)")
    return 0


async def _unit(db: Database, args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    places = gazetteer(settings.default_province)
    async with db.write() as conn:
        stores = Stores(conn)
        if args.unit_command == "list":
            for u in await stores.units.list_units():
                flags = " [city]" if u.city_level else ""
                parent = f" parent={u.parent_id}" if u.parent_id else ""
                print(f"{u.id:>4} {u.name}{flags}{parent}{' [group]' if u.has_group else ''}")
            return 0
        wards = []
        for query in filter(None, (q.strip() for q in args.wards.split(";"))):
            place = places.named(query)
            if place is None:
                print(f"no ward matches {query!r}", file=sys.stderr)
                return 2
            wards.append(place.code)
        categories = [c.strip() for c in args.categories.split(",") if c.strip()]
        unknown = [c for c in categories if c not in taxonomy.BY_ID]
        if unknown:
            print(f"unknown categories: {', '.join(unknown)}", file=sys.stderr)
            return 2
        unit_id = await stores.units.add_unit(
            args.name,
            parent_id=args.parent,
            city_level=args.city,
            wards=wards,
            categories=categories,
            now=now,
        )
        await stores.audit.audit(now, "cli.unit.add", "ok", target=str(unit_id))
    print(f"unit {unit_id}: {args.name} ({len(wards)} wards)")
    return 0


async def _digest(db: Database, args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    places = gazetteer(settings.default_province)
    catalog = Catalog(fallback=settings.default_locale)
    if args.day:
        first = datetime.strptime(args.day, "%Y-%m-%d").date()
    else:
        found = digest.period_of(
            args.kind, now.astimezone(VIETNAM), settings.digest_hour, settings.digest_weekday
        )
        assert found is not None
        first = found
    start = datetime.combine(first, time(), VIETNAM)
    end = start + timedelta(days=1 if args.kind == "daily" else 7)
    async with db.read() as conn:
        stores = Stores(conn)
        name = catalog.text("vi", Msg("digest.city", {"city": places.province_name}))
        if args.unit is not None:
            units = {u.id: u.name for u in await stores.units.list_units()}
            if args.unit not in units:
                print(f"no unit {args.unit}", file=sys.stderr)
                return 2
            name = units[args.unit]
        text, path = await build_digest(
            stores,
            catalog=catalog,
            places=places,
            kind=args.kind,
            start=start,
            end=end,
            unit_id=args.unit,
            name=name,
            now=now,
            charts_dir=settings.data_dir / "digests",
        )
    print(text)
    print(f"chart: {path}")
    return 0


async def _evidence(
    db: Database, args: argparse.Namespace, settings: Settings, now: datetime
) -> int:
    """Originals are encrypted at rest; this writes a tip's web uploads as sent (with
    their metadata: that is what makes them evidence). Files sent over Telegram stay
    there: only their reference is listed."""
    code = args.code.strip().upper()
    async with db.write() as conn:
        stores = Stores(conn)
        files = await stores.desk.evidence(code)
        await stores.audit.audit(now, "cli.evidence", "ok" if files is not None else "denied",
                           target=code[:64])  # fmt: skip
    if files is None:
        print(f"no tip {code}", file=sys.stderr)
        return 2
    store = UploadStore(settings.data_dir / "uploads", WEB, settings.secret_key())
    written = _write_originals(store, files, Path(args.out), code)
    print(f"{written} of {len(files)} files written")
    return 0


def _write_originals(store: UploadStore, files: list[AttachmentRef], out: Path, code: str) -> int:
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for n, ref in enumerate(files, 1):
        data = store.read_original(ref.file_ref) if ref.channel == WEB else None
        if data is None:
            print(f"{n}. {ref.kind} on {ref.channel}: not held here")
            continue
        sniffed = sniff(data[:64])
        path = out / f"{code}-{n}{EXTENSIONS.get(sniffed.mime if sniffed else '', '')}"
        path.write_bytes(data)
        written += 1
        print(f"{n}. {ref.kind} -> {path}")
    return written


async def _export(db: Database, args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    try:
        since = datetime.strptime(args.since, "%Y-%m-%d").replace(tzinfo=VIETNAM)
        until = datetime.strptime(args.until, "%Y-%m-%d").replace(tzinfo=VIETNAM)
    except ValueError:
        print("dates are YYYY-MM-DD", file=sys.stderr)
        return 2
    unknown = [c for c in args.category if c not in taxonomy.BY_ID]
    if unknown or until < since:
        print(f"unknown categories: {', '.join(unknown)}" if unknown else "--to is before --from",
              file=sys.stderr)  # fmt: skip
        return 2
    async with db.write() as conn:
        reports = Reports(
            conn,
            catalog=Catalog(fallback=settings.default_locale),
            places=gazetteer(settings.default_province),
            data_dir=settings.data_dir,
        )
        path, count = await reports.export(
            since,
            until + timedelta(days=1),
            categories=args.category or None,
            wards=args.ward or None,
            with_contact=args.with_contact,
            path=Path(args.out),
        )
        # Contact details are audited as their own action.
        action = "cli.export.contact" if args.with_contact else "cli.export"
        await Stores(conn).audit.audit(now, action, "ok", target=f"{args.since}..{args.until}")
    print(f"{count} tips written to {path}")
    return 0


async def _purge(db: Database, args: argparse.Namespace, settings: Settings) -> int:
    store = UploadStore(settings.data_dir / "uploads", WEB, settings.secret_key())
    retention = Retention(db, store, Clock(), RetentionSettings.of(settings))
    report = await retention.purge(dry_run=args.dry_run, actor="cli.purge")
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{verb}: {report.tips} closed tips ({report.files} files), {report.orphans} unused uploads"
    )
    return 0


async def _rotate_key(settings: Settings, old: bytes) -> int:
    """Everything sealed under the old key, sealed again under the configured one:
    content, chat addresses (and the pseudonyms derived from them), original uploads."""
    new = settings.secret_key()
    if new == old:
        print("the configured key is the old key: set the new one first", file=sys.stderr)
        return 2
    old_identity, new_identity = Identity(old), Identity(new)

    def address(channel: str, sealed: bytes) -> tuple[bytes, str] | None:
        plain = old_identity.unseal(sealed) or new_identity.unseal(sealed)
        if plain is None:
            return None  # sealed under neither key: unreachable already
        return new_identity.seal(plain), new_identity.pseudonym(channel, plain)

    vault = Vault(new, old)
    db = Database(settings.resolved_database_url, vault=vault)
    try:
        async with db.write() as conn:
            counts = await rekey.rotate(conn, rekey.Rekey(vault=vault, address=address))
            await Stores(conn).audit.audit(Clock().now(), "cli.rotate-key", "ok",
                                           target=f"kid={vault.kid}")  # fmt: skip
    finally:
        await db.dispose()
    uploads = settings.data_dir / "uploads"
    files = UploadStore(uploads, WEB, old).reseal_originals(UploadStore(uploads, WEB, new))
    print(f"re-sealed under key {vault.kid}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"{files} original uploads re-encrypted")
    return 0
