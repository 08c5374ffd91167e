"""Ticket fields in the inbox against a real relay: the details pane (i), the fields form
(e) with the relay's refusal beside its field, seen live by a second inbox, and the
activity history (Y)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import LiveDesk, live_desk, until
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, Static

from core import queries, ticket_fields, writes
from tui.app import InboxApp
from tui.screens.activity_history import ActivityHistory
from tui.screens.fields_form import FieldsForm
from tui.widgets.details_pane import DetailsPane

SIZE = (150, 44)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


def pane_text(app: InboxApp) -> str:
    """The pane's lines, each label and value joined by one space."""
    plain = app.inbox.query_one("#details-body", Static).render().plain
    return "\n".join(" ".join(line.split()) for line in plain.splitlines())


async def opened(pilot: Pilot[Any], app: InboxApp) -> int:
    await until(pilot, lambda: app.inbox.model.total == 1 and app.inbox.model.row(0),
                what="the ticket")
    await pilot.press("enter")
    await until(pilot, lambda: app.inbox.thread_state and app.inbox.thread_state.entries,
                what="the thread")
    return int(app.inbox.model.row(0)["ticket"]["id"])


async def test_the_form_shows_the_refusal_beside_its_field_and_a_second_inbox_sees_the_save(
        desk: LiveDesk) -> None:
    await desk.text("Where is my parcel?")
    store = desk.relay.store
    await store.write(ticket_fields.create_field, label="Order number", kind="text",
                      required_to_resolve=True)
    await store.write(ticket_fields.create_field, label="Parcels", kind="number")
    ada, bo = InboxApp(desk.config()), InboxApp(desk.config(admin=False))
    async with ada.run_test(size=SIZE) as ada_pilot, bo.run_test(size=SIZE) as bo_pilot:
        ticket_id = await opened(bo_pilot, bo)
        await bo_pilot.press("i")
        await until(bo_pilot, lambda: "Order number *" in pane_text(bo), what="bo's pane")
        assert "First response —" in pane_text(bo)
        assert "Time logged —" in pane_text(bo)
        await bo_pilot.press("h", "s", *"Resolved", "enter")  # the status key, not the form
        said = await until(bo_pilot, lambda: [str(n.message) for n in bo._notifications
                                              if "fill in Order number" in str(n.message)],
                           what="the refusal to resolve")
        assert said[0].count(f"#{ticket_id}") == 1, said  # named once, not "#N: … #N"

        await opened(ada_pilot, ada)
        await ada_pilot.press("e")
        await until(ada_pilot, lambda: isinstance(ada.screen, FieldsForm), what="the form")
        form = ada.screen
        form.query_one("#f-status", Select).value = "resolved"
        form.query_one("#f-parcels", Input).value = "2"
        await ada_pilot.press("ctrl+s")
        await until(ada_pilot, lambda: "fill in Order number" in
                    form.query_one("#error-order_number", Static).render().plain,
                    what="the refusal beside Order number")
        assert isinstance(ada.screen, FieldsForm)  # still open, as typed
        assert (await store.read(queries.ticket, ticket_id)).status.value == "open"
        form.query_one("#f-parcels", Input).value = "two"
        await ada_pilot.press("ctrl+s")
        await ada_pilot.pause()
        assert "Parcels must be a whole number" in \
            form.query_one("#error-parcels", Static).render().plain
        form.query_one("#f-parcels", Input).value = "2"
        form.query_one("#f-order_number", Input).value = "A-1042"
        await ada_pilot.press("ctrl+s")
        await until(ada_pilot, lambda: not isinstance(ada.screen, FieldsForm), what="saved")

        await until(bo_pilot, lambda: "Order number * A-1042" in pane_text(bo),
                    what="the save, live in bo's pane")
        assert "Status Resolved" in pane_text(bo) and "Parcels 2" in pane_text(bo)
        ticket = await store.read(queries.ticket, ticket_id)
        assert ticket.custom_fields == {"order_number": "A-1042", "parcels": 2}

        # An agent's first reply shows as the first response, live.
        ada_id = next(a.id for a in await store.read(queries.agents) if a.name == "Ada")
        await store.write(writes.queue_outbound, ticket_id=ticket_id, agent_id=ada_id,
                          body="On it!")
        await until(bo_pilot, lambda: "First response —" not in pane_text(bo),
                    what="the first response, live")

        # An admin retires a field: the form no longer offers it, the pane keeps its value.
        fields = await store.read(_definitions)
        await store.write(ticket_fields.update_field, fields[1].id, retired=True)
        await until(bo_pilot, lambda: "Retired" in pane_text(bo), what="retired, live")
        assert "Parcels 2" in pane_text(bo).split("Retired")[1]

        await bo_pilot.press("Y")
        await until(bo_pilot, lambda: isinstance(bo.screen, ActivityHistory)
                    and len(bo.screen.items) >= 3, what="the history")
        lines = [str(bo.screen.query_one(OptionList).get_option_at_index(i).prompt)
                 for i in range(3)]
        assert any("Ada set status Open → Resolved" in line for line in lines)
        assert any("Ada set Order number to A-1042" in line for line in lines)
        await bo_pilot.press("escape")
        await bo_pilot.press("i")
        assert not bo.inbox.query_one(DetailsPane).display


def _definitions(conn: Any) -> Any:
    from core.fields import definitions
    return definitions(conn)
