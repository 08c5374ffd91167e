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
* Leadership (``leadership(name)``): work that must be done by one relay at a time (the
  outbox: each reply sent once, each sender's rate kept) is done by the relay holding a
  session advisory lock on a connection of its own. If that relay dies, its session ends,
  the lock is free, and another relay, trying every second, takes over.
* Restarts and failovers: every connection is reopened after its server restarted or a
  standby was promoted behind the same name. A write or read that finds its connection
  lost fails with ``DatabaseUnavailable`` (a write under way: ``WriteInDoubt``, never
  retried here) and the next call reconnects, with backoff (``PgThreadConn``). LISTEN
  reconnects and the writer then reads the event log after its last published seq, so no
  event committed meanwhile is missed. A lost lock session is a lost lead (``lead.lost``);
  the leader's loop then seeks it again.
* Shared ephemeral texts (``share``): presence goes to the other relays by NOTIFY on a
  channel of its own, tagged with the sending relay's origin so it ignores its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
import zlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from core.models import Event
from core.store import (
    Backend,
    Conn,
    DatabaseUnavailable,
    Lead,
    WriteInDoubt,
    _events_after,
    _newest_seq,
)

if TYPE_CHECKING:
    from core.pg import PgConn
    from core.store import Store

logger = logging.getLogger(__name__)

T = TypeVar("T")

CHANNEL = "smsdesk_events"
# pg_advisory_xact_lock's key for "a write transaction of the store": any constant that
# no other application on the database uses ("smsdesk" in ASCII, as an int8).
WRITE_LOCK = 0x736D736465736B

# pg_try_advisory_lock(LEAD_NAMESPACE, crc32(name)): the two-int4 key space, apart from
# WRITE_LOCK's bigint one ("smsd" in ASCII).
LEAD_NAMESPACE = 0x736D7364
LEAD_RETRY_SECONDS = 1.0  # how often a relay that does not lead tries to
LEAD_CHECK_SECONDS = 1.0  # how often the leader checks its lock's session is alive
# A host that vanishes sends no FIN: keepalives on both ends end a dead session (and free
# its lock) within about idle + interval * count seconds.
CLIENT_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                     "keepalives_count": 3}
SERVER_KEEPALIVES = ("SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2;"
                     " SET tcp_keepalives_count = 3")

# Reopening connections after the server restarted or failed over (PgThreadConn, LISTEN).
RECONNECT_FIRST_SECONDS = 0.05
RECONNECT_MAX_SECONDS = 1.0
# A connection attempt to a host that does not answer at all gives up after this (libpq's
# connect_timeout; 2 s is its smallest), so a request never waits long on a reconnect.
CONNECT_TIMEOUT_SECONDS = 2

SHARED_CHANNEL = "smsdesk_shared"
MAX_SHARED_BYTES = 7900  # NOTIFY's payload limit is 8,000 bytes
MAX_SHARED_WAITING = 1000  # texts kept while the database is unreachable; then dropped


class Backoff:
    """When a lost connection may next be tried: at once, then after waits doubling from
    ``first`` up to ``cap``. Why a cap this low: a try costs little (refused at once by a
    host whose server is down, or given up after ``CONNECT_TIMEOUT_SECONDS``), and the cap
    bounds how long a relay stays out after its database is back."""

    def __init__(self, first: float = RECONNECT_FIRST_SECONDS,
                 cap: float = RECONNECT_MAX_SECONDS) -> None:
        self.first, self.cap = first, cap
        self._delay = 0.0
        self._next = 0.0

    def ready(self) -> bool:
        return time.monotonic() >= self._next

    def failed(self) -> float:
        """Note a failed try; return how long to wait before the next."""
        self._delay = min(self.cap, self._delay * 2 or self.first)
        self._next = time.monotonic() + self._delay
        return self._delay

    def succeeded(self) -> None:
        self._delay = self._next = 0.0

    def failed_before(self) -> bool:
        """Whether the last try failed (so a success now is a recovery worth logging)."""
        return self._delay > 0


