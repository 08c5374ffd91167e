"""What core/ needs from a database connection, whichever backend serves it.

core/'s SQL is written once, for ``conn.execute(sql, params)`` with ``?`` placeholders and
rows read by name, index or unpacking. ``sqlite3`` provides that natively; ``core.pg``
provides the same on PostgreSQL. These Protocols name that common surface, so a feature's
type hints say "a connection" rather than "an sqlite3 connection", and both satisfy them
without inheriting from anything.

Nothing here imports psycopg: the SQLite desk (``make demo``) must run with nothing but
python3, so the PostgreSQL driver is loaded only when a ``postgresql://`` database is used.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

# Where a store lives: a SQLite file, or a PostgreSQL URL (``postgresql://user@host/db``).
Locator = Path | str

POSTGRES_SCHEMES = ("postgresql://", "postgres://")  # the two URI schemes libpq accepts


class Row(Protocol):
    """A result row: ``row["col"]``, ``row[0]``, unpacking, ``keys()`` (as ``sqlite3.Row``)."""

    def __getitem__(self, key: Any, /) -> Any: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Any]: ...
    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    """The result of ``Conn.execute``. Rows are typed ``Any``, as sqlite3 types them."""

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchmany(self, size: int = ..., /) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...
    def close(self) -> None: ...


class Conn(Protocol):
    """A connection that runs one statement per call; transactions are explicit SQL.

    Both backends run in autocommit mode (sqlite3 with ``isolation_level=None``): the store
    issues BEGIN, SAVEPOINT and COMMIT itself, and ``in_transaction`` says whether one is
    open (for instance to roll back after a failure).
    """

    @property
    def in_transaction(self) -> bool: ...
    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...
    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> Any: ...
    def close(self) -> None: ...


def database_errors() -> tuple[type[Exception], ...]:
    """The exception classes either driver raises for a database failure, for ``except``.

    A function rather than a constant so that psycopg is never imported for it: its
    ``Error`` joins the tuple only once psycopg is loaded, and until then no psycopg error
    can exist. A constant bound at import time would miss psycopg when core.db is imported
    first, which is always. ``except`` evaluates its expression only when an exception is
    already in flight, so calling it there costs nothing on the normal path.
    """
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return (sqlite3.DatabaseError,)
    return (sqlite3.DatabaseError, psycopg.Error)


def is_postgres_url(locator: str | os.PathLike[str]) -> bool:
    """Whether a ``--database`` value names a PostgreSQL database rather than a SQLite file.

    Only URIs count (``postgresql://`` or ``postgres://``, any case): a libpq
    ``key=value`` string could also be a file name, so it is never guessed at.
    """
    return isinstance(locator, str) and locator[:13].lower().startswith(POSTGRES_SCHEMES)
