"""Issue 10's loose ends in the inbox, as an agent meets them against a real relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import LiveDesk, live_desk, until
from textual.pilot import Pilot
from textual.widgets._toast import Toast

from tui.app import InboxApp
from tui.widgets.ticket_list import TicketList


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


async def rows(pilot: Pilot[Any], app: InboxApp, count: int) -> None:
    await until(pilot, lambda: app.inbox.model.total == count
                and all(app.inbox.model.row(i) for i in range(count)), what=f"{count} rows")


async def test_toasts_never_cover_the_ticket_list_at_either_size(desk: LiveDesk) -> None:
    await desk.text("Where is my parcel?")
    for size in ((120, 36), (80, 24)):
        app = InboxApp(desk.config())
        async with app.run_test(size=size, notifications=True) as pilot:
            await rows(pilot, app, 1)
            app.inbox.notify("Ticket #1 started with +12025550123.\nA second line.",
                             title="Started")
            toasts = await until(pilot, lambda: list(app.screen.query(Toast)),
                                 what="the toast")
            toast = toasts[0]
            await pilot.pause()
            listed = app.inbox.query_one(TicketList).region
            assert toast.region.height > 0
            assert not toast.region.overlaps(listed), (size, toast.region, listed)
