"""The MediaStore contract (server/media.py), for every implementation, and the media signing
secret every relay on one database must share.

The contract tests take the ``media_store`` fixture, parametrized over the implementations
(the files a relay on SQLite keeps, the ``media`` table of a PostgreSQL desk, and an
in-memory one that shows the tests assume nothing about files); another store joins by
adding its name to ``MEDIA_BACKENDS`` and its branches to the three fixtures below. Time is
passed to ``sweep`` as ``now``, so the grace period is tested without waiting; only ``age``
(making kept bytes look older) and ``twin`` (a second handle on the same media, as another
relay has) know an implementation.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from core import queries
from core.db import Locator
from core.settings import setting_or_init
from core.store import Store
from server.media import FileMediaStore, MediaStore, is_digest
from server.media_db import DbMediaStore, media_store_for
from server.media_sweep import GRACE_S
from server.relay import MEDIA_SECRET, media_secret_of

MEDIA_BACKENDS = ["files", "memory", "postgresql"]

Age = Callable[[str, float], Awaitable[None]]


class MemoryMediaStore:
    """A MediaStore in a dict: the smallest other implementation of the protocol."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.kept: dict[str, tuple[bytes, float]] = {}
        self.clock = clock

    async def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.kept[digest] = (data, self.clock())
        return digest

    async def read(self, digest: str) -> bytes | None:
        found = self.kept.get(digest)
        return None if found is None else found[0]

    async def close(self) -> None:
        """Nothing to release."""

    async def size(self, digest: str) -> int | None:
        found = await self.read(digest)
        return None if found is None else len(found)

    async def exists(self, digest: str) -> bool:
        return digest in self.kept

    async def sweep(self, referenced: set[str], *, now: float, grace_s: float) -> list[str]:
        gone = sorted(digest for digest, (_, at) in self.kept.items()
                      if digest not in referenced and at <= now - grace_s)
        for digest in gone:
            del self.kept[digest]
        return gone


@pytest.fixture(params=MEDIA_BACKENDS)
async def media_store(request: pytest.FixtureRequest,
                      tmp_path: Path) -> AsyncIterator[MediaStore]:
    if request.param == "files":
        yield FileMediaStore(tmp_path / "media")
    elif request.param == "memory":
        yield MemoryMediaStore()
    elif request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        await asyncio.to_thread(_migrated, url)
        media = DbMediaStore(url)
        try:
            yield media
        finally:
            await media.close()
    else:
        raise NotImplementedError(request.param)


def _migrated(url: str) -> None:
    """The media table is the schema's (the store migrates it; here nothing else does)."""
    import psycopg

    from core.schema_pg import migrate_pg

    with psycopg.connect(url, autocommit=True) as conn:
        migrate_pg(conn)


def _age_row(url: str, digest: str, seconds: float) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE media SET stored_at = stored_at - %s WHERE sha256 = %s",
                     (int(seconds * 1000), digest))


@pytest.fixture
def age(media_store: MediaStore) -> Age:
    """Make what is kept under a digest look ``seconds`` older than now."""
    async def age_by(digest: str, seconds: float) -> None:
        then = time.time() - seconds
        if isinstance(media_store, FileMediaStore):
            path = media_store.folder / digest[:2] / digest
            await asyncio.to_thread(os.utime, path, (then, then))
        elif isinstance(media_store, MemoryMediaStore):
            data, _ = media_store.kept[digest]
            media_store.kept[digest] = (data, then)
        elif isinstance(media_store, DbMediaStore):
            await asyncio.to_thread(_age_row, media_store.url, digest, seconds)
        else:
            raise NotImplementedError(type(media_store).__name__)
    return age_by


@pytest.fixture
async def twin(media_store: MediaStore) -> AsyncIterator[MediaStore]:
    """Another handle on the same media, as a second relay on the same desk has."""
    if isinstance(media_store, FileMediaStore):
        yield FileMediaStore(media_store.folder)
    elif isinstance(media_store, DbMediaStore):
        other = DbMediaStore(media_store.url)  # its own connections, as another relay's
        try:
            yield other
        finally:
            await other.close()
    else:
        yield media_store  # one process's memory: the same object is all there is


def later(seconds: float = GRACE_S + 60) -> float:
    return time.time() + seconds


# --- the contract --------------------------------------------------------------------


async def test_bytes_put_are_read_back_by_their_sha256(media_store: MediaStore) -> None:
    data = b"\x89PNG\r\n\x1a\n a picture"
    digest = await media_store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert await media_store.read(digest) == data
    assert await media_store.size(digest) == len(data)
    assert await media_store.exists(digest)


async def test_empty_bytes_are_media_too(media_store: MediaStore) -> None:
    digest = await media_store.put(b"")
    assert await media_store.read(digest) == b""
    assert await media_store.size(digest) == 0


async def test_another_relay_reads_what_one_kept(media_store: MediaStore,
                                                 twin: MediaStore) -> None:
    digest = await media_store.put(b"uploaded through relay A")
    assert await twin.read(digest) == b"uploaded through relay A"


async def test_putting_the_same_bytes_twice_keeps_them_once(media_store: MediaStore) -> None:
    first = await media_store.put(b"the same photo")
    second = await media_store.put(b"the same photo")
    assert first == second
    assert await media_store.read(first) == b"the same photo"
    assert await media_store.sweep(set(), now=later(), grace_s=GRACE_S) == [first]