def is_connection_lost(conn: PgConn) -> bool:
    """Whether ``conn`` can serve no more statements (its server closed it, restarted or
    went away), as opposed to one statement failing on a live connection."""
    return bool(conn.raw.closed or conn.raw.broken)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class PgThreadConn:
    """A PostgreSQL connection with one thread of its own: ``run`` hops to it once.

    It outlives its server's restarts and failovers: a call that finds the connection
    lost raises :class:`DatabaseUnavailable` (or :class:`WriteInDoubt` on the writer,
    whose transaction may have committed) and drops it; a later call opens a new one,
    no sooner than ``Backoff`` allows, and calls in between fail at once. Reopening
    happens in the connection's thread, so the event loop never waits on it.
    """

    def __init__(self, conn: PgConn | None, opener: Callable[[], PgConn], *,
                 writer: bool = False) -> None:
        self.conn = conn  # None while lost
        self._open = opener
        self._writer = writer
        self._backoff = Backoff()
        self._why = "not connected yet"
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smsdesk-pg")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, functools.partial(self._call, fn, args))

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...], *, again: bool = True) -> T:
        """In the connection's thread: ``fn(conn, *args)`` on a live connection.

        A read whose connection was found dead runs once more (``again``) on a new one:
        after a server restart every idle connection is dead, and each would otherwise fail
        one caller (a health check would take the relay out of its pool once per reader); a
        read changes nothing, so running it again is safe. A second loss is reported.
        """
        conn = self._usable()
        try:
            return fn(conn, *args)
        except Exception as error:
            if not is_connection_lost(conn):
                raise
            self._lose(conn, error)
            if self._writer:
                raise WriteInDoubt(
                    "the database connection was lost during a write: it may or may not be"
                    f" stored ({self._why})") from error
            if again:
                return self._call(fn, args, again=False)
            raise DatabaseUnavailable(f"the database connection was lost ({self._why})"
                                      ) from error

    def _usable(self) -> PgConn:
        if self.conn is not None:
            return self.conn
        if not self._backoff.ready():
            raise DatabaseUnavailable(f"the database is unavailable ({self._why})")
        try:
            self.conn = self._open()
        except Exception as error:
            self._why = _first_line(error)
            delay = self._backoff.failed()
            logger.warning("cannot reconnect to the database (%s); next try in %.2f s",
                           self._why, delay)
            raise DatabaseUnavailable(f"the database is unavailable ({self._why})") from error
        self._backoff.succeeded()
        logger.warning("reconnected to the database")
        return self.conn

    def _lose(self, conn: PgConn, error: BaseException) -> None:
        self._why = _first_line(error)
        logger.warning("lost the database connection (%s): reconnecting", self._why)
        self.conn = None
        with contextlib.suppress(Exception):
            conn.close()

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            if self.conn is not None:
                await loop.run_in_executor(self._thread, self.conn.close)
        finally:
            self._thread.shutdown(wait=True)


