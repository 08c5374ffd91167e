"""The admin's Canned (6) and Scenarios (7) tabs against a real relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from desk_harness import LiveDesk, live_desk, until
from test_tui_admin import open_admin
from textual.widgets import Input, Static, TextArea

from core import canned, scenarios
from tui.app import InboxApp
from tui.screens.admin.canned import CannedEditor, FoldersTable, ResponsesTable
from tui.screens.admin.scenarios import ScenarioEditor, ScenariosTable
from tui.screens.pickers import ChoiceScreen, TextPromptScreen

SIZE = (150, 44)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


async def test_an_admin_keeps_the_library_and_defines_a_scenario(desk: LiveDesk) -> None:
    store = desk.relay.store
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, app)
        await pilot.press("6")
        await until(pilot, lambda: screen.pane("canned").loaded, what="the Canned tab")
        screen.query_one(FoldersTable).focus()
        await pilot.press("n")
        prompt = await until(pilot, lambda: isinstance(app.screen, TextPromptScreen)
                             and app.screen, what="the folder's name")
        prompt.query_one(Input).value = "Billing"
        await pilot.press("enter")
        await until(pilot, lambda: screen.query_one(FoldersTable).row_count == 1, "the folder")
        screen.query_one(ResponsesTable).focus()
        await pilot.press("n")
        editor = await until(pilot, lambda: isinstance(app.screen, CannedEditor) and app.screen,
                             what="the editor")
        editor.query_one("#canned-title", Input).value = "Refund"
        editor.query_one("#canned-body", TextArea).text = "Hi {{contact.first_nam}}, refunded 😀"
        await pilot.pause()
        count = str(editor.query_one("#canned-count", Static).render())
        assert count.startswith("UCS-2 · 37 characters · 1 segment")
        assert "Unknown placeholder: {{contact.first_nam}}" in count
        editor.query_one("#canned-body", TextArea).text = "Hi {{contact.first_name}}, refunded."
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen.query_one(ResponsesTable).row_count == 1, "the row")
        library = await store.read(canned.library_for, 1)
        assert [(r["title"], r["body"]) for r in library["responses"]] == [
            ("Refund", "Hi {{contact.first_name}}, refunded.")]
        refund_id = library["responses"][0]["id"]

        await pilot.press("7")
        await until(pilot, lambda: screen.pane("scenarios").loaded, what="the Scenarios tab")
        screen.query_one(ScenariosTable).focus()
        await pilot.press("n")
        editor = await until(pilot, lambda: isinstance(app.screen, ScenarioEditor)
                             and app.screen, what="the scenario editor")
        editor.query_one("#scenario-name", Input).value = "Refunded"
        await pilot.press("tab", "a")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the menu")
        await pilot.press(*"status", "enter")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen) and "Set status to"
                    in str(app.screen.query_one(".picker-title").render()), what="statuses")
        await pilot.press(*"resolved", "enter")
        await until(pilot, lambda: len(editor.actions) == 1, what="the first action")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the menu")
        await pilot.press(*"canned", "enter")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen) and "canned reply"
                    in str(app.screen.query_one(".picker-title").render()), what="responses")
        await pilot.press("enter")
        await until(pilot, lambda: len(editor.actions) == 2, what="the second action")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen.query_one(ScenariosTable).row_count == 1, "the row")
        saved = await store.read(scenarios.scenarios)
        assert [(s.name, list(s.actions)) for s in saved] == [
            ("Refunded", [{"set": "status", "value": "resolved"}, {"canned": refund_id}])]
