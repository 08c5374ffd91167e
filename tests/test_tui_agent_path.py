"""The whole agent path in one inbox, without a restart: what issue 9 calls "done".

Open, reply, note, status, tags; a number connected mid-session and answered;
the relay gone and back with a reply queued meanwhile; quit with nothing lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import LiveDesk, live_desk, until

from core import queries
from tui.app import InboxApp
from tui.client import ConnectionState, RelayClient
from tui.screens.quit import QuitScreen
from tui.widgets.composer import Composer
from tui.widgets.thread_view import ThreadView

SIZE = (150, 44)
NEW_NUMBER = "+18885550177"


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


def sent(desk: LiveDesk, body: str) -> bool:
    return any(m.body == body and m.direction != "inbound" for m in desk.sim.messages)


async def test_one_inbox_carries_an_agent_through_the_whole_path(desk: LiveDesk) -> None:
    await desk.text("Where is my parcel?", from_="+12025550101")
    app = InboxApp(desk.config(admin=False, data_dir=desk.home), backoff=(30,))
    store = desk.relay.store
    admin = RelayClient(desk.ws_url, desk.admin_token)
    admin_task = asyncio.create_task(admin.run())
    try:
        async with app.run_test(size=SIZE) as pilot:
            inbox = app.inbox
            await until(pilot, lambda: inbox.model.total == 1 and inbox.model.row(0), "a row")
            # Open and reply.
            await pilot.press("enter")
            thread = inbox.query_one(ThreadView)
            await until(pilot, lambda: len(thread.entries) == 1, what="the thread")
            await pilot.press("r", *"It ships today", "ctrl+s")
            await until(pilot, lambda: any(e.get("status") == "delivered"
                                           for e in thread.entries), "delivered", timeout=10)
            # A note, then status and tags from the list.
            await pilot.press("n", *"Customer is VIP", "ctrl+s")
            await until(pilot, lambda: any(e.get("body") == "Customer is VIP"
                                           for e in thread.entries), what="the note")
            await pilot.press("h", "s", *"pend", "enter")
            await pilot.press("t", *"shipping", "enter")

            async def first_ticket() -> Any:
                return (await store.read(queries.list_tickets)).items[0].ticket

            for _ in range(200):
                ticket = await first_ticket()
                if ticket.status == "pending" and list(ticket.tags) == ["shipping"]:
                    break
                await pilot.pause(0.05)
            assert (ticket.status, list(ticket.tags)) == ("pending", ["shipping"])

            # A number connected by an admin while this inbox runs, then answered from it.
            await admin.wait_live(timeout=5)
            beta = desk.sim.add_account(friendly_name="Beta")
            number = desk.sim.add_number(beta.sid, NEW_NUMBER, mms=True)
            await admin.command("connect_account", name="Beta", sid=beta.sid,
                                token=beta.auth_token, number_sids=[number.sid])
            await until(pilot, lambda: any(n["e164"] == NEW_NUMBER
                                           for n in inbox.names.numbers.values()), "the number")
            await desk.text("Hi, new number here", to=NEW_NUMBER, from_="+12025550102")
            await until(pilot, lambda: inbox.model.total == 2 and inbox.model.row(0)
                        and inbox.model.row(1), what="the new ticket")
            await pilot.press("g", "enter")
            await until(pilot, lambda: [e.get("body") for e in thread.entries]
                        == ["Hi, new number here"], what="its thread")
            composer = inbox.query_one(Composer)
            await until(pilot, lambda: composer.context is not None, what="the composer")
            await pilot.press("r", *"Hello from Beta", "ctrl+s")
            await until(pilot, lambda: sent(desk, "Hello from Beta"), "sent from Beta",
                        timeout=10)

            # The relay goes away; a reply written meanwhile goes out once it is back.
            socket = app.client._socket
            assert socket is not None
            await socket.close()
            await until(pilot, lambda: app.client.state is ConnectionState.OFFLINE, "offline")
            await pilot.press("r", *"Still on it", "ctrl+s")
            await until(pilot, lambda: inbox.unsent_work().sending, what="queued offline")
            app.client.retry_now()
            await until(pilot, lambda: app.client.state is ConnectionState.LIVE, "back")
            await until(pilot, lambda: sent(desk, "Still on it"), "the queued reply", timeout=10)
            assert [m.body for m in desk.sim.messages].count("Still on it") == 1

            # Quit: nothing unsent, so no question, and a clean exit.
            await until(pilot, lambda: not inbox.unsent_work(), what="nothing unsent")
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert not isinstance(app.screen, QuitScreen)
        assert app.return_code == 0
    finally:
        await admin.close()
        await admin_task
