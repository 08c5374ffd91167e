"""Time in the inbox against a real relay: the timer in the header survives a restart; L logs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import LiveDesk, live_desk, until
from textual.pilot import Pilot

from core import queries, timekeeping
from tui.app import InboxApp
from tui.screens.pickers import ChoiceScreen, ConfirmScreen, TextPromptScreen
from tui.widgets.ticket_title import TicketTitle

SIZE = (150, 44)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


async def one_row(pilot: Pilot[Any], app: InboxApp) -> int:
    await until(pilot, lambda: app.inbox.model.total == 1 and app.inbox.model.row(0),
                what="the ticket")
    return int(app.inbox.model.row(0)["ticket"]["id"])


async def test_the_timer_starts_shows_in_the_header_survives_a_restart_and_stops(
        desk: LiveDesk) -> None:
    await desk.text("Can you call me back?")
    store = desk.relay.store
    first = InboxApp(desk.config(admin=False))
    async with first.run_test(size=SIZE) as pilot:
        ticket_id = await one_row(pilot, first)
        assert not first.inbox.header.ticking  # no timer, no ticking
        await pilot.press("T")
        await until(pilot, lambda: first.inbox.header.timer.startswith(f"⏱ #{ticket_id} 0:0"),
                    what="the timer in the header")
        assert first.inbox.header.ticking
    agents = await store.read(queries.agents)
    bo = next(agent.id for agent in agents if agent.name == "Bo")
    assert (await store.read(timekeeping.running_timer, bo)).ticket_id == ticket_id
    again = InboxApp(desk.config(admin=False))
    async with again.run_test(size=SIZE) as pilot:
        await one_row(pilot, again)
        await until(pilot, lambda: again.inbox.header.timer.startswith(f"⏱ #{ticket_id}"),
                    what="the timer shown again after the restart")
        await pilot.press("T")
        await until(pilot, lambda: again.inbox.header.timer == "", what="the timer stopping")
        assert not again.inbox.header.ticking
        await until(pilot, lambda: any("logged" in str(n.message)
                                       for n in again._notifications), what="what was logged")
    assert await store.read(timekeeping.running_timer, bo) is None
    assert len(await store.read(queries.time_entries, ticket_id)) == 1


async def test_log_time_refuses_a_bad_duration_in_words_and_the_title_shows_the_total(
        desk: LiveDesk) -> None:
    await desk.text("Invoice question")
    store = desk.relay.store
    app = InboxApp(desk.config(admin=False))
    async with app.run_test(size=SIZE) as pilot:
        ticket_id = await one_row(pilot, app)
        await pilot.press("enter")
        await until(pilot, lambda: app.inbox.thread_state and app.inbox.thread_state.entries)
        await pilot.press("h", "L")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the time log")
        await pilot.press("enter")  # "Log time on #…" is first
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen), what="the prompt")
        await pilot.press(*"soon", "enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, TextPromptScreen)  # still asking, and says why
        assert "is not a duration" in app.screen.query_one("#prompt-error").render().plain
        for _ in "soon":
            await pilot.press("backspace")
        await pilot.press(*"1h30m", "enter")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen)
                    and "What was it for" in app.screen._title, what="the note")
        await pilot.press(*"call", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="billable?")
        await pilot.press("y")
        await until(pilot, lambda: "1h30m logged" in
                    app.inbox.query_one(TicketTitle).render().plain, what="the total")
    entries = await store.read(queries.time_entries, ticket_id)
    assert [(e.seconds, e.note, e.billable) for e in entries] == [(5400, "call", True)]
