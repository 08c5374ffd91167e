"""Issue 10's loose ends in the inbox, as an agent meets them against a real relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import LiveDesk, live_desk, until
from textual.pilot import Pilot
from textual.widgets._toast import Toast

from core.models import now_ms
from tui.app import InboxApp
from tui.model import TRASH
from tui.widgets import render
from tui.widgets.ticket_list import TicketList

DAY = 86_400_000


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
            toasts = await until(pilot, lambda app=app: list(app.screen.query(Toast)),
                                 what="the toast")
            toast = toasts[0]
            await pilot.pause()
            listed = app.inbox.query_one(TicketList).region
            assert toast.region.height > 0
            assert not toast.region.overlaps(listed), (size, toast.region, listed)


def list_text(app: InboxApp) -> str:
    """The ticket list's header and first rows as the agent reads them."""
    listed = app.inbox.query_one(TicketList)
    width = listed.size.width
    return "\n".join(listed.render_line(y).text for y in range(3)).replace(" " * 2, " ")[:2 * width]


async def test_the_trash_says_who_deleted_each_ticket_when_and_when_it_will_be_purged(
        desk: LiveDesk) -> None:
    await desk.text("Cancel my order please", from_="+12025550101")
    ada, bo = InboxApp(desk.config()), InboxApp(desk.config(admin=False))
    async with ada.run_test(size=(120, 36)) as ada_pilot, \
            bo.run_test(size=(80, 24)) as bo_pilot:
        await rows(ada_pilot, ada, 1)
        await rows(bo_pilot, bo, 1)
        await ada.inbox.command("set_trash_retention", days=30)
        for app, pilot in ((ada, ada_pilot), (bo, bo_pilot)):
            await app.inbox.switch_view(TRASH)
            await until(pilot, lambda app=app: app.inbox.model.view == TRASH, what="the Trash")
        render.clock = lambda: now_ms() + 2 * DAY
        try:
            await bo_pilot.press("v", *"Open", "enter")  # Bo deletes it from his list
            await until(bo_pilot, lambda: bo.inbox.model.total == 1, what="Bo's open view")
            await bo_pilot.press("number_sign", "y")
            await until(ada_pilot, lambda: ada.inbox.model.total == 1
                        and ada.inbox.model.row(0), what="the ticket in Ada's Trash")
            ada.inbox.tickets.refresh_rows()
            await ada_pilot.pause()
            shown = list_text(ada)
            deleted_at = ada.inbox.model.row(0)["ticket"]["deleted_at"]
            purge_day = render.due(deleted_at + 30 * DAY)
            assert "Deleted" in shown and "By" in shown and "Purge" in shown
            assert "2d" in shown and "Bo" in shown and purge_day in shown, shown
            # An admin changes the retention: every open Trash shows the new date at once.
            await ada.inbox.command("set_trash_retention", days=3)
            await bo_pilot.press("v", *"Trash", "enter")
            await until(bo_pilot, lambda: bo.inbox.model.total == 1 and bo.inbox.model.row(0)
                        and bo.inbox.names.trash_retention_days == 3, what="Bo's Trash")
            await bo_pilot.pause()
            assert render.due(deleted_at + 3 * DAY) in list_text(bo)
            await ada.inbox.command("set_trash_retention", days=None)
            await until(bo_pilot, lambda: "kept" in list_text(bo), what="kept until emptied")
        finally:
            render.clock = now_ms
