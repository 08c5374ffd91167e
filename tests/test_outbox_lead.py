"""The outbox's leadership and wake-ups, and the store's shared texts, below the relay.

On SQLite a store always leads (one relay per file) and shares with nobody; on
PostgreSQL one store at a time leads a name, another takes over when it stops or its
session dies, and shared texts reach every other store on the database.
"""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path
from typing import Any

from conftest import Desk

from core import writes
from core.models import Event, MessageStatus
from core.store import Store
from core.store_pg import LEAD_NAMESPACE
from server.outbox import Outbox, claim, queues_a_message


async def test_a_reply_is_claimed_once(desk: Desk) -> None:
    ticket = (await desk.inbound("hi")).ticket
    reply = await desk.store.write(writes.queue_outbound, ticket_id=ticket.id, agent_id=None,
                                   body="once")
    first = await desk.store.write(claim, reply.id)
    assert first is not None and first.status is MessageStatus.SENDING
    assert await desk.store.write(claim, reply.id) is None  # a second outbox gets nothing


async def test_the_outbox_wakes_for_queued_replies_only(desk: Desk) -> None:
    outbox = Outbox(store=desk.store, public_url=lambda: "", media_url=lambda item: "")
    ticket = (await desk.inbound("hi")).ticket
    inbound = list(desk.events)
    outbox.notice(inbound)
    assert not outbox._wake.is_set()
    await desk.store.write(writes.queue_outbound, ticket_id=ticket.id, agent_id=None,
                           body="wake up")
    queued = [e for e in desk.events if e not in inbound]
    assert [queues_a_message(e) for e in queued] == [True]
    outbox.notice(queued)
    assert outbox._wake.is_set()
    assert not queues_a_message(Event(1, "message.updated", 1, {"message": {
        "status": "sent", "direction": "outbound"}}, 0))


async def test_sqlite_always_leads_and_shares_with_nobody(tmp_path: Path) -> None:
    heard: list[str] = []
    async with await Store.open(tmp_path / "x.sqlite3") as store:
        store.on_shared(heard.append)
        store.share("anyone?")
        async with store.leadership("outbox") as lead, store.leadership("outbox") as again:
            assert not lead.lost.is_set() and not lead.takeover and not again.takeover
    assert heard == []


async def _leads(store: Store, name: str, timeout: float) -> Any:
    """The entered leadership context of ``name``, or None if not led within ``timeout``."""
    context = store.leadership(name)
    try:
        lead = await asyncio.wait_for(context.__aenter__(), timeout)
    except TimeoutError:
        return None
    return context, lead


async def test_one_store_leads_at_a_time_and_another_takes_over(pg_url: str) -> None:
    async with await Store.open(pg_url) as one, await Store.open(pg_url) as two:
        async with one.leadership("outbox") as lead:
            assert lead.takeover  # another relay may have led just before
            assert await _leads(two, "outbox", 2.5) is None
            other = await _leads(two, "other work", 2.5)  # names are separate locks
            assert other is not None
            await other[0].__aexit__(None, None, None)
        taken = await _leads(two, "outbox", 5)
        assert taken is not None
        await taken[0].__aexit__(None, None, None)


async def test_a_leader_whose_session_dies_knows_it_and_another_takes_over(
        pg_url: str) -> None:
    import psycopg

    async with (await Store.open(pg_url) as one, await Store.open(pg_url) as two,
                one.leadership("outbox") as lead):
        waiting = asyncio.create_task(_leads(two, "outbox", 15))
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND granted AND classid = %s AND objid = %s",
                (LEAD_NAMESPACE, zlib.crc32(b"outbox")))
        await asyncio.wait_for(lead.lost.wait(), 10)
        taken = await waiting
        assert taken is not None
        await taken[0].__aexit__(None, None, None)


async def test_shared_texts_reach_the_other_stores_not_their_sender(pg_url: str) -> None:
    async with await Store.open(pg_url) as one, await Store.open(pg_url) as two:
        heard: dict[str, list[str]] = {"one": [], "two": []}
        joined: list[str] = []
        one.on_shared(heard["one"].append, joined=lambda: joined.append("one"))
        two.on_shared(heard["two"].append, joined=lambda: joined.append("two"))
        for _ in range(100):
            if len(joined) == 2:
                break
            await asyncio.sleep(0.05)
        assert sorted(joined) == ["one", "two"]  # each told once it hears the others
        for n in range(5):
            one.share(f"text {n}")
        two.share("back")
        for _ in range(100):
            if len(heard["two"]) == 5 and heard["one"]:
                break
            await asyncio.sleep(0.05)
        assert heard == {"one": ["back"], "two": [f"text {n}" for n in range(5)]}
        one.share("x" * 9000)  # too long for a NOTIFY: dropped, said in the log
