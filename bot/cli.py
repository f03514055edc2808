"""The `tipbot` command: run the service, migrate, list tips."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import signal
import sys

from pydantic import ValidationError

from bot import logs
from bot.app import App, Overrides
from bot.settings import Settings


def main(argv: list[str] | None = None) -> int:
    # Everything the service writes (database, WAL, uploads, exports, charts, the dev
    # key) is for its own user only: files 0600, folders 0700.
    os.umask(0o077)
    parser = argparse.ArgumentParser(prog="tipbot", description="Citizen tip-intake chatbot")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run every configured channel and print the web URL")
    run.add_argument("--replica-id", help="this process's name in logs and /healthz (REPLICA_ID)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    tips = sub.add_parser("tips", help="list stored tips (no contact details)")
    tips.add_argument("--limit", type=int, default=50)
    staff = sub.add_parser("staff", help="manage officer and admin accounts")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)
    add = staff_sub.add_parser(
        "add", help="create an account or set a new password (from stdin, or asked for)"
    )
    add.add_argument("username")
    add.add_argument("--role", choices=["officer", "supervisor", "admin"], default="officer")
    add.add_argument(
        "--unit", type=int, help="the unit whose tips the account works (see unit list)"
    )
    disable = staff_sub.add_parser("disable", help="deactivate an account at once")
    disable.add_argument("username")
    totp = staff_sub.add_parser(
        "totp", help="give an account a second factor (prints the secret for its app)"
    )
    totp.add_argument("username")
    totp.add_argument("--reset", action="store_true", help="remove it (a lost phone)")

    invite = sub.add_parser(
        "invite", help="print a one-time code; the person sends /join CODE to the bot"
    )
    invite.add_argument("--role", choices=["admin", "officer", "supervisor"], required=True)
    invite.add_argument("--unit", type=int, help="unit id (officers and supervisors)")
    invite.add_argument("--name", help="a short label for the new account")
    invite.add_argument("--staff", help="link a chat to this existing (web sign-in) account")
    unit = sub.add_parser("unit", help="manage police units")
    unit_sub = unit.add_subparsers(dest="unit_command", required=True)
    unit_add = unit_sub.add_parser("add", help="create a unit")
    unit_add.add_argument("name")
    unit_add.add_argument("--city", action="store_true", help="city level: sees every tip")
    unit_add.add_argument("--parent", type=int)
    unit_add.add_argument("--wards", default="", help='ward names, ";"-separated')
    unit_add.add_argument("--categories", default="", help="category ids, comma-separated")
    unit_sub.add_parser("list", help="list units")
    dig = sub.add_parser("digest", help="print a digest and write its chart (sends nothing)")
    dig.add_argument("--kind", choices=["daily", "weekly"], default="daily")
    dig.add_argument("--day", help="first day of the period, YYYY-MM-DD (default: last)")
    dig.add_argument("--unit", type=int, help="unit id (default: city-wide)")
    export = sub.add_parser("export", help="write tips of a period as CSV (no identifiers)")
    export.add_argument("--from", dest="since", required=True, help="YYYY-MM-DD (ICT)")
    export.add_argument("--to", dest="until", required=True, help="YYYY-MM-DD, inclusive")
    export.add_argument("--category", action="append", default=[], help="repeatable")
    export.add_argument("--ward", action="append", type=int, default=[], help="ward code")
    export.add_argument(
        "--with-contact",
        action="store_true",
        help="add the phone number of tips whose tipster left one (audited)",
    )
    export.add_argument("--out", required=True, help="CSV file to write")
    evidence = sub.add_parser(
        "evidence", help="decrypt a tip's web uploads, as sent, for a case file (audited)"
    )
    evidence.add_argument("code", help="the tip code, e.g. 7KQ2-M9XD")
    evidence.add_argument("--out", required=True, help="directory to write the files to")
    rotate = sub.add_parser(
        "rotate-key",
        help="re-seal everything under the configured key (stop the service first)",
    )
    rotate.add_argument(
        "--old-key-file", required=True, help="file holding the key the data is sealed with now"
    )
    purge = sub.add_parser(
        "purge", help="delete closed tips past their retention and unused uploads (audited)"
    )
    purge.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    audit = sub.add_parser("audit", help="print the latest audit log entries")
    audit.add_argument("--limit", type=int, default=50)
    args = parser.parse_args(argv)

    try:
        replica = getattr(args, "replica_id", None)
        settings = Settings(**({"replica_id": replica} if replica else {}))
    except ValidationError as exc:
        # Name the setting and what is wrong with it, never the value (a token's tail
        # or a key would end up in a terminal's scrollback or a service log).
        for error in exc.errors(include_input=False, include_url=False):
            name = "_".join(str(part) for part in error["loc"]).upper()
            what = f"invalid setting {name}" if name else "invalid settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            print(f"{what}: {message}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    if args.command == "run":
        return asyncio.run(_run(settings))
    if args.command == "migrate":
        from storage.migrate import upgrade

        upgrade(settings.resolved_database_url)
        print("database is up to date")
        return 0
    if args.command == "tips":
        return asyncio.run(_list_tips(settings, args.limit))
    if args.command == "staff":
        return asyncio.run(_staff(settings, args))
    if args.command in (
        "invite", "unit", "digest", "audit", "export", "evidence", "purge", "rotate-key"
    ):  # fmt: skip
        from bot import admin_cli

        return asyncio.run(admin_cli.run(settings, args))
    return 2


async def _run(settings: Settings) -> int:
    app = App(settings, Overrides(crash_at=os.environ.get("TIPBOT_CRASH_AT")))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await app.start()
    # The desk is a channel inside (decision 0014), not a way in for citizens.
    channels = ", ".join(sorted(n for n in app.channels if n != "desk")) or "none"
    print(f"tipbot is running. Web chat: {app.chat_url}  (channels: {channels})", flush=True)
    if app.telegram is None:
        print("No TELEGRAM_BOT_TOKEN set: Telegram is off.", flush=True)
    if app.zalo is None:
        print("No ZALO_BOT_TOKEN set: Zalo is off.", flush=True)
    waiter = asyncio.create_task(app.wait())
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if waiter in done and waiter.exception() is not None:
        print(f"stopping: {type(waiter.exception()).__name__}", file=sys.stderr)
        code = 1
    for task in (waiter, stopper):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await app.stop()
    return code


async def _list_tips(settings: Settings, limit: int) -> int:
    from storage.db import Database
    from storage.migrate import upgrade_async
    from storage.tips import TipRepository
    from storage.vault import Vault

    await upgrade_async(settings.resolved_database_url)
    db = Database(settings.resolved_database_url, vault=Vault(settings.secret_key()))
    from handlers.domain.vntime import VIETNAM as zone

    try:
        async with db.read() as conn:
            rows = await TipRepository(conn).recent(limit)
    finally:
        await db.dispose()
    if not rows:
        print("no tips yet")
        return 0
    print(
        f"{'code':<10} {'created (ICT)':<17} {'group':<19} {'category':<18} "
        f"{'ward':>6} {'urgent':<6} {'files':>5} {'channel':<8} status"
    )
    for t in rows:
        print(
            f"{t.code:<10} {t.created_at.astimezone(zone):%Y-%m-%d %H:%M} "
            f"{t.category_group:<19} {t.category:<18} {t.ward_code or '-':>6} "
            f"{'yes' if t.urgent else 'no':<6} {t.attachments:>5} {t.channel:<8} {t.status}"
        )
    return 0


async def _staff(settings: Settings, args: argparse.Namespace) -> int:
    from bot.clock import Clock
    from bot.desk.signin import hash_password
    from storage.db import Database
    from storage.migrate import upgrade_async
    from storage.staff import StaffAccounts
    from storage.units import Units
    from storage.vault import Vault

    await upgrade_async(settings.resolved_database_url)
    db = Database(settings.resolved_database_url, vault=Vault(settings.secret_key()))
    try:
        if args.staff_command == "add":
            if sys.stdin.isatty():
                password = getpass.getpass("Password (12+ characters): ")
            else:
                password = sys.stdin.readline().rstrip("\n")
            try:
                hashed = hash_password(password)
            except ValueError as exc:
                print(exc, file=sys.stderr)
                return 2
            async with db.write() as conn:
                accounts = StaffAccounts(conn)
                if args.unit is not None and not await Units(conn).unit_exists(args.unit):
                    print(f"no unit {args.unit} (tipbot unit list)", file=sys.stderr)
                    return 2
                role = "admin" if args.role == "admin" else "officer"
                member = await accounts.upsert(args.username, hashed, role, Clock().now())
                if args.unit is not None:
                    unit_role = "supervisor" if args.role == "supervisor" else "officer"
                    await accounts.set_membership(member.id, args.unit, unit_role)
            print(f"{member.username} ({args.role}) can sign in at /staff/login")
            return 0
        if args.staff_command == "totp":
            import pyotp

            secret = None if args.reset else pyotp.random_base32()
            async with db.write() as conn:
                done = await StaffAccounts(conn).set_totp(args.username, secret)
            if not done:
                print("no such account", file=sys.stderr)
                return 1
            if secret is None:
                print(f"{args.username}: second factor removed; open sessions ended")
                return 0
            uri = pyotp.TOTP(secret).provisioning_uri(name=args.username, issuer_name="tipbot")
            # Shown once, to the operator at the console; only a sealed copy is kept.
            print(f"secret: {secret}\n{uri}\nAdd it to an authenticator app, then sign in "
                  "with the 6-digit code.")  # fmt: skip
            return 0
        async with db.write() as conn:
            found = await StaffAccounts(conn).deactivate(args.username)
        print("deactivated" if found else "no such account")
        return 0 if found else 1
    finally:
        await db.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
