"""The few statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")


def insert_for(conn: AsyncConnection, table: Table) -> Any:
    """Return the dialect's INSERT construct (it knows ON CONFLICT on both backends)."""
    return insert_in(conn.dialect.name, table)


def insert_in(dialect: str, table: Table) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def once_per_dialect(build: Callable[[str], T]) -> Callable[[AsyncConnection], T]:
    """A statement built once for each dialect and reused, its values bound at execution
    (`bindparam`). Building a construct on every call, and generating its cache key to
    find the compiled form, was a large share of intake's per-update cost; a constant
    statement's cache key is computed once and memoised."""
    built: dict[str, T] = {}

    def statement(conn: AsyncConnection) -> T:
        name = conn.dialect.name
        stmt = built.get(name)
        if stmt is None:
            stmt = built[name] = build(name)
        return stmt

    return statement
