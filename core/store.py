"""One SQLite file, one writer with group commit, a few readers.

Why group commit: with ``synchronous=FULL`` every COMMIT waits for the disk,
so committing each webhook on its own caps the relay at the disk's fsync rate.
Instead every write is a job on one queue; the single writer takes all the
jobs waiting, runs each in its own SAVEPOINT inside one transaction, commits
once, and only then tells each caller its result. A job that fails rolls back
to its savepoint and fails alone; nobody is told "done" before their change is
on disk. While one batch commits the next one gathers, so batches grow with
load and throughput follows.

Why aiosqlite's worker threads: SQLite calls block, and the event loop must
not. Each batch (and each multi-statement read) is one hop to the connection's
thread rather than one hop per statement.

Why the writer also watches for other writers: the admin CLI (``smsdesk account
add``, ``agent add``...) commits to the same file from another process while a
relay runs. Its events must reach the relay's listeners (agents, caches) as if
the relay had written them, exactly once and in ``seq`` order. So the writer
publishes the events after the last one it published: at the start of each
batch (inside its transaction, before its own, so they stay in order), and
when idle, every ``FOREIGN_CHECK_SECONDS``, once ``PRAGMA data_version`` (a
counter only other connections' commits move) says something changed.

Two backends share all of this: SQLite (the default, one file) and PostgreSQL
(``core/store_pg.py``, several relays on one database). What differs between
them is behind :class:`Backend`: how a connection runs a callable in its
thread, how a write transaction begins (PostgreSQL takes one global lock, so
``seq`` order is commit order across relays and no reader can pass an event
that commits late), what runs before COMMIT (the FTS5 index; a NOTIFY), and
how the writer learns that another process committed. No feature knows which
backend it runs on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import aiosqlite

from core import db, records
from core.db import is_postgres_url
from core.dialect import SQLITE, Dialect
from core.models import Event, now_ms
from core.schema import migrate
from core.writes import WriteContext, index_new_entries, newest_entry_id

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

MAX_BATCH = 1024
FOREIGN_CHECK_SECONDS = 0.5
# Inserts learn their new key from ``INSERT ... RETURNING`` (added in SQLite 3.35), the
# one form PostgreSQL shares: its drivers have no ``lastrowid``.
MIN_SQLITE = (3, 35, 0)

CommitListener = Callable[[list[Event]], None]


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: asyncio.Future[Any]
    outcome: tuple[bool, Any] | None = None
    events: list[Event] = field(default_factory=list)


class StoreClosed(RuntimeError):
    pass


class DatabaseUnavailable(RuntimeError):
    """The database did not answer (its server restarted, failed over, or is unreachable).

    Nothing was stored by the call that raised it (unless it is a ``WriteInDoubt``). The
    connection is reopened by a later call (core/store_pg.py), so the caller answers "try
    again" (a webhook: 503, and Twilio tries the fallback URL) rather than failing for good.
    """


class WriteInDoubt(DatabaseUnavailable):
    """The connection was lost while a write transaction was under way, perhaps after its
    COMMIT was sent: the write may or may not be stored. It is never retried blindly;
    the sender's retry (Twilio's, or an agent's resend with the same command id) is
    deduplicated by what was recorded."""


# Put on the writer's queue when another process committed (PostgreSQL's NOTIFY): the
# writer publishes what it has not, between batches, in order.
_FOREIGN_COMMIT = object()


class SqliteTooOld(RuntimeError):
    """The SQLite library Python was built with lacks what the store's SQL needs."""


def require_sqlite() -> None:
    """Refuse, before any file is touched, a SQLite too old for ``RETURNING``.

    Without this check the first insert would fail mid-batch with a bare syntax
    error that names no cause and no remedy.
    """
    found = sqlite3.sqlite_version_info
    if found < MIN_SQLITE:
        have = ".".join(map(str, found))
        need = ".".join(map(str, MIN_SQLITE))
        raise SqliteTooOld(f"smsdesk needs SQLite {need} or newer (for INSERT ... RETURNING),"
                           f" but this Python uses SQLite {have}: run smsdesk with a Python"
                           " built against a newer SQLite")


