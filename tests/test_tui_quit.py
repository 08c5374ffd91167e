"""Quitting: silent in every state, and never losing an agent's work without asking."""

from __future__ import annotations

import asyncio
import logging
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from desk_harness import LiveDesk, live_desk, until
from textual.pilot import Pilot
from textual.widget import Widget

from core import queries
from tui.app import InboxApp
from tui.client import ConnectionState, RelayClient
from tui.drafts import KeptDraft, drafts_path, keep_drafts, load_drafts
from tui.screens.quit import QuitScreen
from tui.widgets.composer import Composer
from tui.widgets.header import InboxHeader
from tui.widgets.thread_view import ThreadView
from tui.widgets.ticket_list import TicketList

SIZE = (150, 44)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


async def live(pilot: Pilot[Any], app: InboxApp, tickets: int = 1) -> None:
    await until(pilot, lambda: app.inbox.model.total == tickets
                and all(app.inbox.model.row(i) for i in range(tickets)), what="the rows")


async def go_offline(pilot: Pilot[Any], app: InboxApp) -> None:
    """Cut the connection from the relay's side; the long backoff keeps the inbox offline."""
    socket = app.client._socket
    assert socket is not None
    await socket.close()
    await until(pilot, lambda: app.client.state is ConnectionState.OFFLINE, what="offline")


def callback_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# -- quitting is silent in every state ------------------------------------------------------


async def _admin(pilot: Pilot[Any], app: InboxApp) -> None:
    await pilot.press("A")
    await until(pilot, lambda: type(app.screen).__name__ == "AdminScreen", what="admin")


async def _palette(pilot: Pilot[Any], app: InboxApp) -> None:
    await pilot.press("ctrl+p")
    await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette", what="palette")


async def _modal(pilot: Pilot[Any], app: InboxApp) -> None:
    await pilot.press("s")
    await until(pilot, lambda: type(app.screen).__name__ == "ChoiceScreen", what="picker")


async def _offline(pilot: Pilot[Any], app: InboxApp) -> None:
    await go_offline(pilot, app)


async def _reconnecting(pilot: Pilot[Any], app: InboxApp) -> None:
    await go_offline(pilot, app)
    app.client.retry_now()
    await pilot.pause()


async def _resized_after_admin_and_palette(pilot: Pilot[Any], app: InboxApp) -> None:
    await _admin(pilot, app)
    await pilot.press("escape")
    await _palette(pilot, app)
    await pilot.press("escape")
    await pilot.resize_terminal(90, 30)
    await pilot.pause()


STATES: dict[str, Callable[[Pilot[Any], InboxApp], Any]] = {
    "admin screen": _admin, "palette": _palette, "modal": _modal, "offline": _offline,
    "mid-reconnect": _reconnecting,
    "after admin, palette, resize": _resized_after_admin_and_palette,
}


@pytest.mark.parametrize("state", list(STATES))
async def test_quitting_is_silent_in_every_state(desk: LiveDesk, state: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    await desk.text("hello")
    app = InboxApp(desk.config(data_dir=desk.home), backoff=(30,))
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app)
        await STATES[state](pilot, app)
        await pilot.press("ctrl+q")
    assert app.return_code == 0
    assert callback_failures(caplog) == []


async def test_the_client_speaking_while_the_screens_are_torn_down_reaches_none(
        desk: LiveDesk, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The 1-in-10 traceback: a state change landing between the children's removal and the
    screen's own unmount. Here every widget that goes says something on its way out."""
    await desk.text("hello")
    app = InboxApp(desk.config(data_dir=desk.home))

    def speak(widget: Widget) -> None:
        client = app.client
        client._on_state(ConnectionState.OFFLINE, "the relay is restarting")
        client._on_event({"seq": 10**6, "kind": "ticket.updated", "ticket_id": 1,
                          "payload": {}})
        client._on_presence({"agent": {"id": 99, "name": "Bo"}, "ticket_id": 1,
                             "activity": "viewing"})

    for widget in (InboxHeader, TicketList, ThreadView, Composer):
        monkeypatch.setattr(widget, "on_unmount", speak, raising=False)
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app)
        await pilot.press("enter")
        await pilot.press("ctrl+q")
    assert app.return_code == 0
    assert callback_failures(caplog) == []


# -- quitting with unsent work --------------------------------------------------------------