class PgBackend(Backend):
    """PostgreSQL's side of the store's writer (see the module's docstring)."""

    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self._listener: asyncio.Task[None] | None = None
        self._origin = secrets.token_hex(8)  # this relay, in the texts it shares
        self._shared_listeners: list[Callable[[str], None]] = []
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()
        self._sharing: asyncio.Task[None] | None = None
        self._joined: list[Callable[[], None]] = []  # told when LISTEN (re)starts
        self._hearing = False  # whether the LISTEN connection is up

    def begin_write(self, conn: Any) -> None:
        """BEGIN and the lock go with the batch's first read (core.pg's ``defer``): the
        server takes the lock before that read runs, the client waits once, not thrice."""
        conn.execute("BEGIN")
        conn.defer("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))

    def before_jobs(self, conn: Any) -> Any:
        return None  # the search columns are generated: nothing to index by hand

    def before_commit(self, conn: Any, state: Any, events: list[Event]) -> None:
        if events:  # delivered at COMMIT, in commit order, to every relay listening;
            # sent with the COMMIT, in one round trip
            conn.defer("SELECT pg_notify(?, ?)", (CHANNEL, str(events[-1].seq)))

    def foreign_events(self, conn: Any, version: int, published_seq: int
                       ) -> tuple[int, list[Event]]:
        """Events after ``published_seq``: a cheap indexed read, also the fallback should a
        notification be lost (the listening connection dropped and came back)."""
        return version, _events_after(conn, published_seq)

    async def close_writer(self, writer: Conn) -> None:
        for task in (self._listener, self._sharing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await writer.close()

    # --- leadership ---------------------------------------------------------------------

    @asynccontextmanager
    async def leadership(self, name: str) -> AsyncIterator[Lead]:
        """Lead ``name`` while holding its session advisory lock (see the module's docstring).

        ``takeover`` is always set: a relay that held the lock a moment ago may still be in
        the middle of a call it started (its session can end before the process does).
        """
        conn = await self._take_lead(_lead_key(name))
        lead = Lead(name, takeover=True)
        watching = asyncio.create_task(self._watch_lead(conn, lead), name=f"lead-{name}")
        try:
            yield lead
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            with contextlib.suppress(Exception):
                await conn.close()  # the session ends: the lock is free for another relay

    async def _take_lead(self, key: int) -> Any:
        """A connection holding the lock ``key``: waits (retrying each second) until then."""
        import psycopg

        while True:
            conn = None
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    **CLIENT_KEEPALIVES)
                await conn.execute(SERVER_KEEPALIVES)
                while True:
                    cursor = await conn.execute(
                        "SELECT pg_try_advisory_lock(%s::int4, %s::int4)", (LEAD_NAMESPACE, key))
                    row = await cursor.fetchone()
                    if row is not None and row[0]:
                        held, conn = conn, None
                        return held
                    await asyncio.sleep(LEAD_RETRY_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database is down or failing over: try again
                logger.warning("cannot try for the lead (%s); retrying", _first_line(error))
                await asyncio.sleep(LEAD_RETRY_SECONDS)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()

    async def _watch_lead(self, conn: Any, lead: Lead) -> None:
        """Set ``lead.lost`` once the lock's session stops answering (then it may be gone)."""
        try:
            while True:
                await asyncio.sleep(LEAD_CHECK_SECONDS)
                await asyncio.wait_for(conn.execute("SELECT 1"), 5 * LEAD_CHECK_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("lost the lead of %s: its database session broke", lead.name)
            lead.lost.set()

    # --- shared ephemeral texts ---------------------------------------------------------

    def share(self, text: str) -> None:
        payload = f"{self._origin} {text}"
        if len(payload.encode()) > MAX_SHARED_BYTES:
            logger.warning("not shared with other relays: %d bytes is too long", len(payload))
            return
        if self._outgoing.qsize() >= MAX_SHARED_WAITING:
            return  # the database is unreachable for a while: ephemeral, so dropped
        if self._sharing is None:
            self._sharing = asyncio.get_running_loop().create_task(
                self._send_shared(), name="store-share")
        self._outgoing.put_nowait(payload)

    def on_shared(self, listener: Callable[[str], None],
                  joined: Callable[[], None] | None = None) -> None:
        self._shared_listeners.append(listener)
        if joined is not None:
            self._joined.append(joined)
            if self._hearing:
                joined()

    async def _send_shared(self) -> None:
        """NOTIFY each shared text in order, on a connection of its own (the listening one
        is busy waiting)."""
        import psycopg

        backoff = Backoff()
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                        **CLIENT_KEEPALIVES) as conn:
                    backoff.succeeded()
                    while True:
                        payload = await self._outgoing.get()
                        await conn.execute("SELECT pg_notify(%s, %s)", (SHARED_CHANNEL, payload))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the server restarted or is down: reconnect
                delay = backoff.failed()
                logger.warning("sharing with other relays failed (%s); retrying in %.2f s",
                               _first_line(error), delay)
                await asyncio.sleep(delay)

    def _received_shared(self, payload: str) -> None:
        origin, _, text = payload.partition(" ")
        if origin == self._origin:
            return
        for listener in self._shared_listeners:
            try:
                listener(text)
            except Exception:
                logger.exception("shared-text listener %r failed", listener)

    def listen(self, store: Store) -> None:
        """Wake ``store``'s writer whenever another relay commits events."""
        self._listener = asyncio.get_running_loop().create_task(
            self._listen(store), name="store-listen")

    async def _listen(self, store: Store) -> None:
        """Hear other relays' commits and shared texts, reconnecting whenever the
        connection is lost (the server restarted, failed over): on each (re)connect the
        writer reads the event log after its last published seq, so what committed while
        this relay was deaf still reaches its agents, in order."""
        import psycopg

        backoff = Backoff()
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                        **CLIENT_KEEPALIVES) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    await conn.execute(f"LISTEN {SHARED_CHANNEL}")
                    if backoff.failed_before():
                        logger.warning("listening for other relays' commits again")
                    backoff.succeeded()
                    store.notice_foreign_commit()  # whatever committed while we were away
                    self._hearing = True
                    self._tell_joined()  # shared texts were missed until now
                    async for note in conn.notifies():
                        if note.channel == SHARED_CHANNEL:
                            self._received_shared(note.payload)
                        elif int(note.payload or 0) > store.published_seq:
                            store.notice_foreign_commit()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                delay = backoff.failed()
                logger.warning("listening for other relays' commits failed (%s); retrying"
                               " in %.2f s", _first_line(error), delay)
                await asyncio.sleep(delay)
            finally:
                self._hearing = False

    def _tell_joined(self) -> None:
        for joined in self._joined:
            try:
                joined()
            except Exception:
                logger.exception("shared-text join listener %r failed", joined)


def _lead_key(name: str) -> int:
    """``name`` as a signed int4, the second half of its advisory lock's key."""
    key = zlib.crc32(name.encode())
    return key - (1 << 32) if key >= 1 << 31 else key


def _prepare_writer(conn: PgConn) -> tuple[int, int]:
    from core.schema_pg import migrate_pg

    migrate_pg(conn.raw)
    return _newest_seq(conn), 0


def _check_reader(conn: PgConn) -> None:
    conn.execute("SELECT 1").fetchone()


def _opener(url: str, *, read_only: bool = False) -> Callable[[], PgConn]:
    """How to (re)open one of the store's connections: with keepalives, so a vanished
    host's connection is found dead in seconds, and a bounded connect timeout."""
    from psycopg.conninfo import make_conninfo

    from core import pg

    robust = make_conninfo(url, connect_timeout=CONNECT_TIMEOUT_SECONDS, **CLIENT_KEEPALIVES)
    return functools.partial(pg.connect, robust, read_only=read_only)


async def open_pg_store(cls: type[Store], url: str, *, readers: int = 2) -> Store:
    """Open (and migrate) the store on the PostgreSQL database at ``url``."""
    loop = asyncio.get_running_loop()
    opened: list[PgThreadConn] = []
    try:
        open_writer = _opener(url)
        writer = PgThreadConn(await loop.run_in_executor(None, open_writer), open_writer,
                              writer=True)
        opened.append(writer)
        published = await writer.run(_prepare_writer)
        for _ in range(readers):
            open_reader = _opener(url, read_only=True)
            reader = PgThreadConn(await loop.run_in_executor(None, open_reader), open_reader)
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
