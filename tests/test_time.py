"""Time on the relay: one running timer per agent, stopping logs it, entries edited by their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from relay_harness import Harness, relay_on_loopback

from core import queries


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Harness]:
    async with relay_on_loopback(tmp_path) as harness:
        yield harness


async def _two_tickets(relay: Harness) -> list[int]:
    await relay.text("first", from_="+12025550101")
    await relay.text("second", from_="+12025550102")
    page = await relay.relay.store.read(queries.list_tickets)
    return sorted(row.ticket.id for row in page.items)


async def test_one_timer_per_agent_starting_another_stops_and_logs_the_first(
        relay: Harness) -> None:
    first, second = await _two_tickets(relay)
    async with relay.agent() as bo:
        await bo.until("caught_up")
        started = (await bo.command("start_timer", command_id="t1", ticket_id=first))["result"]
        assert started["timer"]["ticket_id"] == first and started["stopped"] is None
        again = (await bo.command("start_timer", command_id="t1", ticket_id=first))["result"]
        assert again == started  # a resend does not restart the clock
        switched = (await bo.command("start_timer", ticket_id=second))["result"]
        assert switched["stopped"]["timer"]["ticket_id"] == first
        assert switched["stopped"]["time_entry"]["seconds"] >= 1
        mine = (await bo.command("my_timer"))["result"]["timer"]
        assert mine["ticket_id"] == second
        stopped = (await bo.command("stop_timer", command_id="s1"))["result"]["stopped"]
        assert stopped["time_entry"]["ticket_id"] == second
        assert (await bo.command("stop_timer", command_id="s1"))["result"]["stopped"] == stopped
        assert (await bo.command("stop_timer"))["result"] == {"stopped": None}
        assert (await bo.command("my_timer"))["result"] == {"timer": None}
    assert len(await relay.relay.store.read(queries.time_entries, first)) == 1
    assert len(await relay.relay.store.read(queries.time_entries, second)) == 1


async def test_the_timer_outlives_the_session(relay: Harness) -> None:
    first, _ = await _two_tickets(relay)
    async with relay.agent() as bo:
        await bo.until("caught_up")
        await bo.command("start_timer", ticket_id=first)
    async with relay.agent() as bo_again:
        await bo_again.until("caught_up")
        assert (await bo_again.command("my_timer"))["result"]["timer"]["ticket_id"] == first


async def test_manual_entries_total_and_only_their_agent_or_an_admin_edits_them(
        relay: Harness) -> None:
    first, _ = await _two_tickets(relay)
    async with relay.agent() as bo, relay.agent(token=relay.admin_token) as ada:
        await bo.until("caught_up")
        await ada.until("caught_up")
        mine = (await bo.command("log_time", ticket_id=first, seconds=2700, note="call",
                                 billable=True))["result"]
        theirs = (await ada.command("log_time", ticket_id=first, seconds=600))["result"]
        assert mine["billable"] is True and theirs["billable"] is False
        refused = await bo.command("update_time_entry", entry_id=theirs["id"], seconds=60)
        assert refused["code"] == "forbidden"
        assert (await bo.command("delete_time_entry", entry_id=theirs["id"]))["code"] == \
            "forbidden"
        edited = await bo.command("update_time_entry", entry_id=mine["id"], seconds=3600,
                                  note="long call")
        assert (edited["result"]["seconds"], edited["result"]["note"]) == (3600, "long call")
        assert (await bo.command("update_time_entry", entry_id=mine["id"],
                                 seconds=0))["type"] == "error"
        total = (await bo.command("ticket_time", ticket_id=first))["result"]
        assert (total["total_seconds"], total["billable_seconds"]) == (4200, 3600)
        await ada.command("delete_time_entry", entry_id=mine["id"])  # an admin may
        total = (await bo.command("ticket_time", ticket_id=first))["result"]
        assert total["total_seconds"] == 600 and len(total["entries"]) == 1
