"""CSAT in the inbox (issue 14), against a real relay and the Twilio simulator: the details
pane's Satisfaction line (sent, then rated live, then as loaded by another inbox), the list
row's rating, the thread's "📊 Survey" heads and the "rated 4" mark, the contact view's stars,
and the Numbers tab's survey form (live segment count, the relay's refusals under their
fields, the save with the segment price). Snapshots of the pane and the form are in
tests/test_tui_csat_snapshots.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import US_TOLL_FREE, LiveDesk, live_desk, until
from test_tui_admin import open_admin, table_cells, toasts
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, OptionList, Static, TextArea

from core import queries, writes
from core.csat import DEFAULT_TEXT
from tui.app import InboxApp
from tui.model import View
from tui.screens.admin.number_csat import CsatForm, text_cost
from tui.screens.contact import ContactScreen
from tui.widgets.details_pane import satisfaction_lines
from tui.widgets.render import person_ticket_line, rating_stars

SIZE = (150, 44)
PERSON = "+12025550177"
FOLLOWUP = "Thanks! Anything we could have done better?"
EVERY_TICKET = View("Every ticket, any status")


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    """The live desk with CSAT on for the US number (its default survey text)."""
    async with live_desk(tmp_path) as running:
        await running.relay.store.write(writes.update_number, await us_id(running), csat=True)
        yield running


async def us_id(desk: LiveDesk) -> int:
    numbers = await desk.relay.store.read(queries.numbers)
    return next(n.id for n in numbers if n.e164 == US_TOLL_FREE)


def pane_text(app: InboxApp) -> str:
    """The pane's lines, each label and value joined by one space."""
    plain = app.inbox.query_one("#details-body", Static).render().plain
    return "\n".join(" ".join(line.split()) for line in plain.splitlines())


def thread_heads(app: InboxApp) -> list[str]:
    """Each entry's first line as the thread draws it."""
    thread = app.inbox.thread
    return ["".join(text for text, _ in thread._head(entry)) for entry in thread.entries]


async def open_first(pilot: Pilot[Any], app: InboxApp) -> int:
    inbox = app.inbox
    await until(pilot, lambda: inbox.header.state == "live"
                and getattr(inbox.model, "loaded", False), what="the inbox")
    await inbox.switch_view(EVERY_TICKET)  # resolved tickets stay listed
    await until(pilot, lambda: inbox.model.view == EVERY_TICKET and inbox.model.row(0),
                what="every ticket")
    await pilot.press("enter")
    await until(pilot, lambda: inbox.thread_state and inbox.thread_state.entries,
                what="the thread")
    return int(inbox.model.row(0)["ticket"]["id"])


async def resolve(desk: LiveDesk, ticket_id: int) -> None:
    await desk.relay.store.write(writes.update_ticket, ticket_id, by=1, status="resolved")


# --- the pure words -----------------------------------------------------------------------


def test_the_satisfaction_line_says_what_became_of_the_surveys() -> None:
    sent = {"id": 1, "message_id": 10, "rating": None, "rated_at": None, "comment": None,
            "state": "sent", "expires_at": 2_000}
    assert satisfaction_lines(None) == [] and satisfaction_lines({"surveys": []}) == []
    assert satisfaction_lines({"surveys": [sent]}, now=1_000) == ["survey sent",
                                                                    "no answer yet"]
    assert satisfaction_lines({"surveys": [sent]}, now=3_000) == ["survey sent", "not answered"]
    rated = {**sent, "rating": 4, "rated_at": 1_500, "comment": "great service",
             "state": "done"}
    lines = satisfaction_lines({"surveys": [rated]}, now=1_000)
    assert lines[:2] == ["★★★★☆ 4", "“great service”"] and lines[2].startswith("rated ")
    asked = {**rated, "comment": None, "state": "asked_comment"}
    assert satisfaction_lines({"surveys": [asked]}, now=1_000)[1] == "follow-up asked"
    again = {**sent, "id": 2, "message_id": 20}
    assert satisfaction_lines({"surveys": [rated, again]}, now=1_000)[-2:] == [
        "new survey sent", "no answer yet"]


