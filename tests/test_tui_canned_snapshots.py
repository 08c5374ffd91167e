"""The canned-response picker and the scenario picker, pinned as SVG snapshots on the canned
inbox of test_tui_snapshots (fixed data, fixed clock)."""

from __future__ import annotations

from typing import Any

import pytest
from desk_harness import until
from test_tui_snapshots import (  # noqa: F401  (frozen_time: the pinned clock, autouse)
    PNG,
    PNG_SHA,
    SIZE,
    CannedClient,
    frozen_time,
    listed,
    opened,
)
from textual.pilot import Pilot

from tui.app import InboxApp
from tui.config import Config
from tui.screens.canned_picker import CannedPicker
from tui.screens.scenario_picker import ScenarioPicker

pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")

LIBRARY = {
    "folders": [{"id": 1, "name": "Billing"}, {"id": 2, "name": "Shipping"}],
    "responses": [
        {"id": 1, "title": "Refund issued", "folder_id": 1, "owner_agent_id": None, "media": [],
         "body": "Hi {{contact.first_name}}, the refund for order {{ticket.order_no}} is on its"
                 " way: 3-5 working days. Ticket #{{ticket.id}}. {{agent.name}}",
         "updated_at": 0},
        {"id": 2, "title": "Return label", "folder_id": 2, "owner_agent_id": None,
         "body": "Here is your return label, {{contact.first_name}}.", "updated_at": 0,
         "media": [{"sha256": PNG_SHA, "content_type": "image/png", "size": len(PNG),
                    "filename": "label.png", "twilio_url": ""}]},
        {"id": 3, "title": "Opening hours", "folder_id": None, "owner_agent_id": None,
         "media": [], "body": "We are open 9-5, Monday to Saturday.", "updated_at": 0},
        {"id": 4, "title": "My sign-off", "folder_id": None, "owner_agent_id": 1, "media": [],
         "body": "Cheers, {{agent.name}}", "updated_at": 0},
    ],
}
SCENARIOS = [
    {"id": 1, "name": "Damaged on arrival",
     "actions": [{"set": "priority", "value": "high"}, {"tags_add": ["damaged", "claim"]},
                 {"set": "group", "value": 2}, {"note": "Photo requested for the carrier claim"},
                 {"canned": 2}]},
    {"id": 2, "name": "Close as spam",
     "actions": [{"tags_add": ["spam"]}, {"set": "status", "value": "closed"}]},
]


class LibraryClient(CannedClient):
    """The canned relay, with a canned-response library and two scenarios."""

    def _list_canned(self, args: dict[str, Any]) -> Any:
        return LIBRARY

    def _list_scenarios(self, args: dict[str, Any]) -> Any:
        return SCENARIOS


def library_app() -> InboxApp:
    return InboxApp(Config(relay="ws://127.0.0.1:9/ws", token="sd_canned", send_review=False),
                    client_class=LibraryClient)


def test_canned_picker_fills_the_preview_and_marks_what_is_missing(snap_compare: Any) -> None:
    """Maya's ticket has no order number: the preview highlights {{ticket.order_no}}."""
    app = library_app()

    async def before(pilot: Pilot[Any]) -> None:
        await opened(pilot)
        await pilot.press("r", "ctrl+g")
        await until(pilot, lambda: isinstance(app.screen, CannedPicker), "the canned picker")
        await pilot.press(*"refund")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_scenario_picker_on_two_selected_tickets(snap_compare: Any) -> None:
    app = library_app()

    async def before(pilot: Pilot[Any]) -> None:
        await listed(pilot)
        await pilot.press("space", "j", "space", "S")
        await until(pilot, lambda: isinstance(app.screen, ScenarioPicker), "the scenario picker")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)
