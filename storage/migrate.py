"""Apply Alembic migrations programmatically (the CLI and tests use this)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _prepare(url: str) -> None:
    if url.startswith("sqlite") and ":///" in url:
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


MIGRATE_LOCK = 7_360_111_042_517  # an advisory lock: one replica migrates at a time


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (blocking; runs its own loop).

    On PostgreSQL replicas that start together would run the same migration at once
    (and fail on each other's tables): an advisory lock, held on a connection of its
    own while Alembic works, lets one migrate and the others then find nothing to do."""
    _prepare(url)
    if not url.startswith("postgresql"):
        command.upgrade(alembic_config(url), revision)
        return
    asyncio.run(_upgrade_locked(url, revision))


async def _upgrade_locked(url: str, revision: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATE_LOCK})
            await conn.commit()
            try:
                await asyncio.to_thread(command.upgrade, alembic_config(url), revision)
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATE_LOCK})
                await conn.commit()
    finally:
        await engine.dispose()


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """Run `upgrade` from async code (Alembic's env starts its own event loop)."""
    await asyncio.to_thread(upgrade, url, revision)
