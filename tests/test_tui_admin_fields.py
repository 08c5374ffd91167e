"""The admin screen's Fields tab (5) against a real relay, and its snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import LiveDesk, live_desk, until
from test_tui_admin import (
    AdminApp,
    answer_prompt,
    open_admin,
    settle,
    table_cells,
    toasts,
)
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable

from core.fields import definitions
from tui.app import InboxApp
from tui.screens.pickers import ChoiceScreen, ConfirmScreen

SIZE = (150, 44)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


async def add_field(pilot: Pilot[Any], app: App[Any], label: str, choices: str | None, *,
                    required: bool) -> None:
    """n, the label, its kind (a dropdown when ``choices`` are given), whether required."""
    await pilot.press("n")
    await answer_prompt(pilot, app, label)
    await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the kinds")
    await pilot.press(*("Dropdown" if choices else ""), "enter")  # else the first: Text
    if choices:
        await answer_prompt(pilot, app, choices)
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="required?")
    await pilot.press("y" if required else "n")


async def test_an_admin_adds_a_dropdown_orders_it_and_retires_it(desk: LiveDesk) -> None:
    store = desk.relay.store
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, app)
        await pilot.press("5")
        table = screen.query_one("#fields-table", DataTable)
        await until(pilot, lambda: screen.pane("fields").loaded, what="the fields tab")
        assert table.row_count == 0
        await add_field(pilot, app, "Order number", None, required=True)
        await until(pilot, lambda: table.row_count == 1, what="Order number listed")
        await add_field(pilot, app, "Reason", "Refund, Lost parcel,, Refund", required=False)
        await until(pilot, lambda: "'Refund' is listed twice" in toasts(app),
                    what="the relay's refusal")
        await add_field(pilot, app, "Reason", "Refund, Lost parcel", required=False)
        await until(pilot, lambda: table.row_count == 2, what="Reason listed")
        assert table_cells(table)[1][:4] == ["Reason", "Dropdown", "Refund, Lost parcel", "no"]

        table.move_cursor(row=1)
        await pilot.press("K")  # up: Reason first
        await until(pilot, lambda: table_cells(table)[0][0] == "Reason", what="moved up")
        table.move_cursor(row=0)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="retire?")
        await pilot.press("y")
        await until(pilot, lambda: table_cells(table)[0][4] == "retired", what="retired")
    fields = await store.read(definitions)
    assert [(f.label, f.kind, f.choices, f.required_to_resolve, f.retired) for f in fields] == [
        ("Reason", "dropdown", ("Refund", "Lost parcel"), False, True),
        ("Order number", "text", (), True, False)]


FIELDS = [
    {"id": 1, "key": "order_number", "label": "Order number", "kind": "text", "choices": [],
     "required_to_resolve": True, "position": 1, "retired_at": None},
    {"id": 2, "key": "reason", "label": "Reason", "kind": "dropdown",
     "choices": ["Refund", "Exchange", "Lost parcel"], "required_to_resolve": True,
     "position": 2, "retired_at": None},
    {"id": 3, "key": "due", "label": "Due", "kind": "date", "choices": [],
     "required_to_resolve": False, "position": 3, "retired_at": 1764560000000},
]


def test_snapshot_fields_tab(snap_compare: Any) -> None:
    assert snap_compare(AdminApp(tab="fields", answers={"list_fields": FIELDS}),
                        terminal_size=(130, 30), run_before=settle("fields"))
