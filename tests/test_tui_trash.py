"""Delete, the Trash view, restore and empty: the inbox against a real relay and simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import LiveDesk, live_desk, until
from textual.pilot import Pilot
from textual.widgets import Input, Label

from core import queries, trash
from core.queries import TicketFilter
from tui.app import InboxApp
from tui.client import ConnectionState
from tui.screens.admin.admin import AdminScreen
from tui.screens.pickers import ConfirmScreen, TextPromptScreen

SIZE = (150, 44)
TRASH = TicketFilter(deleted=True)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


async def live(pilot: Pilot[Any], app: InboxApp, tickets: int) -> None:
    await until(pilot, lambda: app.inbox.model.total == tickets
                and all(app.inbox.model.row(i) for i in range(tickets)), what=f"{tickets} rows")


async def in_trash(desk: LiveDesk) -> list[int]:
    page = await desk.relay.store.read(queries.list_tickets, TRASH)
    return sorted(row.ticket.id for row in page.items)


async def settled(pilot: Pilot[Any], desk: LiveDesk, expected: list[int]) -> None:
    for _ in range(200):
        if await in_trash(desk) == expected:
            return
        await pilot.pause(0.02)
    assert await in_trash(desk) == expected


async def test_delete_asks_first_and_no_leaves_the_ticket_alone(desk: LiveDesk) -> None:
    await desk.text("Please cancel my order", from_="+12025550101")
    app = InboxApp(desk.config(admin=False))
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app, 1)
        await pilot.press("number_sign")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("n")
        await pilot.pause(0.1)
        assert await in_trash(desk) == [] and app.inbox.model.total == 1
        ticket_id = app.inbox.model.row(0)["ticket"]["id"]
        await pilot.press("delete", "y")
        await settled(pilot, desk, [ticket_id])
        await until(pilot, lambda: app.inbox.model.total == 0, what="the row leaving the list")


async def test_bulk_delete_then_restore_from_the_trash_view_exactly_as_before(
        desk: LiveDesk) -> None:
    for phone in ("+12025550101", "+12025550102", "+12025550103"):
        await desk.text(f"hello from {phone}", from_=phone)
    store = desk.relay.store
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app, 3)
        await pilot.press("space", "j", "space")  # the top two
        chosen = sorted(app.inbox.tickets.selected)
        await pilot.press("p", *"urg", "enter")  # a field the restore must bring back
        for _ in range(200):
            tickets = [await store.read(queries.ticket, i) for i in chosen]
            if all(t is not None and t.priority == "urgent" for t in tickets):
                break
            await pilot.pause(0.02)
        before = [await store.read(queries.ticket, i) for i in chosen]
        await until(pilot, lambda: not app.inbox.tickets.selected, what="the set done")
        await pilot.press("g", "space", "j", "space")  # select them again for the delete
        assert sorted(app.inbox.tickets.selected) == chosen
        await pilot.press("number_sign")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await settled(pilot, desk, chosen)
        await until(pilot, lambda: app.inbox.model.total == 1, what="the rows leaving")
        assert not app.inbox.tickets.selected
        await pilot.press("v", *"Trash", "enter")
        await until(pilot, lambda: app.inbox.model.view.deleted and app.inbox.model.total == 2,
                    what="the Trash view")
        await live(pilot, app, 2)
        await pilot.press("g", "space", "j", "space", "number_sign")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await settled(pilot, desk, [])
        await until(pilot, lambda: app.inbox.model.total == 0, what="the Trash emptied out")
    after = [await store.read(queries.ticket, i) for i in chosen]
    assert after == before  # status, priority, tags, read state, updated_at: all as they were


async def test_an_admin_empties_the_trash_and_an_agent_has_no_such_key(desk: LiveDesk) -> None:
    await desk.text("spam spam", from_="+12025550101")
    await desk.text("keep me", from_="+12025550102")
    store = desk.relay.store
    spam = (await store.read(queries.list_tickets)).items[1].ticket.id
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app, 2)
        assert app.inbox.check_action("empty_trash", ()) is False  # only in the Trash
        await pilot.press("j", "number_sign", "y")
        await settled(pilot, desk, [spam])
        await pilot.press("v", *"Trash", "enter")
        await until(pilot, lambda: app.inbox.model.view.deleted and app.inbox.model.total == 1,
                    what="the Trash view")
        await pilot.press("X")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await until(pilot, lambda: app.inbox.model.total == 0, what="the purge")
    assert await store.read(queries.ticket, spam) is None
    assert await store.read(queries.count_tickets) == 1
    agent = InboxApp(desk.config(admin=False))
    async with agent.run_test(size=SIZE) as pilot:
        await live(pilot, agent, 1)
        await agent.inbox.switch_view(agent.inbox.model.view.__class__(
            "Trash: deleted tickets", deleted=True))
        assert agent.inbox.check_action("empty_trash", ()) is False


async def test_a_purge_closes_the_ticket_another_agent_has_open(desk: LiveDesk) -> None:
    await desk.text("delete me", from_="+12025550101")
    bo = InboxApp(desk.config(admin=False))
    async with bo.run_test(size=SIZE) as pilot:
        await live(pilot, bo, 1)
        await pilot.press("enter")
        await until(pilot, lambda: bo.inbox.thread_state and bo.inbox.thread_state.entries,
                    what="the open thread")
        ticket_id = bo.inbox.thread_state.ticket_id
        await pilot.press("h", "T")
        await until(pilot, lambda: bo.inbox.header.ticking, what="Bo's timer")
        store = desk.relay.store

        await store.write(trash.delete_tickets, [ticket_id])
        await store.write(trash.empty_trash)
        await until(pilot, lambda: bo.inbox.thread_state is None and bo.inbox.open_row is None,
                    what="the thread closed")
        assert not bo.inbox.header.ticking and bo.inbox.header.timer == ""
        assert any("deleted for good" in str(n.message) for n in bo._notifications)


async def test_two_inboxes_see_a_delete_live(desk: LiveDesk) -> None:
    await desk.text("first", from_="+12025550101")
    await desk.text("second", from_="+12025550102")
    ada, bo = InboxApp(desk.config()), InboxApp(desk.config(admin=False))
    async with ada.run_test(size=SIZE) as ada_pilot, bo.run_test(size=SIZE) as bo_pilot:
        await live(ada_pilot, ada, 2)
        await live(bo_pilot, bo, 2)
        bo.inbox.run_worker(bo.inbox.switch_view(
            bo.inbox.model.view.__class__("Trash: deleted tickets", deleted=True)))
        await until(bo_pilot, lambda: bo.inbox.model.view.deleted and bo.inbox.model.loaded,
                    what="Bo's Trash view")
        gone = ada.inbox.model.row(0)["ticket"]["id"]
        await ada_pilot.press("number_sign", "y")
        await until(bo_pilot, lambda: bo.inbox.model.total == 1
                    and bo.inbox.model.row(0)["ticket"]["id"] == gone, what="Bo seeing it")
        await until(ada_pilot, lambda: ada.inbox.model.total == 1, what="Ada's list")


async def test_an_admin_sets_the_trash_retention_on_the_people_tab(desk: LiveDesk) -> None:
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.client.state is ConnectionState.LIVE, what="live")
        await pilot.press("A")
        screen = await until(pilot, lambda: isinstance(app.screen, AdminScreen) and app.screen,
                             what="the admin screen")
        await pilot.press("4")
        label = screen.query_one("#trash-retention", Label)
        await until(pilot, lambda: "until an admin empties it" in str(label.render()),
                    what="the retention shown")
        await pilot.press("K")
        prompt = await until(pilot, lambda: isinstance(app.screen, TextPromptScreen)
                             and app.screen, what="the prompt")
        prompt.query_one("#prompt-input", Input).value = "0"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.screen is prompt  # refused in words, still asking
        prompt.query_one("#prompt-input", Input).value = "30"
        await pilot.press("enter")
        await until(pilot, lambda: "more than 30 days" in str(label.render()),
                    what="the new retention")
    assert await desk.relay.store.read(trash.retention_days) == 30
