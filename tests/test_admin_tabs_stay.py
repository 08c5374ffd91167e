"""Closing a dialog, or a reload, leaves the admin on the tab (and row) it was on (issue 9)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from desk_harness import LiveDesk, live_desk, until
from test_tui_admin import SIZE, open_admin
from textual.widgets import DataTable

from tui.app import InboxApp
from tui.screens.admin.admin import TABS
from tui.screens.admin.people import PeoplePane
from tui.screens.pickers import ChoiceScreen, TextPromptScreen


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


async def test_escape_from_a_numbers_dialog_stays_on_numbers(desk: LiveDesk) -> None:
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, app)
        await pilot.press("4")
        await until(pilot, lambda: screen.query_one(PeoplePane).loaded, what="people")
        await pilot.press("2")
        table = screen.query_one("#numbers-table", DataTable)
        await until(pilot, lambda: table.row_count == 2 and table.has_focus, what="numbers")
        table.move_cursor(row=1)
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="group picker")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, what="back on the admin screen")
        await pilot.pause(0.2)
        assert screen.tabs.active == "numbers"
        assert table.has_focus and table.cursor_row == 1


async def test_escape_from_an_accounts_dialog_stays_on_accounts(desk: LiveDesk) -> None:
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, app)
        await pilot.press("ctrl+pageup")  # from Accounts round to the last tab
        await until(pilot, lambda: screen.pane(TABS[-1]).loaded, what="the last tab")
        await pilot.press("ctrl+pagedown")  # the last tab: round to Accounts
        table = screen.query_one("#accounts-table", DataTable)
        await until(pilot, lambda: table.has_focus, what="accounts focused")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen), what="rename")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, what="back on the admin screen")
        await pilot.pause(0.2)
        assert screen.tabs.active == "accounts"
        assert table.has_focus