async def test_concurrent_puts_of_the_same_bytes_agree(media_store: MediaStore) -> None:
    digests = await asyncio.gather(*(media_store.put(b"retried MMS") for _ in range(8)))
    assert len(set(digests)) == 1
    assert await media_store.read(digests[0]) == b"retried MMS"


@pytest.mark.parametrize("digest", [
    "0" * 64,  # well formed, never kept
    "A" * 64,  # upper case: not how we write one
    "../" + "0" * 61,
    "0" * 63,
    "",
])
async def test_a_digest_nothing_is_kept_under_is_simply_missing(
        media_store: MediaStore, digest: str) -> None:
    await media_store.put(b"something else")
    assert await media_store.read(digest) is None
    assert await media_store.size(digest) is None
    assert not await media_store.exists(digest)


async def test_the_sweep_removes_only_what_nothing_names(media_store: MediaStore,
                                                       age: Age) -> None:
    named = await media_store.put(b"a message names this")
    orphan = await media_store.put(b"its ticket was purged")
    for digest in (named, orphan):
        await age(digest, GRACE_S + 60)
    assert await media_store.sweep({named}, now=time.time(), grace_s=GRACE_S) == [orphan]
    assert await media_store.read(named) == b"a message names this"
    assert await media_store.read(orphan) is None
    assert not await media_store.exists(orphan)
    assert await media_store.sweep({named}, now=time.time(), grace_s=GRACE_S) == []


async def test_the_sweep_leaves_recent_media_alone(media_store: MediaStore) -> None:
    """An upload waits for its reply to name it; an inbound MMS is kept before it commits."""
    fresh = await media_store.put(b"uploaded, its reply not sent yet")
    assert await media_store.sweep(set(), now=time.time(), grace_s=GRACE_S) == []
    assert await media_store.read(fresh) is not None
    assert await media_store.sweep(set(), now=later(), grace_s=GRACE_S) == [fresh]


async def test_putting_bytes_again_restarts_their_grace(media_store: MediaStore,
                                                      age: Age) -> None:
    """Old unnamed media about to be named again (the same photo re-sent) must not be swept
    between the put and its message's commit."""
    digest = await media_store.put(b"the same photo, a month later")
    await age(digest, GRACE_S + 60)
    assert await media_store.put(b"the same photo, a month later") == digest
    assert await media_store.sweep(set(), now=time.time(), grace_s=GRACE_S) == []
    assert await media_store.read(digest) is not None


async def test_sweeping_an_empty_store_removes_nothing(media_store: MediaStore) -> None:
    assert await media_store.sweep(set(), now=later(), grace_s=GRACE_S) == []


# --- files ---------------------------------------------------------------------------


async def test_files_are_kept_under_their_first_two_hex_digits(tmp_path: Path) -> None:
    media = FileMediaStore(tmp_path / "media")
    digest = await media.put(b"a file")
    assert is_digest(digest)
    kept = sorted(p.relative_to(media.folder) for p in media.folder.rglob("*") if p.is_file())
    assert kept == [Path(digest[:2]) / digest]  # no .part left behind


# --- the database ------------------------------------------------------------------


async def test_a_relay_keeps_media_as_files_beside_sqlite(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "x.sqlite3") as opened:
        media = media_store_for(opened, tmp_path)
    assert isinstance(media, FileMediaStore) and media.folder == tmp_path / "media"


async def test_a_relay_keeps_media_in_postgresql(pg_url: str, tmp_path: Path) -> None:
    """Every relay on the database then serves every attachment; no folder is made."""
    opened = await Store.open(pg_url)
    try:
        media = media_store_for(opened, tmp_path)
        assert isinstance(media, DbMediaStore)
        try:
            digest = await media.put(b"through the store's database")
            assert await media.read(digest) == b"through the store's database"
        finally:
            await media.close()
    finally:
        await opened.close()
    assert not (tmp_path / "media").exists()


async def test_media_bytes_wait_for_no_event_batch(pg_url: str) -> None:
    """A put must not queue behind the store's global write lock: media go through their
    own connections, so a relay's long batch never stalls an upload (nor the reverse)."""
    import psycopg

    from core.store_pg import WRITE_LOCK

    opened = await Store.open(pg_url)
    media = DbMediaStore(pg_url)
    try:
        with psycopg.connect(pg_url, autocommit=True) as holder, holder.transaction():
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            digest = await asyncio.wait_for(media.put(b"not held back"), timeout=5)
        assert await media.size(digest) == len(b"not held back")
    finally:
        await media.close()
        await opened.close()


# --- the media signing secret ----------------------------------------------------------


async def test_setting_or_init_keeps_the_first_value(store: Store) -> None:
    assert await store.write(setting_or_init, "k", "first") == "first"
    assert await store.write(setting_or_init, "k", "second") == "first"
    assert await store.read(queries.setting, "k") == "first"


async def test_relays_starting_together_sign_with_one_secret(store: Store) -> None:
    secrets = await asyncio.gather(*(media_secret_of(store) for _ in range(4)))
    assert len(set(secrets)) == 1 and len(secrets[0]) == 32
    assert await store.read(queries.setting, MEDIA_SECRET) == secrets[0].hex()
    assert await media_secret_of(store) == secrets[0]  # and the next start keeps it


async def test_two_stores_on_one_database_agree_on_the_secret(locator: Locator) -> None:
    """Two relays (two stores, two writers) on one desk, started at the same moment."""
    first = await Store.open(locator)
    second = await Store.open(locator)
    try:
        one, other = await asyncio.gather(media_secret_of(first), media_secret_of(second))
    finally:
        await first.close()
        await second.close()
    assert one == other
