"""Canned responses in the inbox: picked in the composer (ctrl+g), filled, judged, sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from desk_harness import LiveDesk, live_desk, until
from textual.widgets import TextArea

from core import canned, queries, writes
from tui.app import InboxApp
from tui.screens.canned_picker import PERSONAL, CannedPicker
from tui.screens.pickers import TextPromptScreen

SIZE = (150, 44)
REFUND = "Hi {{contact.first_name}}, the refund for #{{ ticket.id }} is on its way. {{agent.name}}"


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


async def _outbound(desk: LiveDesk) -> list[str]:
    return await desk.relay.store.read(lambda c: [r[0] for r in c.execute(
        "SELECT body FROM entries WHERE kind = 'message' AND direction = 'outbound'")])


async def _seed(desk: LiveDesk) -> int:
    await desk.text("Where is my refund?", from_="+12025550101")
    store = desk.relay.store
    ticket = (await store.read(queries.list_tickets)).items[0].ticket
    await store.write(writes.update_contact, ticket.contact_id, name="Maya Patel")
    for title, body in (("Refund sent", REFUND), ("Order shipped", "Order {{ticket.order_no}}"
                                                                   " has shipped")):
        await store.write(canned.save_response, agent_id=1, response_id=None, title=title,
                          body=body, folder_id=None, personal=False)
    return ticket.id


async def test_a_canned_response_is_filled_judged_and_sent(desk: LiveDesk) -> None:
    ticket_id = await _seed(desk)
    app = InboxApp(desk.config(admin=False))
    async with app.run_test(size=SIZE) as pilot:
        inbox = app.inbox
        await until(pilot, lambda: inbox.model.total == 1 and inbox.model.row(0), "a row")
        await until(pilot, lambda: inbox.model.row(0)["contact_name"] == "Maya Patel", "name")
        await pilot.press("enter")
        await until(pilot, lambda: inbox.composer.context is not None, "the composer")
        await pilot.press("r", "ctrl+g")
        await until(pilot, lambda: isinstance(app.screen, CannedPicker), "the picker")
        await pilot.press(*"shipped", "enter")
        area = inbox.composer.query_one(TextArea)
        await until(pilot, lambda: "{{ticket.order_no}}" in area.text, "the response inserted")
        # No value for the order number on this ticket: highlighted, and never sent as is.
        assert any("Fill in {{ticket.order_no}}" in r.reason for r in inbox.composer.refusals)
        line = area.get_line(0)
        assert any(span.style for span in line.spans)
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert await _outbound(desk) == []
        area.clear()
        await pilot.press("ctrl+g")
        await until(pilot, lambda: isinstance(app.screen, CannedPicker), "the picker")
        await pilot.press(*"refund", "enter")
        filled = f"Hi Maya, the refund for #{ticket_id} is on its way. Bo"
        await until(pilot, lambda: area.text == filled, "the filled response")
        assert inbox.composer.refusals == ()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: area.text == "", "the draft sent")
        assert await _outbound(desk) == [filled]
        # The agent keeps a draft as their own response, and finds it in the picker.
        await pilot.press("r")
        area.insert("Thanks for waiting, {{contact.first_name}}!")  # as a paste: typing is slow
        await pilot.press("ctrl+g")
        await until(pilot, lambda: isinstance(app.screen, CannedPicker), "the picker")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen), "the title")
        await pilot.press("enter")
        await until(pilot, lambda: inbox.canned_library is None, "the library dropped")
        await pilot.press("ctrl+g")
        picker = await until(pilot, lambda: isinstance(app.screen, CannedPicker)
                             and app.screen, "the picker again")
        mine = [item.value for item in picker.items if item.section == PERSONAL]
        assert [(r["title"], r["body"]) for r in mine] == [
            ("Thanks for waiting,", "Thanks for waiting, {{contact.first_name}}!")]
        await pilot.press("escape")
        # Another agent's personal response is none of Bo's business; a shared one is.
        store = desk.relay.store
        await store.write(canned.save_response, agent_id=1, response_id=None, title="Ada's",
                          body="mine", folder_id=None, personal=True)
        await store.write(writes.update_ticket, ticket_id, priority="urgent")
        await until(pilot, lambda: inbox.model.row(0)["ticket"]["priority"] == "urgent",
                    "an event after it")
        assert inbox.canned_library is not None
        await store.write(canned.save_response, agent_id=1, response_id=None, title="New",
                          body="shared", folder_id=None, personal=False)
        await until(pilot, lambda: inbox.canned_library is None, "the library dropped, live")
