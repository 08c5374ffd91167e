"""The admin screen's Hours tab (issue 13): every number and group with its week in one line,
the editor (time zone checked as typed, a line per weekday, holidays), refusals under their
field before and after the relay, 24×7, and reloading on ``hours.saved``; over canned answers,
with the clock pinned (the list says whether each is open now)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import UK_LONG_CODE, LiveDesk, live_desk, until
from test_tui_admin import AdminApp, open_admin, settle, table_cells
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, Static, TextArea

from tui.app import InboxApp
from tui.client import CommandError
from tui.screens.admin.admin import AdminScreen
from tui.screens.admin.hours import HoursEditor, HoursPane
from tui.widgets import render

NOW = round(dt.datetime(2026, 12, 4, 18, 0, tzinfo=dt.UTC).timestamp() * 1000)  # a Friday
LONDON_WEEK = {"time_zone": "Europe/London", "monday": "09:00-17:30", "tuesday": "09:00-17:30",
               "wednesday": "09:00-17:30", "thursday": "09:00-17:30", "friday": "09:00-17:30",
               "saturday": "closed", "sunday": "closed",
               "holidays": [{"date": "2026-12-25", "name": "Christmas Day"},
                            {"date": "2026-12-28", "name": "Boxing Day (substitute)"}]}
NEW_YORK_LATE = {**LONDON_WEEK, "time_zone": "America/New_York", "friday": "09:00-20:00",
                 "holidays": []}
HOURS = {"hours": [
    {"scope": "number", "scope_id": 1, "name": "+447400900123", "calendar": LONDON_WEEK},
    {"scope": "number", "scope_id": 2, "name": "+447400900456 Acme UK",
     "calendar": None},
    {"scope": "group", "scope_id": 1, "name": "Billing", "calendar": NEW_YORK_LATE},
    {"scope": "group", "scope_id": 2, "name": "Shipping", "calendar": None},
]}


@pytest.fixture(autouse=True)
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "clock", lambda: NOW)


NO_TARGETS = {"targets": [{"priority": p, "first_response": None, "resolution": None,
                           "first_response_text": "", "resolution_text": ""}
                          for p in ("low", "medium", "high", "urgent")]}


def app_with(**answers: Any) -> AdminApp:
    return AdminApp(tab="hours", answers={"get_business_hours": HOURS,
                                          "get_sla_targets": NO_TARGETS, **answers})


def calls_of(app: AdminApp, name: str) -> list[dict[str, Any]]:
    return [args for called, args in app.client.calls if called == name]


def shown(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def open_editor(pilot: Pilot[Any], row: int) -> HoursEditor:
    await settle("hours")(pilot)
    table = pilot.app.screen.query_one("#hours-table", DataTable)
    await until(pilot, lambda: table.has_focus, what="the hours list focused")
    table.move_cursor(row=row)
    await pilot.press("enter")
    return await until(pilot, lambda: isinstance(pilot.app.screen, HoursEditor)
                       and pilot.app.screen, what="the hours editor")


async def test_the_list_shows_each_week_in_a_line_and_whether_it_is_open_now() -> None:
    app = app_with()
    async with app.run_test(size=(130, 30)) as pilot:
        await settle("hours")(pilot)
        assert table_cells(app.screen.query_one("#hours-table", DataTable)) == [
            ["Number", "+447400900123", "Mon-Fri 09:00-17:30 · Europe/London · 2 holidays",
             "closed · opens Monday at 9:00"],
            ["Number", "+447400900456 Acme UK", "24×7", "open"],
            ["Group", "Billing", "Mon-Thu 09:00-17:30, Fri 09:00-20:00 · America/New_York",
             "open"],
            ["Group", "Shipping", "24×7", "open"]]


async def test_a_calendar_this_inbox_cannot_read_is_said_so() -> None:
    odd = {"scope": "group", "scope_id": 9, "name": "Mars", "calendar": {"time_zone": "Mars/Base"}}
    app = app_with(get_business_hours={"hours": [odd]})
    async with app.run_test(size=(130, 30)) as pilot:
        await settle("hours")(pilot)
        assert table_cells(app.screen.query_one("#hours-table", DataTable)) == [
            ["Group", "Mars", "(not readable here: update the inbox)", ""]]


async def test_the_zero_key_shows_the_tab_and_hours_saved_reloads_it() -> None:
    app = AdminApp(tab="accounts", answers={"get_business_hours": HOURS})
    async with app.run_test(size=(130, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, AdminScreen)
        await settle("accounts")(pilot)
        await pilot.press("0")
        await settle("hours")(pilot)
        loads = len(calls_of(app, "get_business_hours"))
        assert screen.tabs.active == "hours" and loads >= 1
        await pilot.pause(0.2)
        loads = len(calls_of(app, "get_business_hours"))
        screen.relay_event({"kind": "hours.saved", "scope": "group", "scope_id": 2})
        await until(pilot, lambda: len(calls_of(app, "get_business_hours")) > loads,
                    what="a reload on hours.saved")


async def test_the_editor_is_filled_and_saves_the_calendar_as_stored() -> None:
    saved_row = {**HOURS["hours"][0], "calendar": {**LONDON_WEEK,
                                                   "tuesday": "09:00-13:00, 14:00-17:30"}}
    app = app_with(save_business_hours=saved_row)
    async with app.run_test(size=(130, 44)) as pilot:
        editor = await open_editor(pilot, 0)
        assert not editor.query_one("#hours-always", Checkbox).value
        assert editor.query_one("#hours-time_zone", Input).value == "Europe/London"
        assert editor.query_one("#hours-saturday", Input).value == "closed"
        assert editor.query_one("#hours-holidays", TextArea).text == \
            "2026-12-25 Christmas Day\n2026-12-28 Boxing Day (substitute)"
        assert shown(editor, "#hours-zone-hint") == "✓ 18:00 there now (GMT, UTC+0000)"
        editor.query_one("#hours-tuesday", Input).value = "14:00-17:30,9:00 - 13:00"
        loads = len(calls_of(app, "get_business_hours"))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, HoursEditor), what="saved")
        assert calls_of(app, "save_business_hours") == [
            {"scope": "number", "scope_id": 1, "calendar": saved_row["calendar"]}]
        await until(pilot, lambda: len(calls_of(app, "get_business_hours")) > loads,
                    what="the list reloaded")


async def test_refusals_show_under_their_fields_and_nothing_is_sent() -> None:
    app = app_with()
    async with app.run_test(size=(130, 44)) as pilot:
        editor = await open_editor(pilot, 0)
        editor.query_one("#hours-time_zone", Input).value = "europe/london"
        editor.query_one("#hours-tuesday", Input).value = "17:00-09:00"
        editor.query_one("#hours-holidays", TextArea).text = "2026-02-30 Nope"
        await pilot.pause()
        assert "did you mean Europe/London?" in shown(editor, "#hours-zone-hint")
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HoursEditor) and not calls_of(app, "save_business_hours")
        assert shown(editor, "#hours-error-tuesday") == "✗ 17:00-09:00 ends before it starts"
        assert "did you mean Europe/London?" in shown(editor, "#hours-error-time_zone")
        assert "'2026-02-30' is not a date" in shown(editor, "#hours-error-holidays")
        assert not editor.query_one("#hours-error-monday", Static).display
        assert editor.query_one("#hours-time_zone", Input).has_focus  # the first to fix
        assert editor.query_one("#hours-tuesday", Input).value == "17:00-09:00"  # kept


async def test_the_relays_refusal_is_placed_under_its_field() -> None:
    refusal = CommandError("bad_args", "sunday: 00:00-24:00 is refused here\nthe relay says no")
    app = app_with(save_business_hours=refusal)
    async with app.run_test(size=(130, 44)) as pilot:
        editor = await open_editor(pilot, 0)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: calls_of(app, "save_business_hours"), what="sent")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HoursEditor)
        assert shown(editor, "#hours-error-sunday") == "✗ 00:00-24:00 is refused here"
        assert shown(editor, "#hours-error") == "✗ the relay says no"


async def test_a_new_calendar_starts_from_office_hours_in_the_numbers_zone() -> None:
    app = app_with(save_business_hours=HOURS["hours"][1])
    async with app.run_test(size=(130, 44)) as pilot:
        editor = await open_editor(pilot, 1)  # +44, 24×7 so far
        always = editor.query_one("#hours-always", Checkbox)
        assert always.value and editor.query_one("#hours-monday", Input).disabled
        assert editor.query_one("#hours-time_zone", Input).value == "Europe/London"
        assert editor.query_one("#hours-monday", Input).value == "09:00-17:30"
        assert editor.query_one("#hours-sunday", Input).value == "closed"
        await pilot.press("space")  # the checkbox has the keyboard: untick 24×7
        assert not always.value and not editor.query_one("#hours-monday", Input).disabled
        await pilot.press("ctrl+s")
        await until(pilot, lambda: calls_of(app, "save_business_hours"), what="sent")
        calendar = calls_of(app, "save_business_hours")[0]["calendar"]
        assert calendar["time_zone"] == "Europe/London" and calendar["friday"] == "09:00-17:30"
        assert calendar["saturday"] == "closed" and calendar["holidays"] == []


async def test_ticking_24x7_saves_no_calendar_and_a_group_guesses_no_zone() -> None:
    app = app_with(save_business_hours={**HOURS["hours"][2], "calendar": None})
    async with app.run_test(size=(130, 44)) as pilot:
        editor = await open_editor(pilot, 3)  # the Shipping group: no number, no zone
        assert editor.query_one("#hours-time_zone", Input).value == ""
        await pilot.press("space")
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert shown(editor, "#hours-error-time_zone").startswith("✗ missing")
        editor.query_one("#hours-always", Checkbox).value = True
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, HoursEditor), what="saved")
        assert calls_of(app, "save_business_hours") == [
            {"scope": "group", "scope_id": 2, "calendar": None}]


async def test_escape_leaves_the_editor_without_saving() -> None:
    app = app_with()
    async with app.run_test(size=(130, 44)) as pilot:
        await open_editor(pilot, 2)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, AdminScreen), what="back")
        assert not calls_of(app, "save_business_hours")
        assert app.screen.query_one(HoursPane).loaded


def test_snapshot_hours_editor_with_a_refusal(snap_compare: Any) -> None:
    async def show(pilot: Pilot[Any]) -> None:
        editor = await open_editor(pilot, 0)
        editor.query_one("#hours-wednesday", Input).value = "09:00-13:00, 12:00-17:30"
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)

    assert snap_compare(app_with(), terminal_size=(130, 44), run_before=show)


# --- against a real relay ------------------------------------------------------------


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


async def test_hours_saved_on_a_real_relay_show_in_the_list(desk: LiveDesk) -> None:
    app = InboxApp(desk.config())
    async with app.run_test(size=(130, 44)) as pilot:
        screen = await open_admin(pilot, app)
        await pilot.press("0")
        pane = screen.query_one(HoursPane)
        await until(pilot, lambda: pane.loaded, what="the hours tab")
        table = screen.query_one("#hours-table", DataTable)
        rows = table_cells(table)
        assert [row[0] for row in rows] == ["Number", "Number", "Group", "Group"]
        assert {row[2] for row in rows} == {"24×7"}
        uk = next(i for i, row in enumerate(rows) if row[1].startswith(UK_LONG_CODE))
        await until(pilot, lambda: table.has_focus, what="the list focused")
        table.move_cursor(row=uk)
        await pilot.press("enter")
        editor = await until(pilot, lambda: isinstance(app.screen, HoursEditor)
                             and app.screen, what="the editor")
        assert editor.query_one("#hours-time_zone", Input).value == "Europe/London"
        await pilot.press("space")
        editor.query_one("#hours-holidays", TextArea).text = "2026-12-25 Christmas Day"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen, what="saved")
        await until(pilot, lambda: table_cells(table)[uk][2]
                    == "Mon-Fri 09:00-17:30 · Europe/London · 1 holiday", what="the new week")
        stored = await app.client.command("get_business_hours")
        calendar = next(row["calendar"] for row in stored["hours"]
                        if row["name"].startswith(UK_LONG_CODE))
        assert calendar["holidays"] == [{"date": "2026-12-25", "name": "Christmas Day"}]