def test_a_text_costs_what_the_composer_says() -> None:
    assert text_cost("") == ""
    assert text_cost(DEFAULT_TEXT) == f"GSM-7 · {len(DEFAULT_TEXT)}/160 · 1 segment"
    assert text_cost("How did we do? 🙂") == "UCS-2 · 17/70 · 1 segment · UCS-2 because of: 🙂"
    assert text_cost("x" * 161) == "GSM-7 · 161/306 · 2 segments"


def test_a_contact_ticket_line_has_a_rating_column_only_when_asked() -> None:
    item = {"ticket": {"id": 7, "status": "resolved", "last_message_at": 0,
                       "last_preview": "4"}, "number": US_TOLL_FREE, "csat_rating": 4}
    assert rating_stars(None) == "" and rating_stars(2) == "★★☆☆☆"
    assert "★★★★☆" in person_ticket_line(item, 20, ratings=True).plain
    assert "★" not in person_ticket_line(item, 20).plain


# --- against the relay --------------------------------------------------------------------


async def test_a_rating_shows_live_in_the_pane_the_row_and_the_thread(desk: LiveDesk) -> None:
    await desk.text("my parcel is late", from_=PERSON)
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        ticket_id = await open_first(pilot, app)
        await pilot.press("i")
        await until(pilot, lambda: "Ticket #" in pane_text(app), what="the pane")
        assert "Satisfaction" not in pane_text(app)  # never surveyed: nothing said
        await resolve(desk, ticket_id)
        await until(pilot, lambda: "Satisfaction survey sent\nno answer yet" in pane_text(app),
                    what="the survey sent, in the pane")
        await until(pilot, lambda: "→ 📊 Survey" in "\n".join(thread_heads(app)),
                    what="the survey in the thread, headed as one")
        survey = next(e for e in app.inbox.thread.entries if e.get("purpose") == "csat_survey")
        assert survey["body"] == DEFAULT_TEXT

        await desk.text("4", from_=PERSON)
        await until(pilot, lambda: "Satisfaction ★★★★☆ 4" in pane_text(app),
                    what="the rating, in the pane")
        assert "rated " in pane_text(app)
        await until(pilot, lambda: app.inbox.model.row(0).get("csat_rating") == 4,
                    what="the list row's rating")
        assert app.inbox.model.row(0)["ticket"]["status"] == "resolved"
        rating = next(e for e in reversed(app.inbox.thread.entries)
                      if e.get("direction") == "inbound")
        assert rating["body"] == "4"
        await until(pilot, lambda: thread_heads(app)[-1].endswith("· rated 4"),
                    what="the rating text marked")

    # Another inbox, opened later, has no event to go by: it asks the relay.
    # The pane open first this time: its answer may come before the thread's.
    later = InboxApp(desk.config())
    async with later.run_test(size=SIZE) as pilot:
        await pilot.press("i")
        await open_first(pilot, later)
        await until(pilot, lambda: "Satisfaction ★★★★☆ 4" in pane_text(later),
                    what="the rating, loaded")
        await until(pilot, lambda: any(h.endswith("· rated 4") for h in thread_heads(later)),
                    what="the rating text marked from ticket_csat")
        assert not any("rated" in h for h in thread_heads(later)[:-1])  # "my parcel is late"
        await pilot.press("C")
        await until(pilot, lambda: isinstance(later.screen, ContactScreen)
                    and later.screen.loaded, what="the contact view")
        options = later.screen.query_one(OptionList)
        assert "★★★★☆" in str(options.get_option_at_index(0).prompt)


async def test_a_survey_a_new_question_reopened_is_said_not_answered(desk: LiveDesk) -> None:
    await desk.text("my parcel is late", from_=PERSON)
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        ticket_id = await open_first(pilot, app)
        await resolve(desk, ticket_id)
        await until(pilot, lambda: "→ 📊 Survey" in "\n".join(thread_heads(app)),
                    what="the survey")
        await pilot.press("i")
        await until(pilot, lambda: "no answer yet" in pane_text(app), what="sent")
        await desk.text("it still has not come, where is it?", from_=PERSON)
        await until(pilot, lambda: "Satisfaction survey sent\nnot answered" in pane_text(app),
                    what="the survey expired by the reopen")
        assert "Status Open" in pane_text(app)


