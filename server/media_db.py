"""Media in the PostgreSQL database, so every relay on it serves every attachment.

Why in the database and not a shared folder: several relays behind a load balancer
already share one PostgreSQL (with its standby and its backups); a shared file system
would be one more thing to run, replicate and back up. Attachments are at most 10 MB
(``server.media.MAX_MEDIA_BYTES``) and kept once per sha256, so a ``bytea`` column is
enough.

Why a pool of its own: the store's writer runs every write under one global lock
(core/store_pg.py), and megabytes of bytes in its batch would hold every relay's
webhooks back. Media rows are not events and need no ordering, so they go through a
few separate autocommit connections (psycopg_pool), each call in a worker thread so
the event loop never blocks.

``media_store_for`` is where the relay picks its MediaStore: files beside a SQLite
desk, this table on PostgreSQL. psycopg is imported only when a DbMediaStore opens.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from core.store import Store
from server.config import Paths
from server.media import FileMediaStore, MediaStore, is_digest

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

T = TypeVar("T")

# Few: media calls are rare beside webhooks, and each holds a connection only briefly.
POOL_MIN = 1
POOL_MAX = 4
OPEN_TIMEOUT_S = 30.0


def media_store_for(store: Store, home: Path) -> MediaStore:
    """The MediaStore a relay on ``store`` uses: files in ``home``'s media folder for a
    SQLite desk, the ``media`` table for a PostgreSQL one (it needs no folder)."""
    if store.backend.name == "postgresql":
        assert store.url is not None  # a PostgreSQL store always has its URL
        return DbMediaStore(store.url)
    return FileMediaStore(Paths(home).media)


class DbMediaStore:
    """MediaStore over the ``media`` table (core/schema_pg.py creates it).

    Times are epoch milliseconds in ``stored_at``, refreshed by every put so the sweep's
    grace covers the message about to name the bytes. The pool opens on first use, so
    building one costs nothing; ``close`` it when the relay stops.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: ConnectionPool[Any] | None = None
        self._opening = threading.Lock()

    def __repr__(self) -> str:
        return "DbMediaStore(<database>)"  # the URL may carry a password

    async def put(self, data: bytes) -> str:
        return await self._run(_put, bytes(data))

    async def read(self, digest: str) -> bytes | None:
        if not is_digest(digest):
            return None
        return await self._run(_read, digest)

    async def size(self, digest: str) -> int | None:
        if not is_digest(digest):
            return None
        return await self._run(_size, digest)

    async def exists(self, digest: str) -> bool:
        return await self.size(digest) is not None

    async def sweep(self, referenced: set[str], *, now: float, grace_s: float) -> list[str]:
        cutoff = int((now - grace_s) * 1000)
        return await self._run(_sweep, sorted(referenced), cutoff)

    async def close(self) -> None:
        """Close the pool's connections (waits for calls in flight)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.close)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(self._call, fn, *args)

    def _call(self, fn: Any, *args: Any) -> Any:
        with self._opened().connection() as conn:
            return fn(conn, *args)

    def _opened(self) -> ConnectionPool[Any]:
        """The pool, opened by the first call that needs it (in its worker thread)."""
        with self._opening:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                pool: ConnectionPool[Any] = ConnectionPool(
                    self.url, min_size=POOL_MIN, max_size=POOL_MAX, open=False,
                    kwargs={"autocommit": True}, name="smsdesk-media")
                pool.open(wait=True, timeout=OPEN_TIMEOUT_S)
                self._pool = pool
            return self._pool


def _put(conn: Any, data: bytes) -> str:
    """Refresh the time of bytes already kept (no need to send them again), else insert
    them; two relays inserting the same bytes at once both succeed (ON CONFLICT)."""
    digest = hashlib.sha256(data).hexdigest()
    now = int(time.time() * 1000)  # this machine's clock, as the sweep's ``now`` is
    refreshed = conn.execute("UPDATE media SET stored_at = %s WHERE sha256 = %s",
                             (now, digest)).rowcount
    if not refreshed:
        conn.execute("INSERT INTO media(sha256, data, size, stored_at) VALUES (%s, %s, %s, %s)"
                     " ON CONFLICT (sha256) DO UPDATE SET stored_at = excluded.stored_at",
                     (digest, data, len(data), now))
    return digest


def _read(conn: Any, digest: str) -> bytes | None:
    row = conn.execute("SELECT data FROM media WHERE sha256 = %s", (digest,)).fetchone()
    return None if row is None else bytes(row[0])


def _size(conn: Any, digest: str) -> int | None:
    row = conn.execute("SELECT size FROM media WHERE sha256 = %s", (digest,)).fetchone()
    return None if row is None else int(row[0])


def _sweep(conn: Any, referenced: list[str], cutoff_ms: int) -> list[str]:
    rows = conn.execute("DELETE FROM media WHERE sha256 <> ALL(%s::text[]) AND stored_at < %s"
                        " RETURNING sha256", (referenced, cutoff_ms)).fetchall()
    return sorted(r[0] for r in rows)

