"""The Trash on the relay: delete and restore sets of tickets, empty it, purge by age."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from relay_harness import Harness, relay_on_loopback

from core import queries, trash
from core.queries import TicketFilter
from server.trash_keeper import purge_expired_once

TRASH = TicketFilter(deleted=True)


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Harness]:
    async with relay_on_loopback(tmp_path) as harness:
        yield harness


async def _three_tickets(relay: Harness) -> list[int]:
    for phone in ("+12025550101", "+12025550102", "+12025550103"):
        await relay.text(f"hello from {phone}", from_=phone)
    page = await relay.relay.store.read(queries.list_tickets)
    return sorted(row.ticket.id for row in page.items)


async def test_bulk_delete_moves_the_set_to_trash_once_and_restore_brings_it_back_as_it_was(
        relay: Harness) -> None:
    ids = await _three_tickets(relay)
    store = relay.relay.store
    async with relay.agent() as bo:
        await bo.until("caught_up")
        changed = await bo.command("set_ticket", ticket_id=ids[0], status="pending",
                                   priority="high", tags=["vip"])
        before = changed["result"]
        done = await bo.command("delete_tickets", command_id="del-1", ticket_ids=ids[:2])
        assert done["result"] == {"deleted": ids[:2]}
        again = await bo.command("delete_tickets", command_id="del-1", ticket_ids=ids[:2])
        assert again["result"] == done["result"]
        trashed = await bo.command("list_tickets", deleted=True)
        assert sorted(row["ticket"]["id"] for row in trashed["result"]["items"]) == ids[:2]
        assert (await bo.command("count_tickets", deleted=True))["result"] == 2
        listed = await bo.command("list_tickets")
        assert [row["ticket"]["id"] for row in listed["result"]["items"]] == [ids[2]]
        restored = await bo.command("restore_tickets", ticket_ids=[ids[0]])
        assert restored["result"] == {"restored": [ids[0]]}
    after = (await store.read(queries.ticket, ids[0]))
    assert after is not None
    assert (after.status, after.priority, list(after.tags), after.updated_at) == (
        before["status"], before["priority"], before["tags"], before["updated_at"])
    assert await store.read(queries.count_tickets, TRASH) == 1
    # One delete event per ticket, so every open inbox follows.
    events = await store.read(queries.events_after, 0)
    assert [e.ticket_id for e in events if e.kind == "ticket.updated"
            and e.payload.get("changed") == ["deleted"]] == [*ids[:2], ids[0]]


async def test_a_delete_naming_a_missing_ticket_changes_nothing(relay: Harness) -> None:
    ids = await _three_tickets(relay)
    async with relay.agent() as bo:
        await bo.until("caught_up")
        refused = await bo.command("delete_tickets", ticket_ids=[ids[0], 999_999])
        assert refused["type"] == "error" and refused["code"] == "not_found"
        empty = await bo.command("delete_tickets", ticket_ids=[])
        assert empty["type"] == "error" and "at least one" in empty["message"]
    assert await relay.relay.store.read(queries.count_tickets, TRASH) == 0


async def test_only_an_admin_empties_the_trash_and_nothing_of_the_tickets_is_left(
        relay: Harness) -> None:
    ids = await _three_tickets(relay)
    store = relay.relay.store
    async with relay.agent() as bo, relay.agent(token=relay.admin_token) as ada:
        await bo.until("caught_up")
        await ada.until("caught_up")
        await bo.command("add_note", ticket_id=ids[0], body="secret refund code")
        await bo.command("log_time", ticket_id=ids[0], seconds=60)
        await bo.command("delete_tickets", ticket_ids=ids[:2])
        refused = await bo.command("empty_trash")
        assert refused["code"] == "forbidden"
        done = await ada.command("empty_trash")
        assert done["result"] == {"purged": ids[:2]}
        told = await bo.until("event")
        while told["kind"] != "tickets.purged":
            told = await bo.until("event")
        assert told["payload"] == {"ticket_ids": ids[:2]}

    def leftovers(conn) -> dict[str, int]:  # type: ignore[no-untyped-def]
        marks = ",".join("?" * 2)
        return {
            "tickets": conn.execute(f"SELECT count(*) FROM tickets WHERE id IN ({marks})",
                                    ids[:2]).fetchone()[0],
            "entries": conn.execute(f"SELECT count(*) FROM entries WHERE ticket_id IN ({marks})",
                                    ids[:2]).fetchone()[0],
            "time": conn.execute(f"SELECT count(*) FROM time_entries WHERE ticket_id IN"
                                 f" ({marks})", ids[:2]).fetchone()[0],
            "words": conn.execute("SELECT count(*) FROM events WHERE payload LIKE ?",
                                  ("%secret refund%",)).fetchone()[0],
        }
    assert await store.read(leftovers) == {"tickets": 0, "entries": 0, "time": 0, "words": 0}
    assert await store.read(queries.search, "secret") == []
    assert await store.read(queries.count_tickets) == 1  # the third is untouched


async def test_the_relay_purges_tickets_kept_longer_than_the_retention(relay: Harness) -> None:
    ids = await _three_tickets(relay)
    store = relay.relay.store
    async with relay.agent() as bo, relay.agent(token=relay.admin_token) as ada:
        await bo.until("caught_up")
        await ada.until("caught_up")
        assert (await bo.command("set_trash_retention", days=30))["code"] == "forbidden"
        bad = await ada.command("set_trash_retention", days=0)
        assert bad["type"] == "error" and "1 to" in bad["message"]
        assert (await ada.command("set_trash_retention", days=30))["result"] == {"days": 30}
        assert (await bo.command("get_trash_retention"))["result"] == {"days": 30}
        await bo.command("delete_tickets", ticket_ids=[ids[0]])
    deleted_at = await store.read(
        lambda conn: conn.execute("SELECT deleted_at FROM tickets WHERE id = ?",
                                  (ids[0],)).fetchone()[0])
    day = trash.DAY_MS
    assert await purge_expired_once(store, clock=lambda: deleted_at + 29 * day) == []
    assert await store.read(queries.count_tickets, TRASH) == 1
    assert await purge_expired_once(store, clock=lambda: deleted_at + 30 * day) == [ids[0]]
    assert await store.read(queries.ticket, ids[0]) is None


async def test_no_retention_means_the_keeper_purges_nothing(relay: Harness) -> None:
    ids = await _three_tickets(relay)
    store = relay.relay.store
    async with relay.agent() as bo:
        await bo.until("caught_up")
        await bo.command("delete_tickets", ticket_ids=ids)
    assert await purge_expired_once(store, clock=lambda: 2**62) == []
    assert await store.read(queries.count_tickets, TRASH) == 3


async def test_a_ticket_deleted_through_set_ticket_ages_in_the_trash_too(
        relay: Harness) -> None:
    ids = await _three_tickets(relay)
    store = relay.relay.store
    async with relay.agent() as bo, relay.agent(token=relay.admin_token) as ada:
        await bo.until("caught_up")
        await ada.until("caught_up")
        await ada.command("set_trash_retention", days=7)
        await bo.command("set_ticket", ticket_id=ids[1], deleted=True)
    deleted_at = await store.read(
        lambda conn: conn.execute("SELECT deleted_at FROM tickets WHERE id = ?",
                                  (ids[1],)).fetchone()[0])
    assert deleted_at is not None
    assert await purge_expired_once(store, clock=lambda: deleted_at + 7 * trash.DAY_MS) == \
        [ids[1]]


async def test_the_trash_keeps_who_deleted_each_ticket_and_forgets_it_on_restore(
        relay: Harness) -> None:
    ids = await _three_tickets(relay)
    async with relay.agent() as bo, relay.agent(token=relay.admin_token) as ada:
        await bo.until("caught_up")
        me = {a["name"]: a["id"] for a in (await bo.command("list_agents"))["result"]}
        await bo.command("delete_tickets", ticket_ids=[ids[0]])
        await ada.command("set_ticket", ticket_id=ids[1], deleted=True)
        trashed = {row["ticket"]["id"]: row["ticket"] for row in
                   (await bo.command("list_tickets", deleted=True))["result"]["items"]}
        assert trashed[ids[0]]["deleted_by"] == me["Bo"]
        assert trashed[ids[1]]["deleted_by"] == me["Ada"]
        assert trashed[ids[0]]["deleted_at"] is not None
        events = await relay.relay.store.read(queries.events_after, 0)
        told = [e for e in events if e.kind == "ticket.updated" and e.ticket_id == ids[0]]
        assert told[-1].payload["ticket"]["deleted_by"] == me["Bo"]  # live, for every inbox
        await bo.command("restore_tickets", ticket_ids=[ids[0]])
    back = await relay.relay.store.read(queries.ticket, ids[0])
    assert back is not None and (back.deleted_by, back.deleted_at) == (None, None)
