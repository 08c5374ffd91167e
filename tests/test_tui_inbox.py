"""The inbox against a real relay and the Twilio simulator, driven with Pilot as an agent would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import UK_LONG_CODE, LiveDesk, live_desk, until
from textual.pilot import Pilot

from core import queries
from server.simulator.customers import demo_png
from tui.app import InboxApp
from tui.screens.inbox import InboxScreen
from tui.widgets.composer import Composer
from tui.widgets.thread_view import ThreadView
from tui.widgets.ticket_list import TicketList

SIZE = (150, 44)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


def inbox(app: InboxApp) -> InboxScreen:
    return app.inbox


def contacts(app: InboxApp) -> list[str]:
    model = app.inbox.model
    return [(row or {}).get("contact_phone", "?") for row in
            (model.row(i) for i in range(model.total))]


async def live(pilot: Pilot[Any], app: InboxApp, tickets: int) -> None:
    await until(pilot, lambda: app.inbox.model.total == tickets
                and all(app.inbox.model.row(i) for i in range(tickets)), what=f"{tickets} rows")


async def test_tickets_show_and_a_new_text_arrives_live_without_moving_the_cursor(
        desk: LiveDesk) -> None:
    await desk.text("First question", from_="+12025550101")
    await desk.text("Second question", from_="+12025550102")
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app, 2)
        assert app.inbox.header.state == "live"
        await pilot.press("j")
        tickets = app.inbox.query_one(TicketList)
        highlighted = tickets.current()["ticket"]["id"]
        await desk.text("Third, brand new", from_="+12025550103")
        await until(pilot, lambda: app.inbox.model.total == 3, what="the live ticket")
        assert contacts(app)[0] == "+12025550103"
        assert tickets.current()["ticket"]["id"] == highlighted  # the cursor stayed put
        await until(pilot, lambda: any("New ticket" in (n.title or "")
                                       for n in app._notifications), what="a toast")


async def test_open_a_ticket_reply_and_see_it_delivered(desk: LiveDesk) -> None:
    await desk.text("Where is my parcel?")
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app, 1)
        await pilot.press("enter")
        thread = app.inbox.query_one(ThreadView)
        await until(pilot, lambda: len(thread.entries) == 1, what="the thread")
        await pilot.press("r")
        composer = app.inbox.query_one(Composer)
        await pilot.press(*"It ships today")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any(e.get("status") == "delivered" for e in thread.entries),
                    timeout=10, what="delivered")
        assert [m.body for m in desk.sim.messages if m.direction != "inbound"] == [
            "It ships today"] or [m.body for m in desk.sim.messages][-1] == "It ships today"
        assert composer.mode == "reply"
        ticket = (await desk.relay.store.read(queries.list_tickets)).items[0].ticket
        assert not ticket.unread  # opening it marked it read


async def test_a_stop_while_composing_refuses_the_send_in_words(desk: LiveDesk) -> None:
    await desk.text("hello")
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app, 1)
        await pilot.press("enter", "r", *"One more thing")
        await desk.text("STOP")
        composer = app.inbox.query_one(Composer)
        await until(pilot, lambda: composer.context and composer.context.contact.opted_out,
                    what="the opt-out to reach the composer")
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        sent = [m for m in desk.sim.messages if m.body == "One more thing"]
        assert sent == []
        assert "START" in composer.verdict_text()


async def test_note_status_priority_assign_tags_and_unread(desk: LiveDesk) -> None:
    await desk.text("My invoice is wrong")
    app = InboxApp(desk.config())
    store = desk.relay.store
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app, 1)
        await pilot.press("enter")
        await until(pilot, lambda: app.inbox.thread_state and app.inbox.thread_state.entries)
        await pilot.press("n", *"Checked billing", "ctrl+s")
        await until(pilot, lambda: any("direction" not in e
                                       for e in app.inbox.thread_state.entries), what="the note")
        await pilot.press("escape", "h", "s")
        await pilot.press(*"pend", "enter")
        await pilot.press("p", *"urg", "enter")
        await pilot.press("t", *"billing, refund", "enter")
        await pilot.press("a")
        await pilot.press(*"Bo", "enter")

        async def ticket() -> Any:
            return (await store.read(queries.list_tickets)).items[0].ticket

        for _ in range(100):
            current = await ticket()
            if current.agent_id is not None and current.tags:
                break
            await pilot.pause(0.05)
        assert (current.status, current.priority, list(current.tags)) == (
            "pending", "urgent", ["billing", "refund"])
        assert app.inbox.names.agent(current.agent_id) == "Bo"
        await pilot.press("u")
        for _ in range(100):
            if (await ticket()).unread:
                break
            await pilot.pause(0.05)
        assert (await ticket()).unread
        await until(pilot, lambda: app.inbox.model.row(0)["ticket"]["unread"])


async def test_views_and_search(desk: LiveDesk) -> None:
    await desk.text("refund please", from_="+12025550111")
    await desk.text("where is my order", from_="+12025550112")
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app, 2)
        await pilot.press("slash", *"refund", "enter")
        await until(pilot, lambda: app.inbox.model.view.is_search and app.inbox.model.total == 1,
                    what="search results")
        assert contacts(app) == ["+12025550111"]
        await pilot.press("v", *"Unassigned", "enter")
        await until(pilot, lambda: app.inbox.model.view.label == "Unassigned, open & pending"
                    and app.inbox.model.total == 2, what="the unassigned view")


async def test_an_mms_photo_is_fetched_for_the_thread(desk: LiveDesk) -> None:
    await desk.text("photo of the damage", media=[("image/png", demo_png())])
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app, 1)
        await pilot.press("enter")
        thread = app.inbox.query_one(ThreadView)
        await until(pilot, lambda: thread.entries and thread.entries[0]["media"])
        sha = thread.entries[0]["media"][0]["sha256"]
        await until(pilot, lambda: sha in thread.media, what="the photo's bytes")
        assert thread.media.get(sha) == demo_png()


async def test_an_sms_only_number_refuses_attachments(desk: LiveDesk, tmp_path: Path) -> None:
    await desk.text("hi from the UK", from_="+447400900123", to=UK_LONG_CODE)
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app, 1)
        await pilot.press("enter", "r")
        composer = app.inbox.query_one(Composer)
        await until(pilot, lambda: composer.context is not None)
        assert not composer.context.number.mms
        await pilot.press("ctrl+t")
        await pilot.pause(0.1)
        assert "SMS-only" in composer.verdict_text() or any(
            "SMS-only" in str(n.message) for n in app._notifications)


async def test_the_relay_going_away_is_shown_and_queued_actions_go_out_once(
        desk: LiveDesk, tmp_path: Path) -> None:
    await desk.text("are you there?")
    app = InboxApp(desk.config(), backoff=(0.05, 0.1))
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app, 1)
        client = app.client
        socket = client._socket  # the live connection, cut from the relay's side below
        assert socket is not None
        await socket.close()
        await until(pilot, lambda: app.inbox.header.state != "live", what="the header to say so")
        await until(pilot, lambda: app.inbox.header.state == "live", what="reconnecting")
        await desk.text("still there?")
        await until(pilot, lambda: app.inbox.model.row(0)["ticket"]["last_preview"]
                    == "still there?", what="the live update after resuming")


async def test_a_bad_token_says_so(desk: LiveDesk) -> None:
    config = desk.config()
    config.token = "sd_" + "0" * 40
    app = InboxApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.inbox.header.state == "refused", what="refused")
        assert any("token" in str(n.message) for n in app._notifications)


async def test_help_lists_every_binding_and_quit_leaves(desk: LiveDesk) -> None:
    app = InboxApp(desk.config(keymap={"inbox.reply": "R"}))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        from tui.screens.help import HelpScreen

        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert {"inbox.reply", "list.down", "thread.open_media", "composer.send",
                "app.quit"} <= set(app.catalog)
        await pilot.press("escape")
        await pilot.press("ctrl+q")
    assert app.return_code in (0, None)


async def test_another_agent_replying_to_the_same_ticket_is_shown(desk: LiveDesk) -> None:
    await desk.text("Can someone help?")
    ada = InboxApp(desk.config())
    async with ada.run_test(size=SIZE) as pilot:
        await live(pilot, ada, 1)
        await pilot.press("enter")
        from tui.client import RelayClient

        bo = RelayClient(desk.ws_url, desk.agent_token, backoff=(0.05,))
        task = asyncio.create_task(bo.run())
        try:
            await bo.wait_live(5)
            ticket_id = ada.inbox.open_row["ticket"]["id"]
            bo.announce(ticket_id, "replying")
            await until(pilot, lambda: ada.inbox.header.presence == "Bo is replying",
                        what="Bo's presence in the header")
            await pilot.press("r")
            await until(pilot, lambda: any("replying to this ticket" in str(n.message)
                                           for n in ada._notifications), what="the warning")
        finally:
            await bo.close()
            await task
        await until(pilot, lambda: ada.inbox.header.presence == "", what="Bo leaving")
