"""The write connection to SQLite: statements on the event loop, only the waits in a thread.

aiosqlite runs every call (cursor, execute, fetchall, close) as a round trip to its
worker thread: about 130 µs each on this kind of machine, four per statement, against a
few µs for the statement itself (performance-notes.md). Intake writes a few statements
per update, so those round trips were most of its cost. On the write connection only
one transaction runs at a time (the in-process write lock), so this connection runs the
statements on the calling thread and sends only what may block to its own thread:

- `BEGIN IMMEDIATE`, when another process (the CLI) holds the file's write lock: it is
  tried inline without waiting first, and waits in the thread only if that fails;
- the commit, when the disk makes its fsync (`synchronous=FULL`) slow (see `commit`);
- PRAGMAs (at connect, the checkpoint), a rollback while a commit is still in the
  thread, and close.

It is the part of aiosqlite's interface that SQLAlchemy's aiosqlite dialect calls,
handed to it through `create_async_engine(async_creator=…)`. A statement still blocks
the loop while it runs: fine for the short statements of the write path (each a few
µs to a few ms); reads, which may be long (exports, reports), stay on aiosqlite.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")

INLINE_COMMIT_S = 0.0005  # commits slower than this on average wait in the thread

# Statements that may wait on the file lock or the disk (PRAGMAs: at connect, and the
# checkpoint), run in the thread; everything else runs inline. BEGIN is tried inline
# first (`_begin_inline`).
_WAITING = ("BEGIN", "COMMIT", "END", "ROLLBACK", "PRAGMA", "VACUUM")


def _waits(sql: str) -> bool:
    return sql.lstrip()[:22].upper().startswith(_WAITING)


def _begins(sql: str) -> bool:
    return sql.lstrip()[:5].upper() == "BEGIN"


class InlineCursor:
    """An aiosqlite-shaped cursor whose coroutines finish without yielding."""

    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection
        self._cursor = connection._raw.cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        if _begins(sql) and self._connection._begin_inline(self._cursor, sql):
            return self
        run = partial(self._cursor.execute, sql, () if parameters is None else parameters)
        if _waits(sql):
            await self._connection._in_thread(run)
        else:
            run()
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """A stdlib sqlite3 connection behind aiosqlite's interface (see the module doc)."""

    def __init__(self, raw: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self._raw = raw
        self._thread = thread
        # SQLAlchemy's adapter checks this aiosqlite attribute before commit/rollback.
        self._connection: sqlite3.Connection | None = raw
        self._pending: asyncio.Future[Any] | None = None
        self.commit_seconds = 0.0  # moving average of the time a commit takes
        self.busy_timeout_ms = 5000  # restored after an inline BEGIN (see connector)

    async def _in_thread(self, call: Callable[[], T]) -> T:
        # One thread per connection: sqlite3 sees at most it and the loop's thread, never
        # both at once (the caller awaits, and the write lock keeps others out).
        future = asyncio.get_running_loop().run_in_executor(self._thread, call)
        self._pending = future
        return await future

    def _begin_inline(self, cursor: sqlite3.Cursor, sql: str) -> bool:
        """Try BEGIN without waiting: when no other process holds the write lock (the
        usual case) it takes microseconds, and a thread hop here costs a full turn of a
        busy event loop while the in-process write lock is held. False: the lock is taken
        elsewhere; the caller waits for it in the thread, with the busy timeout."""
        cursor.execute("PRAGMA busy_timeout=0")
        try:
            cursor.execute(sql)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            return False
        finally:
            cursor.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
        return True

    @property
    def isolation_level(self) -> str | None:
        return self._raw.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._raw.create_function(*args, **kwargs)

    async def commit(self) -> None:
        # The commit's fsync (synchronous=FULL) takes ≈ 0.15 ms on this kind of machine:
        # cheaper inline than a thread round trip, which costs a turn of a busy loop. On
        # a disk where it is slow, blocking the loop would stall every page and long poll,
        # so past INLINE_COMMIT_S (a moving average) commits go to the thread.
        if self.commit_seconds < INLINE_COMMIT_S:
            self._timed_commit()
        else:
            await self._in_thread(self._timed_commit)

    def _timed_commit(self) -> None:
        started = time.perf_counter()
        self._raw.commit()
        self.commit_seconds = 0.8 * self.commit_seconds + 0.2 * (time.perf_counter() - started)

    async def rollback(self) -> None:
        # Also called on every return to the pool, mostly with nothing to undo. Undoing
        # does not touch the disk; only a call still running in the thread (a commit
        # abandoned by a cancelled caller) must be waited for.
        if self._pending is None or self._pending.done():
            self._raw.rollback()
        else:
            await self._in_thread(self._raw.rollback)

    async def close(self) -> None:
        if self._connection is None:
            return
        self._connection = None
        try:
            await self._in_thread(self._raw.close)
        finally:
            self._thread.shutdown(wait=False)

    def stop(self) -> None:
        """Close without waiting (SQLAlchemy's forced terminate, e.g. at garbage collection)."""
        if self._connection is not None:
            self._connection = None
            self._thread.submit(self._raw.close)
            self._thread.shutdown(wait=False)


def connector(path: str, busy_timeout_ms: int) -> Callable[..., Awaitable[InlineConnection]]:
    """`async_creator` for `create_async_engine`: opens `path` in autocommit mode at the
    driver level (we emit BEGIN IMMEDIATE ourselves; see storage/db.py)."""

    async def connect(*_args: Any, **_kwargs: Any) -> InlineConnection:
        thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        open_file = partial(sqlite3.connect, path, isolation_level=None, check_same_thread=False)
        raw = await asyncio.get_running_loop().run_in_executor(thread, open_file)
        connection = InlineConnection(raw, thread)
        connection.busy_timeout_ms = int(busy_timeout_ms)
        return connection

    return connect