def _connect_in_thread(db: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> Any:
    """Run ``fn(sqlite3_connection, *args)`` in the connection's own thread.

    aiosqlite's public API hops threads once per statement; a transaction of
    ten statements would pay that ten times. Its ``_execute`` runs one callable
    in the same thread with the same connection, so a whole batch is one hop.
    """
    return db._execute(lambda: fn(db._conn, *args))


class SqliteConnection(sqlite3.Connection):
    """sqlite3's connection carrying its SQL dialect, as ``core.pg.PgConn`` carries its own:
    features read ``conn.dialect`` for the few fragments that differ (core.dialect)."""

    dialect: Dialect = SQLITE


class Conn(Protocol):
    """A database connection with its own thread: ``run`` hops to it once per call."""

    async def run(self, fn: Callable[..., T], *args: Any) -> T: ...

    async def close(self) -> None: ...


class SqliteConn:
    """An aiosqlite connection (it owns a thread) as a :class:`Conn`."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await _connect_in_thread(self.db, fn, *args)  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.db.close()


@dataclass
class Lead:
    """This process leads ``name`` (say, the outbox) until ``lost`` is set or the block ends.

    ``takeover``: another process may have led just before, and may still be finishing
    what it started (a send to Twilio); work it left in doubt waits ``takeover`` seconds.
    """

    name: str
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    takeover: bool = False


@asynccontextmanager
async def _always_lead(name: str) -> AsyncIterator[Lead]:
    yield Lead(name)


class Backend:
    """What differs between the SQLite file and a PostgreSQL database (this is SQLite's).

    The hooks that take ``conn`` run in the writer's thread, inside ``_run_batch``.
    """

    name = "sqlite"

    def begin_write(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")  # the file's write lock, taken now, not at first write

    def before_jobs(self, conn: Any) -> Any:
        """State ``before_commit`` needs: here, the newest entry the FTS5 index has."""
        return newest_entry_id(conn)

    def before_commit(self, conn: Any, state: Any, events: list[Event]) -> None:
        index_new_entries(conn, state)

    def foreign_events(self, conn: Any, version: int, published_seq: int
                       ) -> tuple[int, list[Event]]:
        """(a change marker, events after ``published_seq`` if another process committed)."""
        return _events_if_changed(conn, version, published_seq)

    async def close_writer(self, writer: Conn) -> None:
        await writer.run(_checkpoint)
        await writer.close()

    def leadership(self, name: str) -> AbstractAsyncContextManager[Lead]:
        """Wait until this process leads ``name``, then lead for the block.

        One relay serves a SQLite file, so it always leads, at once and for good.
        """
        return _always_lead(name)

    def share(self, text: str) -> None:
        """Tell the other processes on this database ``text``: none share a SQLite file."""

    def on_shared(self, listener: Callable[[str], None],
                  joined: Callable[[], None] | None = None) -> None:
        """Call ``listener(text)`` for what other processes share, and ``joined()`` each
        time this process (re)starts hearing them: none here."""


SQLITE = Backend()


class Store:
    """The durable home of every conversation. Open with ``await Store.open(path)``."""

    def __init__(self, path: Path | None, writer: Conn, readers: list[Conn], *,
                 published: tuple[int, int] = (0, 0), backend: Backend = SQLITE,
                 url: str | None = None) -> None:
        self.path = path  # the SQLite file (None on PostgreSQL)
        self.url = url  # the PostgreSQL database (None on SQLite)
        self.backend = backend
        # (the newest seq given to listeners, the writer's data_version when last checked)
        self._published_seq, self._data_version = published
        self._writer = writer
        self._readers = readers
        self._idle_readers: asyncio.Queue[Conn] = asyncio.Queue()
        for reader in readers:
            self._idle_readers.put_nowait(reader)
        self._jobs: asyncio.Queue[_Job | object | None] = asyncio.Queue()
        self._listeners: list[CommitListener] = []
        self._leading: dict[str, Lead] = {}  # leaderships held now, for /healthz
        self._closed = False
        self.batches = 0  # commits so far; with ``self.jobs`` shows how well commits group
        self.jobs = 0
        self.commit_seconds = 0.0  # time spent in batches, in the writer's thread
        self._writer_task = asyncio.create_task(self._write_batches(), name="store-writer")

    @classmethod
    async def open(cls, path: str | os.PathLike[str], *, readers: int = 2) -> Store:
        """Open (creating and migrating) the store: a SQLite file, or a ``postgresql://`` URL."""
        if is_postgres_url(path):
            from core.store_pg import open_pg_store

            return await open_pg_store(cls, path, readers=readers)
        require_sqlite()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Auth tokens live in this file: only the relay's user may read it.
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(path, 0o600)
        opened: list[aiosqlite.Connection] = []
        try:
            writer = await aiosqlite.connect(path, isolation_level=None,
                                           factory=SqliteConnection)
            opened.append(writer)
            published = await _connect_in_thread(writer, _prepare_writer)
            for _ in range(readers):
                reader = await aiosqlite.connect(path, isolation_level=None,
                                           factory=SqliteConnection)
                opened.append(reader)
                await _connect_in_thread(reader, _prepare_reader)
        except BaseException:
            # aiosqlite's threads are not daemons: leave none behind, or the
            # process could never exit after a refused open.
            for conn in opened:
                await conn.close()
            raise
        conns: list[Conn] = [SqliteConn(db) for db in opened]
        return cls(path, conns[0], conns[1:], published=published)

    # --- writing ------------------------------------------------------------------

    async def write(
        self, fn: Callable[Concatenate[WriteContext, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(ctx, *args)`` in a transaction; return once it is on disk."""
        if self._closed:
            raise StoreClosed("the store is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._jobs.put_nowait(_Job(fn, args, kwargs, future))
        return await future

    @property
    def published_seq(self) -> int:
        """The newest seq the commit listeners have been told of."""
        return self._published_seq

    def notice_foreign_commit(self) -> None:
        """Another process committed events: publish them soon (not in the caller's frame)."""
        if not self._closed:
            self._jobs.put_nowait(_FOREIGN_COMMIT)

    def on_commit(self, listener: CommitListener) -> None:
        """Call ``listener(events)`` after each commit with the events it made durable."""
        self._listeners.append(listener)

    # --- several relays on one database -----------------------------------------------

    @asynccontextmanager
    async def leadership(self, name: str) -> AsyncIterator[Lead]:
        """``async with store.leadership("outbox") as lead:`` runs while this relay is the
        one relay on the database doing ``name``'s work (waiting until it is); it must stop
        when ``lead.lost`` is set. Why: some work must be done once, not once per relay
        (sending a reply, keeping a per-sender rate)."""
        async with self.backend.leadership(name) as lead:
            self._leading[name] = lead
            try:
                yield lead
            finally:
                if self._leading.get(name) is lead:
                    del self._leading[name]

    def leads(self) -> list[str]:
        """The leaderships this relay holds now (a lost one no longer counts): what
        /healthz reports, so an operator sees which relay sends the replies."""
        return sorted(name for name, lead in self._leading.items() if not lead.lost.is_set())

    def share(self, text: str) -> None:
        """Tell every other relay on this database ``text`` (small; not stored, no order
        with events, lost by a relay that is down): for ephemeral state such as presence."""
        self.backend.share(text)

    def on_shared(self, listener: Callable[[str], None],
                  joined: Callable[[], None] | None = None) -> None:
        """Call ``listener(text)`` for each text another relay shares (never our own), and
        ``joined()`` whenever this relay starts (again) hearing them: texts shared before
        were missed, so that is the moment to ask the others for what they know."""
        self.backend.on_shared(listener, joined)

    async def _write_batches(self) -> None:
        stopping = False
        while not stopping:
            if self._jobs.empty():
                try:
                    job = await asyncio.wait_for(self._jobs.get(), FOREIGN_CHECK_SECONDS)
                except TimeoutError:
                    await self._publish_foreign_events()
                    continue
            else:
                job = self._jobs.get_nowait()
            if job is None:
                break
            if job is _FOREIGN_COMMIT:
                await self._publish_foreign_events()
                continue
            assert isinstance(job, _Job)
            batch = [job]
            while len(batch) < MAX_BATCH and not self._jobs.empty():
                nxt = self._jobs.get_nowait()
                if nxt is None:
                    stopping = True
                    break
                if isinstance(nxt, _Job):
                    batch.append(nxt)  # a foreign commit is read at this batch's start anyway
            await self._commit(batch)

    async def _publish_foreign_events(self) -> None:
        """Tell the listeners of events other processes committed, if there are any."""
        try:
            self._data_version, foreign = await self._writer.run(
                self.backend.foreign_events, self._data_version, self._published_seq)
        except DatabaseUnavailable as error:  # the backend logs the loss and reconnects
            logger.debug("could not check for other processes' events: %s", error)
            return
        except Exception:  # the file is busy or unreadable for now: try again next time
            logger.exception("could not check for other processes' events")
            return
        self._tell_listeners(foreign)

    async def _commit(self, batch: list[_Job]) -> None:
        started = time.perf_counter()
        committed: list[Event] = []
        try:
            committed = await self._writer.run(
                _run_batch, batch, self._published_seq, self.backend)
        except BaseException as error:  # the COMMIT itself failed: nothing is durable
            for job in batch:
                job.outcome = (False, error)
                job.events = []
        self.batches += 1
        self.jobs += len(batch)
        self.commit_seconds += time.perf_counter() - started
        for job in batch:
            assert job.outcome is not None
            ok, value = job.outcome
            if job.future.done():
                continue
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)
        self._tell_listeners(committed)

    def _tell_listeners(self, events: list[Event]) -> None:
        if not events:
            return
        self._published_seq = events[-1].seq
        for listener in self._listeners:
            try:
                listener(events)
            except Exception:  # a broken listener must not stop the writer
                logger.exception("commit listener %r failed", listener)

    # --- reading ------------------------------------------------------------------

    async def read(
        self, fn: Callable[Concatenate[db.Conn, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run the query ``fn(conn, *args)`` on an idle reader and return its result."""
        if self._closed:
            raise StoreClosed("the store is closed")
        reader = await self._idle_readers.get()
        try:
            return await reader.run(lambda conn: fn(conn, *args, **kwargs))
        finally:
            self._idle_readers.put_nowait(reader)

    # --- lifecycle ----------------------------------------------------------------

    async def close(self) -> None:
        """Finish every write already queued, then close the file."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put_nowait(None)
        await self._writer_task
        for _ in self._readers:
            reader = await self._idle_readers.get()
            await reader.close()
        await self.backend.close_writer(self._writer)

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _prepare_writer(conn: sqlite3.Connection) -> tuple[int, int]:
    """Set the writer up; return (the newest seq, its data_version): nothing to publish yet."""
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    # A larger page cache keeps the hot index pages (tickets, FTS) in memory,
    # and checkpointing every ~16 MB of WAL rather than 4 MB spreads its fsync
    # over more commits.
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute("PRAGMA wal_autocheckpoint = 4000")
    migrate(conn)
    return _newest_seq(conn), _data_version(conn)


def _newest_seq(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]


def _data_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA data_version").fetchone()[0]


def _events_after(conn: sqlite3.Connection, seq: int) -> list[Event]:
    rows = conn.execute("SELECT * FROM events WHERE seq > ? ORDER BY seq", (seq,)).fetchall()
    return [records.event_from_row(row) for row in rows]


def _events_if_changed(
    conn: sqlite3.Connection, version: int, published_seq: int
) -> tuple[int, list[Event]]:
    """(data_version now, events after ``published_seq`` if another connection committed)."""
    now = _data_version(conn)
    if now == version:
        return now, []
    return now, _events_after(conn, published_seq)


def _prepare_reader(conn: sqlite3.Connection) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA query_only = ON")
    conn.execute("PRAGMA cache_size = -32768")


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _run_batch(conn: Any, batch: list[_Job], published_seq: int, backend: Backend
               ) -> list[Event]:
    """One transaction, one savepoint per job, one COMMIT (and one fsync) for all.

    Returns every event now durable that no listener has heard of, in ``seq`` order:
    first any another process committed since ``published_seq`` (read under this
    transaction's lock, so none can slip in between), then the batch's own.
    """
    now = now_ms()
    # A cache of numbers for this batch only: another process (the admin CLI)
    # may change a number between two batches, never inside one transaction.
    numbers: dict[str, Any] = {}
    backend.begin_write(conn)
    try:
        events = _events_after(conn, published_seq)
        state = backend.before_jobs(conn)
        for job in batch:
            conn.execute("SAVEPOINT job")
            ctx = WriteContext(conn, now, numbers=numbers)
            try:
                value = job.fn(ctx, *job.args, **job.kwargs)
            except Exception as error:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                numbers.clear()  # may hold a number this job changed and rolled back
                job.outcome = (False, error)
            else:
                conn.execute("RELEASE job")
                job.outcome = (True, value)
                job.events = ctx.events
                events.extend(ctx.events)
        backend.before_commit(conn, state, events)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return events
