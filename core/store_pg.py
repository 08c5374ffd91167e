"""The store on PostgreSQL: several relays on one database, one event log in commit order.

The Store's batching, savepoints, listeners and ordering are the same as on SQLite
(core/store.py); this module supplies what differs:

* Connections: psycopg's synchronous API through ``core.pg`` (so every query and write
  function in core/ runs unchanged), each connection with one thread of its own, as
  aiosqlite gives SQLite's.
* One global write lock. Every write transaction (each relay's batches, the admin CLI)
  begins with ``pg_advisory_xact_lock``. Identity values are not transactional: two
  transactions taking seq 41 and 42 could commit 42 first, and a reader that passed 42
  would never see 41. Under one lock, seqs are handed out in commit order, so "events
  after my last seq" on any relay is complete. It also keeps every "check, then write"
  rule (a MessageSid seen twice, a command resent) as safe across relays as SQLite's
  single writer keeps it within one.
* Fan-out by LISTEN/NOTIFY carrying only the newest seq of each commit (payloads are
  capped at 8,000 bytes; the rows are read once per relay, by its writer, in order).
  A notification only wakes the writer; the writer reads what it has not published.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from core.models import Event
from core.store import Backend, Conn, _events_after, _newest_seq

if TYPE_CHECKING:
    from core.pg import PgConn
    from core.store import Store

logger = logging.getLogger(__name__)

T = TypeVar("T")

CHANNEL = "smsdesk_events"
# pg_advisory_xact_lock's key for "a write transaction of the store": any constant that
# no other application on the database uses ("smsdesk" in ASCII, as an int8).
WRITE_LOCK = 0x736D736465736B
LISTEN_RETRY_SECONDS = 1.0


class PgThreadConn:
    """A PostgreSQL connection with one thread of its own: ``run`` hops to it once."""

    def __init__(self, conn: PgConn) -> None:
        self.conn = conn
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smsdesk-pg")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, functools.partial(fn, self.conn, *args))

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._thread, self.conn.close)
        finally:
            self._thread.shutdown(wait=True)


class PgBackend(Backend):
    """PostgreSQL's side of the store's writer (see the module's docstring)."""

    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self._listener: asyncio.Task[None] | None = None

    def begin_write(self, conn: Any) -> None:
        conn.execute("BEGIN")
        conn.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))

    def before_jobs(self, conn: Any) -> Any:
        return None  # the search columns are generated: nothing to index by hand

    def before_commit(self, conn: Any, state: Any, events: list[Event]) -> None:
        if events:  # delivered at COMMIT, in commit order, to every relay listening
            conn.execute("SELECT pg_notify(?, ?)", (CHANNEL, str(events[-1].seq)))

    def foreign_events(self, conn: Any, version: int, published_seq: int
                       ) -> tuple[int, list[Event]]:
        """Events after ``published_seq``: a cheap indexed read, also the fallback should a
        notification be lost (the listening connection dropped and came back)."""
        return version, _events_after(conn, published_seq)

    async def close_writer(self, writer: Conn) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await writer.close()

    def listen(self, store: Store) -> None:
        """Wake ``store``'s writer whenever another relay commits events."""
        self._listener = asyncio.get_running_loop().create_task(
            self._listen(store), name="store-listen")

    async def _listen(self, store: Store) -> None:
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    store.notice_foreign_commit()  # whatever committed while we were away
                    async for note in conn.notifies():
                        if int(note.payload or 0) > store.published_seq:
                            store.notice_foreign_commit()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("listening for other relays' commits failed; retrying",
                               exc_info=True)
                await asyncio.sleep(LISTEN_RETRY_SECONDS)


def _prepare_writer(conn: PgConn) -> tuple[int, int]:
    from core.schema_pg import migrate_pg

    migrate_pg(conn.raw)
    return _newest_seq(conn), 0


def _check_reader(conn: PgConn) -> None:
    conn.execute("SELECT 1").fetchone()


async def open_pg_store(cls: type[Store], url: str, *, readers: int = 2) -> Store:
    """Open (and migrate) the store on the PostgreSQL database at ``url``."""
    from core import pg

    loop = asyncio.get_running_loop()
    opened: list[PgThreadConn] = []
    try:
        writer = PgThreadConn(await loop.run_in_executor(None, pg.connect, url))
        opened.append(writer)
        published = await writer.run(_prepare_writer)
        for _ in range(readers):
            reader = PgThreadConn(await loop.run_in_executor(
                None, functools.partial(pg.connect, url, read_only=True)))
            opened.append(reader)
            await reader.run(_check_reader)
    except BaseException:
        for conn in opened:
            await conn.close()
        raise
    backend = PgBackend(url)
    store = cls(None, opened[0], list(opened[1:]), published=published, backend=backend,
                url=url)
    backend.listen(store)
    return store
