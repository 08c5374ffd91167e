"""SLA targets in the admin's Hours · SLA tab (issue 14): one row per priority, a small form.

A target counts the business hours of each ticket's calendar (the tables above it), so
the two live on one tab. The admin types a target as they would say it ("4h", "1d 2h",
"90" minutes; empty: none); under each field, what the relay will read it as, by the
same core code, and after ctrl+s the relay's own refusal, if any. The relay is the judge:
the form sends what was typed and shows what was stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Static

from core.durations import BadDuration
from core.sla import target_from_text
from tui.client import CommandError

TARGETS = ("first_response", "resolution")
TARGET_LABELS = {"first_response": "First response", "resolution": "Resolution"}
NO_TARGET = "none"

SaveTargets = Callable[[dict[str, Any]], Awaitable[list[dict[str, Any]]]]


def target_cell(row: dict[str, Any], which: str) -> str:
    """A target as the table shows it: as typed ("1d 2h"), or "none"."""
    return str(row.get(f"{which}_text") or "") or NO_TARGET


def reading_of(typed: str) -> Text:
    """Under a field as it is typed: what the relay will store, or why it is no duration."""
    try:
        target = target_from_text(typed)
    except BadDuration as refused:
        return Text(f"✗ {refused}", style="bold red")
    if target is None:
        return Text("no target: this clock does not run", style="dim")
    minutes = target // 60_000
    if minutes < 60:
        words = f"{minutes} business minutes"
    elif minutes % 60:
        words = f"{minutes // 60}h {minutes % 60}m of business hours"
    else:
        words = f"{minutes // 60} business hours"
    return Text(f"✓ {words}", style="green")


def field_of(error: CommandError) -> str:
    """Which field a refusal is about: "high.resolution" -> "resolution"; "" for none."""
    field = str(error.field or "").rpartition(".")[2]
    return field if field in TARGETS else ""


class SlaEditor(ModalScreen["list[dict[str, Any]] | None"]):
    """One priority's two targets; ctrl+s saves (through ``save``), esc cancels."""

    CSS_PATH: ClassVar[list[str]] = ["../pickers.tcss", "hours.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="admin.sla_save"),
        Binding("escape", "cancel", "Cancel", show=False, id="admin.sla_cancel"),
    ]

    def __init__(self, row: dict[str, Any], save: SaveTargets) -> None:
        super().__init__()
        self.row = row
        self.save_targets = save

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="picker-dialog", id="sla-editor"):
            yield Label(f"SLA targets · {str(self.row['priority']).capitalize()} priority",
                        classes="picker-title", markup=False)
            for which in TARGETS:
                with Horizontal(classes="sla-row"):
                    yield Label(TARGET_LABELS[which], classes="sla-label")
                    yield Input(str(self.row.get(f"{which}_text") or ""),
                                placeholder="e.g. 4h, 1d 2h, 90 (minutes); empty: none",
                                id=f"sla-{which}")
                yield Static("", id=f"sla-reading-{which}", classes="sla-hint")
                yield Static("", id=f"sla-error-{which}", classes="sla-error")
            yield Static("", id="sla-error", classes="sla-error")
            yield Static("Business hours of each ticket's calendar (24×7 without one); a day"
                         " is 24 business hours.\nctrl+s saves · esc cancels",
                         classes="picker-hint")

    def on_mount(self) -> None:
        self._clear_errors()
        for which in TARGETS:
            self._show_reading(which)
        self.query_one(f"#sla-{TARGETS[0]}", Input).focus()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        which = (event.input.id or "").removeprefix("sla-")
        if which in TARGETS:
            error = self.query_one(f"#sla-error-{which}", Static)
            error.update("")
            error.display = False  # the reading below says how the new text reads
            self._show_reading(which)

    def _show_reading(self, which: str) -> None:
        self.query_one(f"#sla-reading-{which}", Static).update(
            reading_of(self.query_one(f"#sla-{which}", Input).value))

    def typed(self) -> dict[str, Any]:
        """The form as ``save_sla_targets`` takes one priority's row."""
        return {"priority": self.row["priority"],
                **{which: self.query_one(f"#sla-{which}", Input).value for which in TARGETS}}

    def action_save(self) -> None:
        self.save()

    @work(exclusive=True, group="sla-save")
    async def save(self) -> None:
        self._clear_errors()
        try:
            saved = await self.save_targets(self.typed())
        except CommandError as error:
            field = field_of(error)
            target = self.query_one(f"#sla-error-{field}" if field else "#sla-error", Static)
            target.update(Text(f"✗ {error.message or error.code}"))
            target.display = True
            if field:  # the refusal replaces the field's reading: one line, not the same twice
                self.query_one(f"#sla-reading-{field}", Static).update("")
                self.query_one(f"#sla-{field}", Input).focus()
            self.app.bell()
            return
        self.dismiss(saved)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _clear_errors(self) -> None:
        for error in self.query(".sla-error").results(Static):
            error.update("")
            error.display = False


class SlaTable(DataTable[str]):
    """The four priorities with their targets; enter edits the highlighted one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,e", "edit", "Edit targets", id="admin.edit_sla"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.rows_by_priority: dict[str, dict[str, Any]] = {}
        self.on_edit: Callable[[dict[str, Any]], None] = lambda row: None
        self.add_columns("Priority", "First response", "Resolution")

    def show(self, targets: list[dict[str, Any]]) -> None:
        """The relay's rows, ``low`` first, the cursor kept on its priority."""
        current = self.current()
        self.clear()
        self.rows_by_priority = {str(row["priority"]): row for row in targets}
        for row in targets:
            priority = str(row["priority"])
            self.add_row(priority.capitalize(), target_cell(row, "first_response"),
                         target_cell(row, "resolution"), key=priority)
        if current is not None and current["priority"] in self.rows_by_priority:
            self.move_cursor(row=self.get_row_index(current["priority"]))

    def current(self) -> dict[str, Any] | None:
        if self.row_count == 0:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.rows_by_priority.get(str(key))

    def action_edit(self) -> None:
        row = self.current()
        if row is not None:
            self.on_edit(row)
