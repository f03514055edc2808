"""Engine setup and the one way to open a write transaction.

SQLite: WAL, `synchronous=FULL` by default (a confirmed tip must survive power loss),
`busy_timeout`, and `BEGIN IMMEDIATE` for every write transaction so a reader never has
to upgrade to a writer mid-transaction (that upgrade fails at once with "database is
locked", whatever the busy timeout). Writes in this process are also serialised by a
lock, because SQLite has one writer anyway and queueing in asyncio is cheaper than
queueing in a thread blocked on the file lock. SQL parameters are hidden from error
messages: they would carry tip text into logs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from storage import sqlite_inline
from storage.vault import Vault


@dataclass(frozen=True)
class SqliteOptions:
    synchronous: str = "FULL"
    busy_timeout_ms: int = 5000


class Database:
    """Owns the engine; hands out read connections and write transactions."""

    def __init__(self, url: str, sqlite: SqliteOptions | None = None, *, vault: Vault) -> None:
        self.url = make_url(url)
        self.vault = vault
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        options = sqlite or SqliteOptions()
        if self.is_sqlite:
            database = self.url.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            pool: dict[str, Any] = {"poolclass": NullPool} if database == ":memory:" else {}
            self.engine: AsyncEngine = create_async_engine(self.url, hide_parameters=True, **pool)
            # Writes get their own engine, whose transactions begin IMMEDIATE; on a file,
            # its one connection runs statements inline (storage/sqlite_inline.py).
            inline = (
                {}
                if pool
                else {
                    "async_creator": sqlite_inline.connector(str(database), options.busy_timeout_ms)
                }
            )
            self.write_engine = create_async_engine(
                self.url, hide_parameters=True, **(pool or {"pool_size": 1}), **inline
            )
            _install_sqlite_hooks(self.engine, options, begin="BEGIN")
            _install_sqlite_hooks(self.write_engine, options, begin="BEGIN IMMEDIATE")
        else:
            self.engine = create_async_engine(
                self.url, pool_size=10, max_overflow=10, hide_parameters=True
            )
            self.write_engine = self.engine
        for engine in {self.engine, self.write_engine}:
            _attach_vault(engine, vault)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """Open one write transaction (BEGIN IMMEDIATE on SQLite); commit on success."""
        async with self.turn() as turn, turn.transaction() as conn:
            yield conn

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[WriteTurn]:
        """Hold this process's turn to write across several transactions, each committed
        on its own (SQLite: nobody else in the process writes in between; PostgreSQL
        has no such turn). Intake stores an update and then processes it in one turn:
        two commits, as durability needs, but one wait for the writer, not two."""
        if self._write_lock is None:
            yield WriteTurn(self.engine)
            return
        async with self._write_lock:
            yield WriteTurn(self.write_engine)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """Open a read-only connection (a deferred transaction that is rolled back)."""
        async with self.engine.connect() as conn:
            yield conn

    async def checkpoint(self) -> None:
        """Fold the WAL back into the database file and truncate it.

        Until then the WAL keeps copies of recently changed pages, including text that
        was since deleted (delivered messages, processed updates).
        """
        if self.is_sqlite:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()


@dataclass(frozen=True)
class WriteTurn:
    engine: AsyncEngine

    def transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite); commit on success."""
        return self.engine.begin()


def _attach_vault(engine: AsyncEngine, vault: Vault) -> None:
    """Every connection carries the database's vault (`vault_of`): the repositories seal
    and open content with it, whichever transaction they were handed."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(_dbapi_conn: Any, record: Any) -> None:
        record.info["vault"] = vault


# What a transaction changed that a background worker waits for: the pipeline wakes only
# the workers with new work (a commit used to wake them all, and each then looked at the
# database: two reads per commit, at a few hundred commits a second).
ALERTS = "alerts"
CAMPAIGNS = "campaigns"


def note_change(conn: AsyncConnection, what: str) -> None:
    conn.info.setdefault("changes", set()).add(what)


def take_changes(conn: AsyncConnection) -> set[str]:
    """What the transaction noted (and forget it: the connection is reused)."""
    changes: set[str] = conn.info.pop("changes", set())
    return changes


def vault_of(conn: AsyncConnection) -> Vault:
    vault: Vault = conn.info["vault"]
    return vault


def _install_sqlite_hooks(engine: AsyncEngine, options: SqliteOptions, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Autocommit at the driver level: we emit BEGIN ourselves (see Database.write);
        # pysqlite's implicit BEGIN would be DEFERRED.
        if dbapi_conn.isolation_level is not None:  # the inline writer opens that way
            dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"synchronous={options.synchronous}",
            f"busy_timeout={int(options.busy_timeout_ms)}",
            "foreign_keys=ON",
            "secure_delete=ON",
            "trusted_schema=OFF",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Reads take a deferred transaction; writes take the write lock up front.
        conn.exec_driver_sql(begin)