async def test_a_follow_up_is_headed_and_its_answer_kept_as_the_comment(desk: LiveDesk) -> None:
    await desk.relay.store.write(writes.update_number, await us_id(desk), csat_followup=FOLLOWUP)
    await desk.text("the app crashes", from_=PERSON)
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        ticket_id = await open_first(pilot, app)
        await pilot.press("i")
        await resolve(desk, ticket_id)
        await until(pilot, lambda: "no answer yet" in pane_text(app), what="the survey")
        await desk.text("five", from_=PERSON)
        await until(pilot, lambda: "→ 📊 Survey follow-up" in "\n".join(thread_heads(app)),
                    what="the follow-up, headed as one")
        assert "Satisfaction ★★★★★ 5\nfollow-up asked" in pane_text(app)
        await desk.text("quick and kind", from_=PERSON)
        await until(pilot, lambda: "“quick and kind”" in pane_text(app), what="the comment")
        assert app.inbox.model.row(0)["ticket"]["status"] == "resolved"


async def test_the_number_form_saves_the_survey_and_shows_a_refusal_under_its_field(
        desk: LiveDesk) -> None:
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, app)
        await pilot.press("2")
        table = screen.query_one("#numbers-table", DataTable)
        await until(pilot, lambda: table.row_count == 2, what="numbers")
        table.move_cursor(row=next(i for i, cells in enumerate(table_cells(table))
                                   if cells[0] == US_TOLL_FREE))
        await pilot.press("u")
        form = await until(pilot, lambda: isinstance(app.screen, CsatForm) and app.screen,
                           what="the survey form")
        assert form.query_one("#f-csat", Checkbox).value
        assert form.query_one("#f-csat_text", TextArea).text == DEFAULT_TEXT
        cost = form.query_one("#cost-csat_text", Static)
        assert str(cost.render()) == f"GSM-7 · {len(DEFAULT_TEXT)}/160 · 1 segment"

        # Typed: the count follows each key (a curly quote makes it UCS-2).
        text = form.query_one("#f-csat_text", TextArea)
        text.text = ""
        await pilot.click("#f-csat_text")
        await pilot.press(*"Rate us 1-5")
        await until(pilot, lambda: str(cost.render()) == "GSM-7 · 11/160 · 1 segment",
                    what="the count as typed")
        text.insert("’")
        await until(pilot, lambda: str(cost.render()).startswith("UCS-2 · 12/70 · 1 segment"),
                    what="UCS-2 said as typed")
        text.text = "Rate us 1-5 (5 is great)"
        form.query_one("#f-csat_followup", TextArea).text = FOLLOWUP
        await until(pilot, lambda: str(form.query_one("#cost-csat_followup", Static).render())
                    == f"GSM-7 · {len(FOLLOWUP)}/160 · 1 segment", what="the follow-up's count")

        window = form.query_one("#f-csat_window_days", Input)
        window.value = "a week"
        await pilot.press("ctrl+s")
        refusal = form.query_one("#error-csat_window_days", Static)
        await until(pilot, lambda: "whole number of days" in str(refusal.render()),
                    what="the form's own refusal")
        window.value = "40"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "1 to 30 days" in str(refusal.render()),
                    what="the relay's refusal under the window")
        assert app.screen is form  # still open, as typed
        number = next(n for n in await desk.relay.store.read(queries.numbers)
                      if n.e164 == US_TOLL_FREE)
        assert number.csat_window_days == 3 and number.csat_text == DEFAULT_TEXT

        window.value = "7"
        form.query_one("#f-csat_bulk", Checkbox).value = True
        price = form.query_one("#f-segment_price", Input)
        assert price.value == "" and form.query_one("#f-price_currency", Input).value == "USD"
        price.value = "cheap"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "not a price" in str(
            form.query_one("#error-segment_price", Static).render()),
            what="the relay's refusal under the price")
        assert str(refusal.render()) == ""  # the window's refusal went with its fix
        price.value = "0.0079"
        form.query_one("#f-price_currency", Input).value = "eur"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "survey settings saved" in toasts(app), what="saved")
        assert not isinstance(app.screen, CsatForm)
    number = next(n for n in await desk.relay.store.read(queries.numbers)
                  if n.e164 == US_TOLL_FREE)
    assert (number.csat, number.csat_text, number.csat_followup, number.csat_window_days,
            number.csat_bulk) == (True, "Rate us 1-5 (5 is great)", FOLLOWUP, 7, True)
    assert (number.segment_price, number.price_currency) == ("0.0079", "EUR")
