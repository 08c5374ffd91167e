"""CSAT in the inbox pinned as SVG snapshots (canned relay, frozen clock; see
tests/test_tui_snapshots.py for why and how to regenerate): a rated ticket with its
Satisfaction line, the survey's heads and the rating mark in its thread; and a number's
survey form with the relay's refusal under the window."""

from __future__ import annotations

from typing import Any

from desk_harness import until
from test_tui_admin import NUMBERS as ADMIN_NUMBERS
from test_tui_admin import AdminApp, settle
from test_tui_snapshots import (
    HOUR,
    MINUTE,
    NOW,
    TALL,
    CannedClient,
    _message,
    _no_toasts,
    frozen_time,  # noqa: F401  (autouse: the clock these pictures were taken at)
)
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from core.csat import DEFAULT_TEXT
from tui.app import InboxApp
from tui.client import CommandError
from tui.config import Config
from tui.model import View
from tui.screens.admin.number_csat import CsatForm
from tui.widgets.details_pane import DetailsPane

FOLLOWUP = "Thanks! Anything we could have done better?"
RATED_AT = NOW - 118 * MINUTE
RATED_THREAD = [
    _message(601, 3 * HOUR, "inbound",
             "Hi, my order #4417 arrived damaged. Can I get a replacement?"),
    _message(602, 2 * HOUR + 50 * MINUTE, "outbound",
             "So sorry, Maya! A replacement is on its way.", author_agent_id=2,
             status="delivered"),
    _message(603, 2 * HOUR, "outbound", DEFAULT_TEXT, status="delivered",
             purpose="csat_survey"),
    _message(604, 118 * MINUTE, "inbound", "4"),
    _message(605, 118 * MINUTE, "outbound", FOLLOWUP, status="delivered",
             purpose="csat_followup"),
    _message(606, 110 * MINUTE, "inbound", "quick and kind, thanks"),
]
SURVEY = {"id": 7, "ticket_id": 112, "number_id": 1, "agent_id": 2, "group_id": 1,
          "message_id": 603, "sent_at": NOW - 2 * HOUR, "expires_at": NOW + 70 * HOUR,
          "rating": 4, "rated_at": RATED_AT, "comment": "quick and kind, thanks",
          "state": "done"}


class RatedClient(CannedClient):
    """The canned relay, where Maya's ticket #112 was resolved, surveyed and rated 4."""

    def __init__(self, url: str, token: str, **kwargs: Any) -> None:
        super().__init__(url, token, **kwargs)
        self.tickets[112].update(status="resolved", unread=False,
                                 last_message_at=NOW - 110 * MINUTE,
                                 last_preview="quick and kind, thanks")

    def _get_thread(self, args: dict[str, Any]) -> Any:
        if args["ticket_id"] == 112:
            return {"items": RATED_THREAD, "older": None, "newer": None}
        return super()._get_thread(args)

    def _list_fields(self, args: dict[str, Any]) -> Any:
        return []

    def _ticket_facts(self, args: dict[str, Any]) -> Any:
        return {"first_response_at": NOW - 2 * HOUR - 50 * MINUTE,
                "last_customer_at": NOW - 110 * MINUTE}

    def _ticket_csat(self, args: dict[str, Any]) -> Any:
        return {"ticket_id": args["ticket_id"], "rating": 4, "surveys": [SURVEY]}


def test_a_rated_ticket(snap_compare: Any) -> None:
    app = InboxApp(Config(relay="ws://127.0.0.1:9/ws", token="sd_canned", send_review=False),
                   client_class=RatedClient)

    async def before(pilot: Pilot[Any]) -> None:
        inbox = app.inbox
        await until(pilot, lambda: inbox.header.state == "live"
                    and getattr(inbox.model, "loaded", False), "the inbox")
        await inbox.switch_view(View("Every ticket, any status"))
        await until(pilot, lambda: inbox.model.total == 14, "every ticket")
        row = next(inbox.model.row(i) for i in range(14)
                   if (inbox.model.row(i) or {}).get("ticket", {}).get("id") == 112)
        inbox.open_ticket(row)
        await until(pilot, lambda: len(inbox.thread.entries) == len(RATED_THREAD)
                    and inbox.thread.rating_of(604) == 4, "the thread, its rating marked")
        await pilot.press("i")
        pane = inbox.query_one(DetailsPane)
        await until(pilot, lambda: "quick and kind" in str(pane.body.render()), "the pane")
        await pilot.pause()
        _no_toasts(app)

    assert snap_compare(app, terminal_size=TALL, run_before=before)


PRICED = [{**ADMIN_NUMBERS[0], "csat_text": DEFAULT_TEXT, "csat_followup": FOLLOWUP,
           "csat_window_days": 3, "csat_bulk": False, "segment_price": "0.0079",
           "price_currency": "USD"}, *ADMIN_NUMBERS[1:]]


def test_the_survey_form_with_a_refusal(snap_compare: Any) -> None:
    refusal = CommandError("refused", "the survey window must be 1 to 30 days",
                           "csat_window_days")
    app = AdminApp(tab="numbers", answers={"list_numbers": PRICED, "update_number": refusal})

    async def before(pilot: Pilot[Any]) -> None:
        await settle("numbers")(pilot)
        table = pilot.app.screen.query_one("#numbers-table", DataTable)
        await until(pilot, lambda: table.has_focus, "the numbers focused")
        await pilot.press("u")
        form = await until(pilot, lambda: isinstance(app.screen, CsatForm) and app.screen,
                           "the form")
        form.query_one("#f-csat_window_days", Input).value = "45"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "1 to 30 days" in str(
            form.query_one("#error-csat_window_days", Static).render()), "the refusal")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(130, 44), run_before=before)
