"""Shared fixtures for the store tests: real SQLite files under ``tmp_path``.

``store`` is an empty, migrated store; ``desk`` is a store with one connected
account, two groups and two numbers, plus helpers to send texts into it:

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
    """Close a store even when its writer task has died (see test_store's listener test)."""
    try:
        await store.close()
    except BaseException:
        for reader in store._readers:
            await reader.close()
        await store._writer.close()


@contextmanager
def plain_connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that knows nothing of the store: what another process would see."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


@dataclass
class Desk:
    """A store with an account, two groups and two numbers, and ways to poke it."""

    store: Store
    path: Path
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


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "x.sqlite3")
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
    made = Desk(store=store, path=store.path, account=account, billing=billing,
                support=support, us=us, uk=uk)
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
