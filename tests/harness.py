"""Runs the real service in-process against the fake Bot API and waits for it to settle."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.app import App, Overrides
from bot.clock import Clock
from bot.settings import Settings
from storage import inbox, outbox
from storage.vault import Vault
from tests.fakes.botapi import TOKEN, Call, FakeBotAPI
from tests.fakes.updates import Citizen

ROOT = Path(__file__).resolve().parent.parent
SECRET = "Qm7xT2vL9pW4rZ8nB3kD6fH1jS5gY0cV-uE_aN2oP7iR4tM9wX3"  # a strong key, fixed
VAULT = Vault(SECRET.encode())  # what the service seals with, for tests that open its DB


# TIPBOT_TEST_SUITE_DATABASE=postgres runs every test that builds its settings here on
# a fresh PostgreSQL database (one per data folder) instead of SQLite.
SUITE_ON_POSTGRES = os.environ.get("TIPBOT_TEST_SUITE_DATABASE") == "postgres"
_suite_databases: dict[Path, str] = {}


def suite_database(data_dir: Path) -> str:
    """A new PostgreSQL database for this data folder (the same one when asked again),
    dropped at the end of the session (tests/conftest.py)."""
    known = _suite_databases.get(data_dir)
    if known is not None:
        return known
    import uuid

    import asyncpg

    base = os.environ["TIPBOT_TEST_POSTGRES_URL"]
    name = f"tipbot_suite_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    # Called from inside running tests: the database is made on a thread's own loop.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, create()).result()
    url = f"{base.rsplit('/', 1)[0]}/{name}"
    _suite_databases[data_dir] = url
    return url


def drop_suite_databases() -> None:
    import asyncpg

    base = os.environ.get("TIPBOT_TEST_POSTGRES_URL", "")

    async def drop() -> None:
        conn = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            for url in _suite_databases.values():
                name = url.rsplit("/", 1)[1]
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    if _suite_databases:
        asyncio.run(drop())
        _suite_databases.clear()


def database_url_for(data_dir: Path) -> str:
    """The database a service on this data folder uses (for tests that open it)."""
    if SUITE_ON_POSTGRES:
        return suite_database(data_dir)
    return f"sqlite+aiosqlite:///{data_dir / 'tipbot.db'}"


def process_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment for running `tipbot` as its own process on `data_dir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TIPBOT_"))}
    env.update(DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT), TIPBOT_SECRET_KEY=SECRET)
    if SUITE_ON_POSTGRES:  # the same database as the in-process service on this folder
        env["DATABASE_URL"] = suite_database(data_dir)
        # A killed process's leases are waited out there (replicas), not released at
        # start as on SQLite: short ones keep the crash tests' waits short.
        env["DELIVERY_LEASE_S"] = "20"
    env.update(settings)
    return env


async def run_tipbot(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`tipbot` from a test whose service runs in this event loop: the command waits in
    a thread, so the service keeps running (and releases the database) meanwhile —
    blocking the loop instead would hold any open write for as long as the command."""
    return await asyncio.to_thread(tipbot, *args, cwd=cwd, stdin=stdin)


