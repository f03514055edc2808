from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.fakes.botapi import FakeBotAPI
from tests.harness import Harness, drop_suite_databases, make_settings

PG_URL = os.environ.get("TIPBOT_TEST_POSTGRES_URL")


@pytest.fixture(scope="session", autouse=True)
def _suite_databases() -> Iterator[None]:
    yield
    drop_suite_databases()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    fake = FakeBotAPI()
    await fake.start()
    yield fake
    await fake.stop()
    assert not fake.unexpected, f"unexpected Bot API calls: {fake.unexpected}"


@pytest.fixture
async def bot(api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(api, make_settings(tmp_path, api))
    await harness.start()
    yield harness
    await harness.stop()


def _pg_database() -> Iterator[str]:
    """Create a throwaway PostgreSQL database and yield its asyncpg URL."""
    import asyncio

    import asyncpg

    assert PG_URL is not None
    name = f"tipbot_test_{uuid.uuid4().hex[:10]}"
    admin = PG_URL.replace("postgresql+asyncpg://", "postgresql://")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated-from-empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    if not PG_URL:
        pytest.skip("TIPBOT_TEST_POSTGRES_URL is not set")
    yield from _pg_database()