async def test_a_reply_queued_offline_is_kept_as_a_draft_and_comes_back(
        desk: LiveDesk) -> None:
    await desk.text("Where is my parcel?")
    app = InboxApp(desk.config(data_dir=desk.home), backoff=(30,))
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app)
        await pilot.press("enter")
        await until(pilot, lambda: app.inbox.thread_state and app.inbox.thread_state.entries)
        await go_offline(pilot, app)
        await pilot.press("r", *"It left this morning", "ctrl+s")
        await until(pilot, lambda: app.inbox.unsent_work().sending, what="the reply queued")
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), what="the question")
        assert "It left this morning" in str(app.screen.query_one("#quit-items").render())
        await pilot.press("d")
    assert app.return_code == 0
    path = drafts_path(desk.home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [(d.mode, d.body) for d in load_drafts(path)] == [("reply", "It left this morning")]
    assert [m for m in desk.sim.messages if m.body == "It left this morning"] == []

    again = InboxApp(desk.config(data_dir=desk.home))
    async with again.run_test(size=SIZE) as pilot:
        await live(pilot, again)
        await pilot.press("enter")
        composer = again.inbox.query_one(Composer)
        await until(pilot, lambda: composer.text == "It left this morning", what="the draft")
        assert any(n.title == "Draft restored" for n in again._notifications)
        await pilot.press("r", "ctrl+s")
        await until(pilot, lambda: any(m.body == "It left this morning"
                                       for m in desk.sim.messages), what="sent")
    assert load_drafts(path) == []


async def test_a_kept_reply_that_had_reached_the_relay_is_not_sent_twice(
        desk: LiveDesk) -> None:
    """The answer was lost on the way back, the agent kept the reply: sent again, once."""
    await desk.text("Where is my parcel?")
    ticket_id = (await desk.relay.store.read(queries.list_tickets,
                                             queries.TicketFilter())).items[0].ticket.id
    body = "It left this morning"
    # What reached the relay before the connection dropped, under the id the draft kept.
    reached = RelayClient(desk.ws_url, desk.admin_token)
    running = asyncio.create_task(reached.run())
    try:
        await reached.command("reply", command_id="send-lost-answer", ticket_id=ticket_id,
                              body=body)
    finally:
        await reached.close()
        running.cancel()
    keep_drafts(drafts_path(desk.home), [KeptDraft(ticket_id, "reply", body,
                                                   "send-lost-answer")])
    app = InboxApp(desk.config(data_dir=desk.home))
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app)
        await pilot.press("enter")
        composer = app.inbox.query_one(Composer)
        await until(pilot, lambda: composer.text == body, what="the draft")
        await pilot.press("r", "ctrl+s")
        await until(pilot, lambda: not app.inbox.unsent_work(), what="the relay's answer")
    thread = await desk.relay.store.read(queries.thread, ticket_id)
    assert [e.body for e in thread.items if getattr(e, "direction", None) == "outbound"
            ] == [body]


async def test_waiting_quits_once_the_relay_has_the_work(desk: LiveDesk) -> None:
    await desk.text("Please close this")
    app = InboxApp(desk.config(data_dir=desk.home), backoff=(30,))
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app)
        await go_offline(pilot, app)
        await pilot.press("s", *"resol", "enter")
        await until(pilot, lambda: app.client.unsent(), what="the status change queued")
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), what="the question")
        assert "status → resolved" in str(app.screen.query_one("#quit-items").render())
        await pilot.press("w")
        await pilot.pause(0.2)
        assert app.is_running  # still waiting for the relay
        app.client.retry_now()
        await until(pilot, lambda: not app.is_running, what="quitting", timeout=10)
    assert app.return_code == 0
    ticket = (await desk.relay.store.read(queries.list_tickets)).items[0].ticket
    assert ticket.status == "resolved"


async def test_typed_text_asks_and_quit_anyway_says_what_is_lost(desk: LiveDesk) -> None:
    await desk.text("hello")
    app = InboxApp(desk.config(data_dir=desk.home))
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app)
        await pilot.press("enter", "r", *"half a thought", "escape")
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), what="the question")
        screen = app.screen
        assert "half a thought" in str(screen.query_one("#quit-items").render())
        assert "1 item above is lost" in str(screen.query_one("#quit-choices").render())
        await pilot.press("escape")  # stay
        assert app.is_running and not isinstance(app.screen, QuitScreen)
        await pilot.press("ctrl+q", "q")
    assert app.return_code == 0
    assert not drafts_path(desk.home).exists()


async def test_nothing_unsent_quits_at_once(desk: LiveDesk) -> None:
    await desk.text("hello")
    app = InboxApp(desk.config(data_dir=desk.home))
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app)
        await pilot.press("ctrl+q")
    assert app.return_code == 0
