"""The Fields tab: the custom ticket fields agents fill in, in the order the form shows them.

Admins add a field (label, kind, a dropdown's choices, whether resolving needs
it), change its label, choices or requirement, move it up or down, and retire
it. Retiring keeps every ticket's value (the details pane shows them under
"Retired"); the form stops offering the field and resolving stops needing it.
A field's kind never changes: values of another kind would no longer mean
anything, so an admin retires it and adds a new one instead.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Label

from core.fields import KIND_LABELS, KINDS
from tui.screens.admin import AdminPane, keep_cursor, table_row_key, yes_no
from tui.screens.pickers import ChoiceScreen, ConfirmScreen, TextPromptScreen

EDIT_LABEL, EDIT_CHOICES, EDIT_REQUIRED = "label", "choices", "required"


def choices_of(text: str) -> list[str]:
    """Choices typed on one line, separated by commas."""
    return [choice.strip() for choice in text.split(",") if choice.strip()]


def choices_problem(text: str) -> str | None:
    return None if choices_of(text) else "Type at least one choice (separate them with commas)."


def label_problem(text: str) -> str | None:
    return None if text.strip() else "A field needs a label."


class FieldsTable(DataTable[str]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "pane('add_field')", "New field", id="admin.add_field"),
        Binding("e", "pane('edit_field')", "Edit", id="admin.edit_field"),
        Binding("K", "pane('move_up')", "Move up", id="admin.field_up"),
        Binding("J", "pane('move_down')", "Move down", id="admin.field_down"),
        Binding("x", "pane('toggle_retired')", "Retire/restore", id="admin.field_retire"),
    ]

    def action_pane(self, name: str) -> None:
        getattr(self.query_ancestor(FieldsPane), name)()


class FieldsPane(AdminPane):
    """The fields in order; what agents see in the form (e) and the details pane (i)."""

    def __init__(self, client: Any, *, id: str | None = None) -> None:
        super().__init__(client, id=id)
        self.fields: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []

    def compose(self) -> ComposeResult:
        yield Label("Ticket fields, in the order agents see them in the form and the pane",
                    classes="fields-title")
        table = FieldsTable(cursor_type="row", zebra_stripes=True, id="fields-table")
        table.add_columns("Label", "Kind", "Choices", "Needed to resolve", "State")
        yield table
        yield Label("", id="fields-hint", classes="fields-hint")

    @property
    def table(self) -> FieldsTable:
        return self.query_one(FieldsTable)

    async def reload(self) -> None:
        fields = await self.call("load the fields", "list_fields")
        if fields is None:
            return
        self.loaded = True
        self.show(fields)

    def show(self, fields: list[dict[str, Any]]) -> None:
        table = self.table
        current = table_row_key(table)
        table.clear()
        self.fields, self.order = {}, []
        for field in fields:
            key = str(field["id"])
            self.fields[key] = field
            self.order.append(key)
            table.add_row(field["label"], KIND_LABELS.get(field["kind"], field["kind"]),
                          ", ".join(field.get("choices") or ()) or "—",
                          yes_no(field.get("required_to_resolve")),
                          "retired" if field.get("retired_at") else "in use", key=key)
        keep_cursor(table, current)
        self.query_one("#fields-hint", Label).update(
            "n new · e edit · K/J move up/down · x retire or restore (retired: values kept,"
            " no longer asked)" if fields else
            "No ticket fields yet: n adds one (an order number, a reason to choose, a date…)")

    def current(self) -> dict[str, Any] | None:
        key = table_row_key(self.table)
        return self.fields.get(key) if key is not None else None

    async def _changed(self, what: str, command: str, **args: Any) -> None:
        answer = await self.call(what, command, **args)
        if answer is not None:
            await self.reload()

    @work(exclusive=True, group="fields")
    async def add_field(self) -> None:
        label = await self.ask(TextPromptScreen("New field's label", "e.g. Order number",
                                                validate=label_problem))
        if label is None:
            return
        kind = await self.ask(ChoiceScreen(f"Kind of {label.strip()}",
                                           [(KIND_LABELS[k], k) for k in KINDS], "text"))
        if kind is None:
            return
        choices: list[str] = []
        if kind == "dropdown":
            typed = await self.ask(TextPromptScreen(f"Choices of {label.strip()}",
                                                    "Refund, Exchange, Lost parcel",
                                                    validate=choices_problem))
            if typed is None:
                return
            choices = choices_of(typed)
        required = await self.ask(ConfirmScreen(
            f"Must {label.strip()} be filled in before a ticket is resolved?",
            yes="Needed to resolve", no="Optional"))
        await self._changed("add the field", "create_field", label=label.strip(), kind=kind,
                            choices=choices, required_to_resolve=bool(required))
        self.table.move_cursor(row=self.table.row_count - 1)

    @work(exclusive=True, group="fields")
    async def edit_field(self) -> None:
        field = self.current()
        if field is None:
            return
        options = [("Label", EDIT_LABEL)]
        if field["kind"] == "dropdown":
            options.append(("Choices", EDIT_CHOICES))
        needed = field.get("required_to_resolve")
        options.append(("Make it optional" if needed else "Make it needed to resolve",
                        EDIT_REQUIRED))
        what = await self.ask(ChoiceScreen(f"Change {field['label']}", options))
        if what == EDIT_LABEL:
            label = await self.ask(TextPromptScreen("Label", "", field["label"],
                                                    validate=label_problem))
            if label is not None and label.strip() != field["label"]:
                await self._changed("rename the field", "update_field", field_id=field["id"],
                                    label=label.strip())
        elif what == EDIT_CHOICES:
            typed = await self.ask(TextPromptScreen(
                f"Choices of {field['label']} (tickets keep a value no longer listed)",
                "separated by commas", ", ".join(field.get("choices") or ()),
                validate=choices_problem))
            if typed is not None:
                await self._changed("change the choices", "update_field",
                                    field_id=field["id"], choices=choices_of(typed))
        elif what == EDIT_REQUIRED:
            await self._changed("change the field", "update_field", field_id=field["id"],
                                required_to_resolve=not needed)

    def move_up(self) -> None:
        self._move(-1)

    def move_down(self) -> None:
        self._move(1)

    @work(exclusive=True, group="fields")
    async def _move(self, step: int) -> None:
        field = self.current()
        if field is None:
            return
        place = self.order.index(str(field["id"])) + step
        if 0 <= place < len(self.order):
            await self._changed("move the field", "move_field", field_id=field["id"], to=place)

    @work(exclusive=True, group="fields")
    async def toggle_retired(self) -> None:
        field = self.current()
        if field is None:
            return
        retiring = not field.get("retired_at")
        if retiring and not await self.ask(ConfirmScreen(
                f"Retire {field['label']}? Tickets keep their values (shown under Retired);"
                " agents are no longer asked for it.", yes="Retire", no="Keep")):
            return
        await self._changed("retire the field" if retiring else "restore the field",
                            "update_field", field_id=field["id"], retired=retiring)
