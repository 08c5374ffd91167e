"""The details pane and the fields form, pinned as SVG snapshots (canned relay, frozen clock;
see tests/test_tui_snapshots.py for why and how to regenerate)."""

from __future__ import annotations

from typing import Any

from desk_harness import until
from test_tui_admin_fields import FIELDS as ADMIN_FIELDS
from test_tui_snapshots import (
    HOUR,
    MINUTE,
    NOW,
    TALL,
    CannedClient,
    frozen_time,  # noqa: F401  (autouse: the clock these pictures were taken at)
    opened,
)
from textual.pilot import Pilot
from textual.widgets import Select, Static

from tui.app import InboxApp
from tui.client import CommandError
from tui.config import Config
from tui.screens.fields_form import FieldsForm
from tui.widgets.details_pane import DetailsPane

FIELDS = [
    *ADMIN_FIELDS[:2],  # Order number (text) and Reason (dropdown), both needed to resolve
    {"id": 3, "key": "parcels", "label": "Parcels", "kind": "number", "choices": [],
     "required_to_resolve": False, "position": 3, "retired_at": None},
    {"id": 4, "key": "gift", "label": "Gift wrapped", "kind": "checkbox", "choices": [],
     "required_to_resolve": False, "position": 4, "retired_at": None},
    {"id": 5, "key": "legacy_ref", "label": "Legacy ref", "kind": "text", "choices": [],
     "required_to_resolve": False, "position": 5, "retired_at": NOW - 30 * 24 * HOUR},
]


class FieldsClient(CannedClient):
    """The canned relay, with ticket fields: #112 has some filled in, one an old choice."""

    def __init__(self, url: str, token: str, **kwargs: Any) -> None:
        super().__init__(url, token, **kwargs)
        self.tickets[112].update(subject="Damaged order #4417", type="Problem",
                                 custom_fields={"reason": "Damaged", "parcels": 2,
                                                "legacy_ref": "LX-88"})

    def _list_fields(self, args: dict[str, Any]) -> Any:
        return FIELDS

    def _ticket_facts(self, args: dict[str, Any]) -> Any:
        return {"first_response_at": NOW - 2 * HOUR - 50 * MINUTE,
                "last_customer_at": NOW - 5 * MINUTE}

    def _ticket_time(self, args: dict[str, Any]) -> Any:
        return {"entries": [], "total_seconds": 45 * 60, "billable_seconds": 0}

    def _set_ticket(self, args: dict[str, Any]) -> Any:
        raise CommandError("refused", "Can't resolve #112: fill in Order number first",
                           "order_number")


def fields_app() -> InboxApp:
    return InboxApp(Config(relay="ws://127.0.0.1:9/ws", token="sd_canned", send_review=False),
                    client_class=FieldsClient)


def test_details_pane(snap_compare: Any) -> None:
    app = fields_app()

    async def before(pilot: Pilot[Any]) -> None:
        await opened(pilot)
        await pilot.press("i")
        pane = app.inbox.query_one(DetailsPane)
        await until(pilot, lambda: "Lost parcel" not in str(pane.body.render())
                    and "Legacy ref" in str(pane.body.render())
                    and "45m" in str(pane.body.render()), "the pane, filled in")
        await pilot.pause()

    assert snap_compare(app, terminal_size=TALL, run_before=before)


def test_fields_form_with_a_refusal(snap_compare: Any) -> None:
    app = fields_app()

    async def before(pilot: Pilot[Any]) -> None:
        await opened(pilot)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, FieldsForm), "the form")
        form = app.screen
        form.query_one("#f-status", Select).value = "resolved"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "fill in Order number" in
                    form.query_one("#error-order_number", Static).render().plain, "the refusal")
        await pilot.pause()

    assert snap_compare(app, terminal_size=TALL, run_before=before)
