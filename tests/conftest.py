"""Shared fixtures for the store tests: real databases, on both backends.

``store`` is an empty, migrated store; ``desk`` is a store with one connected
account, two groups and two numbers, plus helpers to send texts into it.
A test using either (or ``locator``) runs twice, as ``test_x[sqlite]`` (a file under
``tmp_path``) and ``test_x[postgresql]`` (a database of its own in a throwaway cluster,
see ``pg_cluster.py``), so no feature works on one backend only. A test that is
about SQLite itself (PRAGMAs, the file, old-schema upgrades) is marked
``@pytest.mark.sqlite_only`` and runs once, as ``test_x[sqlite]``.

* US toll-free +18885550100, MMS, default group "Billing"
* UK long code +447400900456, SMS-only, no default group
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core import queries, writes
from core.db import Conn, Locator, is_postgres_url
from core.models import (
    Account,
    Event,
    Group,
    Media,
    PhoneNumber,
    SenderType,
    Ticket,
)
from core.store import Store
from core.writes import InboundResult, InboundText

US = "+18885550100"
UK = "+447400900456"
CUSTOMER = "+15551230001"


def customer(n: int) -> str:
    """A distinct, valid-looking E.164 customer phone for each ``n``."""
    return f"+1555{n:07d}"


async def force_close(store: Store) -> None:
    """Close a store even when its writer task has died (see test_store's listener test).

    Its connections (either backend's) are closed one by one; the backend's own
    ``close_writer`` also stops what else it runs (PostgreSQL's LISTEN task).
    """
    try:
        await store.close()
    except BaseException:
        for reader in store._readers:
            await reader.close()
        try:
            await store.backend.close_writer(store._writer)
        except BaseException:
            await store._writer.close()


@contextmanager
def plain_connect(locator: Locator) -> Iterator[Conn]:
    """A connection that knows nothing of the store: what another process would see.

    On either backend: a SQLite file, or a PostgreSQL URL (through ``core.pg``, so the
    same ``?`` SQL runs on both).
    """
    conn: Conn
    if is_postgres_url(locator):
        from core import pg

        conn = pg.connect(str(locator))
    else:
        conn = sqlite3.connect(locator, isolation_level=None)
        conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


@dataclass
class Desk:
    """A store with an account, two groups and two numbers, and ways to poke it."""

    store: Store
    locator: Locator  # the SQLite file, or the PostgreSQL URL: what Store.open takes
    account: Account
    billing: Group
    support: Group
    us: PhoneNumber
    uk: PhoneNumber
    events: list[Event] = field(default_factory=list)
    _sids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def next_sid(self) -> str:
        return f"SM{next(self._sids):032x}"

    def text(
        self,
        body: str = "hello",
        *,
        from_: str = CUSTOMER,
        to: str = US,
        sid: str | None = None,
        media: tuple[Media, ...] = (),
    ) -> InboundText:
        return InboundText(sid=sid or self.next_sid(), to=to, from_=from_, body=body, media=media)

    async def inbound(
        self,
        body: str = "hello",
        *,
        from_: str = CUSTOMER,
        to: str = US,
        sid: str | None = None,
        media: tuple[Media, ...] = (),
    ) -> InboundResult:
        text = self.text(body, from_=from_, to=to, sid=sid, media=media)
        return await self.store.write(writes.record_inbound, text)

    async def ticket(self, ticket_id: int) -> Ticket:
        found = await self.store.read(queries.ticket, ticket_id)
        assert found is not None, f"ticket #{ticket_id} is missing"
        return found

    async def update(self, ticket_id: int, **changes: Any) -> Ticket:
        return await self.store.write(writes.update_ticket, ticket_id, **changes)


BACKENDS = ("sqlite", "postgresql")

def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test using ``store_backend`` (through ``store``, ``desk``, ``locator``) runs on
    each backend, except those marked ``sqlite_only``, which run on SQLite alone."""
    if "store_backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        backends = ["sqlite"] if only else list(BACKENDS)
        metafunc.parametrize("store_backend", backends, scope="function")


@pytest.fixture
def locator(store_backend: str, tmp_path: Path,
            request: pytest.FixtureRequest) -> Iterator[Locator]:
    """Where a store for this test lives: a new SQLite file, or a new migrated database."""
    if store_backend == "sqlite":
        yield tmp_path / "x.sqlite3"
        return
    cluster = request.getfixturevalue("pg_cluster")
    url = cluster.migrated_database()
    yield url
    cluster.drop_database(url)


@pytest.fixture
async def store(locator: Locator) -> AsyncIterator[Store]:
    opened = await Store.open(locator)
    try:
        yield opened
    finally:
        await force_close(opened)


@pytest.fixture
async def desk(store: Store) -> Desk:
    account = await store.write(
        writes.add_account, name="Acme", sid="AC" + "1" * 32, auth_token="secret-auth-token-1234"
    )
    billing = await store.write(writes.add_group, "Billing")
    support = await store.write(writes.add_group, "Support")
    us = await store.write(
        writes.save_number,
        account_id=account.id,
        e164=US,
        mms=True,
        sender_type=SenderType.TOLL_FREE,
        country="US",
        default_group_id=billing.id,
    )
    uk = await store.write(
        writes.save_number,
        account_id=account.id,
        e164=UK,
        mms=False,
        sender_type=SenderType.LONG_CODE,
        country="GB",
    )
    made = Desk(store=store, locator=store.path or str(store.url), account=account,
                billing=billing, support=support, us=us, uk=uk)
    store.on_commit(made.events.extend)
    return made


@pytest.fixture(autouse=True, scope="session")
def private_runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Simulators started by the tests announce themselves here, not in the user's runtime
    directory, so ``smsdesk sim text`` in a test never finds a demo running on this machine."""
    import os

    folder = tmp_path_factory.mktemp("runtime")
    folder.chmod(0o700)
    previous = os.environ.get("SMSDESK_RUNTIME_DIR")
    os.environ["SMSDESK_RUNTIME_DIR"] = str(folder)
    yield folder
    if previous is None:
        del os.environ["SMSDESK_RUNTIME_DIR"]
    else:
        os.environ["SMSDESK_RUNTIME_DIR"] = previous


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """One throwaway PostgreSQL cluster per test process, started when a test first asks."""
    from pg_cluster import PgCluster

    cluster = PgCluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Any) -> str:
    """A fresh, empty database of its own for this test."""
    return str(pg_cluster.fresh_database())


@pytest.fixture(autouse=True)
def steady_text_cursors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Text cursors do not blink in tests: a snapshot taken while the machine is busy
    could otherwise catch the cursor in either half of its blink (it did, under load)."""
    from textual.widgets import Input, TextArea

    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setattr(TextArea, "_toggle_cursor_blink_visible", lambda self: None)
