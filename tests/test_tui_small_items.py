"""Issue 9's small items, each as an agent meets it in the inbox against a real relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import LiveDesk, live_desk, until
from textual.pilot import Pilot
from textual.widgets import Input

from tui.app import InboxApp
from tui.client import CommandError
from tui.screens.pickers import TextPromptScreen

SIZE = (150, 44)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


async def rows(pilot: Pilot[Any], app: InboxApp, count: int) -> None:
    await until(pilot, lambda: app.inbox.model.total == count
                and all(app.inbox.model.row(i) for i in range(count)), what=f"{count} rows")


async def test_esc_clears_a_search_and_slash_starts_a_new_one_empty(desk: LiveDesk) -> None:
    await desk.text("refund please", from_="+12025550111")
    await desk.text("where is my order", from_="+12025550112")
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        await rows(pilot, app, 2)
        before = app.inbox.model.view
        await pilot.press("slash", *"refund", "enter")
        await until(pilot, lambda: app.inbox.model.view.is_search
                    and app.inbox.model.total == 1, what="search results")
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen), what="the prompt")
        assert app.screen.query_one(Input).value == ""
        await pilot.press("escape")  # leaves the prompt, the search stays
        assert app.inbox.model.view.is_search
        await pilot.press("escape")  # clears it
        await until(pilot, lambda: app.inbox.model.view == before
                    and app.inbox.model.total == 2, what="the view before the search")


def footer_actions(app: InboxApp) -> set[str]:
    """The actions the footer offers now (shown and enabled)."""
    return {b.binding.action for b in app.screen.active_bindings.values()
            if b.binding.show and b.enabled}


async def test_after_sending_the_footer_shows_the_way_back_to_the_list(desk: LiveDesk) -> None:
    await desk.text("Where is my parcel?")
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        await rows(pilot, app, 1)
        assert "focus_list" not in footer_actions(app)  # already there
        await pilot.press("enter", "r", *"On its way", "ctrl+s")
        await until(pilot, lambda: app.focused is app.inbox.thread, what="the send to finish")
        await pilot.pause()
        assert "focus_list" in footer_actions(app)
        await pilot.press("h")
        assert app.focused is app.inbox.tickets
        assert "focus_thread" in footer_actions(app)


async def test_tags_show_in_the_thread_title_and_the_list(desk: LiveDesk) -> None:
    from tui.widgets.ticket_title import TicketTitle

    await desk.text("Refund for order 42?")
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        await rows(pilot, app, 1)
        await pilot.press("enter")
        title = app.inbox.query_one(TicketTitle)
        await until(pilot, lambda: "#" in str(title.render()), what="the title")
        await pilot.press("h", "t", *"billing, refund", "enter")
        await until(pilot, lambda: "billing, refund" in str(title.render()), what="tags")
        await until(pilot, lambda: any("billing, refund" in line.text for line in
                                       (app.inbox.tickets.render_line(y) for y in range(3))),
                    what="the tags column")


async def test_a_failed_reply_is_flagged_in_the_list_and_R_sends_it_again_once(
        desk: LiveDesk) -> None:
    unreachable = "+13125550164"
    await desk.text("Did you get my address?", from_=unreachable)
    desk.sim.state.knobs.fail_to[unreachable] = 30003
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        await rows(pilot, app, 1)
        await pilot.press("enter", "r", *"Yes, thanks", "ctrl+s")
        await until(pilot, lambda: app.inbox.model.row(0).get("last_reply_status")
                    == "undelivered", what="the failure in the list", timeout=10)
        await pilot.press("h")
        assert app.inbox.tickets.render_line(1).text.startswith(" !")
        failed_id = app.inbox.model.row(0)["last_reply_id"]
        desk.sim.state.knobs.fail_to.pop(unreachable)
        await pilot.press("F")
        await until(pilot, lambda: app.inbox.model.row(0).get("last_reply_status")
                    == "delivered", what="the retry delivered", timeout=10)
        assert not app.inbox.tickets.render_line(1).text.startswith(" !")
        await pilot.press("F")  # nothing failed now: nothing is sent
        await pilot.pause(0.3)
        with pytest.raises(CommandError, match="newer reply"):  # the old failure, again
            await app.client.command("retry_reply", message_id=failed_id)
    bodies = [m.body for m in desk.sim.messages if m.direction != "inbound"]
    assert bodies == ["Yes, thanks", "Yes, thanks"]  # the failed one, then one new message