def tipbot(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run a `tipbot` command to completion, as an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env=process_env(cwd),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def make_settings(data_dir: Path, api: FakeBotAPI | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "tipbot_secret_key": SECRET,
        "telegram_poll_timeout_s": 1,
        "telegram_rate_per_second": 0,
        "telegram_chat_interval_s": 0,
        "telegram_group_interval_s": 0,
        "flood_burst": 1000,  # the harness types faster than any person; see test_flood
        "web_port": 0,
        "log_level": "INFO",
    }
    if api is not None:
        values.update(telegram_bot_token=TOKEN, telegram_api_base_url=api.base_url)
    if SUITE_ON_POSTGRES and "database_url" not in overrides:
        values["database_url"] = suite_database(data_dir)
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def start_with_web(api: FakeBotAPI | None, data_dir: Path) -> tuple[Harness, str]:
    """The service with its HTTP side on (web chat and file endpoint), an easy
    challenge and no message limit; returns it and the web chat's base URL."""
    bot = Harness(api, make_settings(data_dir, api, web_pow_bits=4, web_messages_per_minute=1000))
    app = await bot.start(serve_http=True)
    assert app.web_url
    return bot, app.web_url.rstrip("/")


class _StuckWorkers(logging.Handler):
    """Collects the stop watchdog's complaints: every test's stop must be clean."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "did not" in record.getMessage():
            self.seen.append(record.getMessage())


class Harness:
    def __init__(self, api: FakeBotAPI | None, settings: Settings) -> None:
        self.api = api
        self.settings = settings
        self.clock = Clock()
        self.app: App | None = None

    async def start(self, *, serve_http: bool = False) -> App:
        self.app = App(self.settings, Overrides(clock=self.clock))
        api = self.api
        mark = len([c for c in api.calls if c.method == "deleteWebhook"]) if api else 0
        await self.app.start(serve_http=serve_http)
        if self.api is not None and self.settings.telegram_mode == "polling":
            # Polling has begun once the webhook is cleared.
            deadline = time.monotonic() + 10
            while len([c for c in self.api.calls if c.method == "deleteWebhook"]) == mark:
                assert time.monotonic() < deadline, "polling did not start"
                await asyncio.sleep(0.01)
        # A leader's catch-up (due campaigns, escalations, digests) runs beside the
        # start; a test that moves the clock next must not race it (on PostgreSQL it
        # read the moved clock and started a campaign the test then started itself).
        catch_up = getattr(self.app, "_catch_up_task", None)
        if catch_up is not None:
            await catch_up
        return self.app

    async def stop(self) -> None:
        if self.app is not None:
            stuck = _StuckWorkers()
            logging.getLogger("bot.app").addHandler(stuck)
            try:
                await self.app.stop()
            finally:
                logging.getLogger("bot.app").removeHandler(stuck)
            self.app = None
            assert not stuck.seen, f"the service did not stop cleanly: {stuck.seen}"

    async def restart(self) -> App:
        await self.stop()
        return await self.start()

    async def until(self, predicate: Callable[[], object], timeout: float = 30.0) -> None:
        """Settle until `predicate()` holds, for a time (never a number of rounds: an
        idle settle takes milliseconds, so counted rounds run out before a worker that
        waits a second — on PostgreSQL, the leader's lock — has started)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "condition not reached"
            await self.settle()
            await asyncio.sleep(0.02)

    async def settle(self, timeout: float = 15.0) -> None:
        """Wait until every fed update is stored, processed and its replies sent."""
        assert self.app is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fetched = self.api is None or not self.api.pending or self.api.confirm_on_fetch
            if fetched:
                async with self.app.db.read() as conn:
                    waiting = (await inbox.counts(conn)).get("pending", 0)
                    due = await outbox.due_count(conn, self.clock.now())
                if waiting == 0 and due == 0 and (self.api is None or not self.api.pending):
                    return
            await asyncio.sleep(0.01)
        raise TimeoutError("the bot did not settle")

    async def send(self, update: dict[str, Any]) -> list[Call]:
        """Feed one update; return the calls the bot made because of it."""
        assert self.api is not None
        mark = len(self.api.calls)
        self.api.push(update)
        await self.settle()
        return self.api.calls[mark:]

    async def say(self, citizen: Citizen, update: dict[str, Any]) -> list[Call]:
        """Feed an update from a citizen; return the messages sent to their chat."""
        calls = await self.send(update)
        return [c for c in calls if c.method == "sendMessage" and c.chat_id == citizen.user_id]

    async def press(self, citizen: Citizen, label_part: str) -> list[Call]:
        """Press the button (of the last message with buttons) whose label contains text."""
        button = self.button(citizen, label_part)
        if "callback_data" in button:
            return await self.say(citizen, citizen.press(button["callback_data"]))
        # A reply-keyboard button just sends its label as a text message.
        return await self.say(citizen, citizen.text(button["text"]))

    def button(self, citizen: Citizen, label_part: str) -> dict[str, Any]:
        assert self.api is not None
        for call in reversed(self.api.sent(citizen.user_id)):
            buttons = call.buttons()
            if buttons:
                for b in buttons:
                    if label_part.lower() in b["text"].lower():
                        return b
                raise AssertionError(
                    f"no button with {label_part!r}: {[b['text'] for b in buttons]}"
                )
        raise AssertionError("no message with buttons")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
