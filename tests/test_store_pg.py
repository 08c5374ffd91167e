"""The store on PostgreSQL: the event log in commit order across relays, and fan-out.

Each ``Store`` here stands for one relay: two of them on one database are two relays.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from core.models import Event
from core.store import Store
from core.store_pg import PgBackend
from core.writes import WriteContext


def emit(ctx: WriteContext, kind: str, pause: float = 0.0) -> int:
    """A write job that appends one event (and, to make a commit late, waits after it)."""
    event = ctx.emit(kind, None, {"kind": kind})
    if pause:
        ctx.conn.execute("SELECT pg_sleep(?)", (pause,))
    return event.seq


async def until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_store_on_postgresql_writes_reads_and_tells_its_listeners(pg_url: str) -> None:
    async with await Store.open(pg_url) as store:
        assert store.backend.name == "postgresql" and store.path is None
        heard: list[Event] = []
        store.on_commit(heard.extend)
        seqs = [await store.write(emit, f"k{i}") for i in range(3)]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3
        assert [e.seq for e in heard] == seqs
        count = await store.read(lambda conn: conn.execute(
            "SELECT count(*) FROM events").fetchone()[0])
        assert count == 3


async def test_a_commit_through_one_relay_reaches_the_other_relays_listeners_in_order(
        pg_url: str) -> None:
    async with await Store.open(pg_url) as one, await Store.open(pg_url) as two:
        heard_by_two: list[int] = []
        two.on_commit(lambda events: heard_by_two.extend(e.seq for e in events))
        started = time.monotonic()
        seqs = list(await asyncio.gather(*(one.write(emit, f"k{i}") for i in range(20))))
        await until(lambda: len(heard_by_two) == 20)
        assert heard_by_two == sorted(seqs)
        assert time.monotonic() - started < 2.0  # woken by NOTIFY, not found by polling late
        mine = await two.write(emit, "from two")  # and its own come after, in order
        assert heard_by_two[-1] == mine > max(seqs)


class _NoLock(PgBackend):
    """The backend without its global write lock: what the lock is there to prevent."""

    def begin_write(self, conn: Any) -> None:
        conn.execute("BEGIN")


async def _late_commit_race(pg_url: str, backend: type[PgBackend]) -> list[list[int]]:
    """Relay one's transaction takes a seq and commits 0.6 s later; relay two writes in
    between. Returns each snapshot of visible seqs a third connection polled meanwhile."""
    from core import pg

    async with await Store.open(pg_url) as one, await Store.open(pg_url) as two:
        for store in (one, two):
            store.backend.__class__ = backend
        seen: list[list[int]] = []
        stop = threading.Event()

        def watch() -> None:
            conn = pg.connect(pg_url)
            try:
                while not stop.is_set():
                    rows = conn.execute("SELECT seq FROM events ORDER BY seq").fetchall()
                    seen.append([row[0] for row in rows])
                    time.sleep(0.01)
            finally:
                conn.close()

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            late = asyncio.ensure_future(one.write(emit, "late", 0.6))
            await asyncio.sleep(0.2)  # the late one holds its seq, uncommitted
            await two.write(emit, "prompt")
            await late
            await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.to_thread(watcher.join)
        return seen


def _skips(snapshots: list[list[int]]) -> bool:
    """Whether a reader could have passed a seq that became visible only later: some
    snapshot showed seq N while a smaller seq of the final log was not there yet."""
    final = set(snapshots[-1])
    return any(seq < max(snap) and seq not in snap for snap in snapshots if snap
               for seq in final)


async def test_no_reader_passes_an_event_that_commits_late(pg_url: str) -> None:
    snapshots = await _late_commit_race(pg_url, PgBackend)
    assert snapshots[-1] == sorted(snapshots[-1]) and len(snapshots[-1]) == 2
    assert not _skips(snapshots)


async def test_without_the_write_lock_a_reader_would_pass_a_late_commit(pg_url: str) -> None:
    """The check above can fail: with the lock taken away, it does."""
    snapshots = await _late_commit_race(pg_url, _NoLock)
    assert _skips(snapshots)


@pytest.mark.parametrize("relays", [3])
async def test_concurrent_relays_give_every_listener_every_event_once_in_order(
        pg_url: str, relays: int) -> None:
    stores = [await Store.open(pg_url) for _ in range(relays)]
    try:
        heard: list[list[int]] = [[] for _ in stores]
        for store, log in zip(stores, heard, strict=True):
            store.on_commit(lambda events, log=log: log.extend(e.seq for e in events))
        writes = [store.write(emit, f"r{n}-{i}") for i in range(30)
                  for n, store in enumerate(stores)]
        seqs = sorted(await asyncio.gather(*writes))
        await until(lambda: all(len(log) == len(seqs) for log in heard))
        for log in heard:
            assert log == seqs  # each event once, in seq order, on every relay
    finally:
        for store in stores:
            await store.close()
