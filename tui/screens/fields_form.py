"""Every editable field of a ticket in one form (``e``), saved as one ``set_ticket``.

Why one form: an agent closing a case fills in the order number, the reason and
the status together, and the relay judges them together (resolving needs the
required fields, which may be filled in in the same save). Only what the agent
changed is sent, so a dropdown value that is no longer a choice stays as it is
unless the agent picks another. The relay's refusal names a field's key; it is
shown beside that field and the form stays open, as typed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static, TextArea

from core.fields import FieldDef, FieldProblem, checked_value
from tui.client import CommandError

STATUSES = [("Open", "open"), ("Pending", "pending"), ("Resolved", "resolved"),
            ("Closed", "closed")]
PRIORITIES = [("Low", "low"), ("Medium", "medium"), ("High", "high"), ("Urgent", "urgent")]
#: Sends the changes (``set_ticket`` args without the id); raises CommandError if refused.
Save = Callable[[dict[str, Any]], Awaitable[Any]]


def tags_of(text: str) -> list[str]:
    return sorted({tag.strip() for tag in text.split(",") if tag.strip()})


class FieldsForm(ModalScreen[bool]):
    """The open ticket's fields; dismissed with True once the relay took the changes."""

    CSS_PATH = "fields_form.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("ctrl+s", "save", "Save", show=False),
    ]

    def __init__(self, ticket: dict[str, Any], fields: Sequence[FieldDef],
                 groups: Sequence[tuple[str, int]], agents: Sequence[tuple[str, int]],
                 save: Save) -> None:
        super().__init__()
        self.ticket = ticket
        self.fields = [field for field in fields if not field.retired]
        self.groups, self.agents = list(groups), list(agents)
        self.save = save
        self.values: dict[str, Any] = dict(ticket.get("custom_fields") or {})

    # --- layout -------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        ticket = self.ticket
        with Vertical(id="fields-dialog"):
            yield Label(f"Fields of #{ticket['id']}", id="fields-title")
            with VerticalScroll(id="fields-rows"):
                yield from self._row("subject", "Subject", Input(
                    str(ticket.get("subject") or ""), id="f-subject", compact=True))
                yield from self._row("type", "Type",
                                     Input(str(ticket.get("type") or ""), id="f-type", compact=True,
                                           placeholder="e.g. Question, Problem, Refund"))
                yield from self._row("status", "Status", Select(
                    STATUSES, value=ticket.get("status", "open"), allow_blank=False,
                    id="f-status", compact=True))
                yield from self._row("priority", "Priority", Select(
                    PRIORITIES, value=ticket.get("priority", "low"), allow_blank=False,
                    id="f-priority", compact=True))
                yield from self._row("group_id", "Group", Select(
                    self.groups, value=self._known(ticket.get("group_id"), self.groups),
                    prompt="No group", id="f-group_id", compact=True))
                yield from self._row("agent_id", "Agent", Select(
                    self.agents, value=self._known(ticket.get("agent_id"), self.agents),
                    prompt="Unassigned", id="f-agent_id", compact=True))
                yield from self._row("tags", "Tags", Input(
                    ", ".join(ticket.get("tags") or ()), id="f-tags",
                    placeholder="comma, separated", compact=True))
                for field in self.fields:
                    label = field.label + (" *" if field.required_to_resolve else "")
                    yield from self._row(field.key, label, self._input_for(field))
            yield Static("* needed to resolve", id="fields-hint")
            yield Static("", id="fields-error", classes="field-error")
            with Horizontal(id="fields-buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="fields-save")
                yield Button("Cancel (esc)", id="fields-cancel")

    @staticmethod
    def _known(value: Any, options: Sequence[tuple[str, Any]]) -> Any:
        return value if any(option == value for _, option in options) else Select.NULL

    def _row(self, key: str, label: str, widget: Widget) -> ComposeResult:
        with Vertical(classes="field-row", id=f"row-{key}"):
            yield Label(label, classes="field-label")
            yield widget
            yield Static("", classes="field-error", id=f"error-{key}")

    def _input_for(self, field: FieldDef) -> Widget:
        value = self.values.get(field.key)
        widget_id = f"f-{field.key}"
        if field.kind == "paragraph":
            return TextArea(str(value or ""), id=widget_id, classes="field-paragraph", compact=True)
        if field.kind == "checkbox":
            return Checkbox("yes", bool(value), id=widget_id, compact=True)
        if field.kind == "dropdown":
            options = [(choice, choice) for choice in field.choices]
            if value is not None and value not in field.choices:
                options.insert(0, (f"{value} (no longer a choice)", value))
            return Select(options, value=value if value is not None else Select.NULL,
                          prompt="—", id=widget_id, compact=True)
        placeholder = {"number": "a whole number", "decimal": "e.g. 12.50",
                       "date": "YYYY-MM-DD"}.get(field.kind, "")
        return Input("" if value is None else str(value), id=widget_id, placeholder=placeholder,
                     compact=True)

    def on_mount(self) -> None:
        self.query_one("#f-subject", Input).focus()
        for field in self.fields:
            value = self.values.get(field.key)
            if field.kind == "dropdown" and value is not None and value not in field.choices:
                self._say(field.key, f"“{value}” is no longer a choice of {field.label}; "
                                     "it stays unless you pick another.", warning=True)

    # --- reading the form ---------------------------------------------------------

    def _read(self, key: str) -> Any:
        widget = self.query_one(f"#f-{key}")
        if isinstance(widget, Input):
            return widget.value
        if isinstance(widget, TextArea):
            return widget.text
        if isinstance(widget, Checkbox):
            return widget.value
        if isinstance(widget, Select):
            return None if widget.is_blank() else widget.value
        raise TypeError(key)

    def changes(self) -> dict[str, Any]:
        """What differs from the ticket, as ``set_ticket`` args; FieldProblem if a custom value
        cannot be (checked here too, so the agent hears before a round trip)."""
        ticket, changes = self.ticket, {}
        for key in ("subject", "type", "status", "priority", "group_id", "agent_id"):
            value = self._read(key)
            if key in ("subject", "type"):
                value = value.strip()
            if value != (ticket.get(key) if ticket.get(key) is not None else
                         ("" if key in ("subject", "type") else None)):
                changes[key] = value
        if tags_of(self._read("tags")) != sorted(ticket.get("tags") or ()):
            changes["tags"] = tags_of(self._read("tags"))
        custom: dict[str, Any] = {}
        for field in self.fields:
            raw, current = self._read(field.key), self.values.get(field.key)
            if raw == current or (current is None and raw in ("", None, False)):
                continue  # untouched: kept as it is, even a choice no longer offered
            stored = checked_value(field, raw)
            if stored != current:
                custom[field.key] = raw if stored is not None else None
        if custom:
            changes["custom_fields"] = custom
        return changes

    # --- saving -------------------------------------------------------------------

    def _say(self, key: str | None, message: str, *, warning: bool = False) -> None:
        target = f"#error-{key}" if key and self.query(f"#error-{key}") else "#fields-error"
        shown = self.query_one(target, Static)
        shown.update(message)
        shown.set_class(warning, "field-warning")
        shown.add_class("shown")
        if target != "#fields-error" and not warning:
            self.query_one(f"#row-{key}").scroll_visible()
            self.query_one(f"#f-{key}").focus()  # where the agent fixes it

    def _clear_errors(self) -> None:
        """Before a save: the last refusals go; warnings about kept values stay."""
        for shown in self.query(".field-error").results(Static):
            if not shown.has_class("field-warning"):
                shown.update("")
                shown.remove_class("shown")

    @on(Button.Pressed, "#fields-save")
    def action_save(self) -> None:
        self._clear_errors()
        try:
            changes = self.changes()
        except FieldProblem as problem:
            self._say(problem.key, str(problem))
            return
        if not changes:
            self.dismiss(False)
            return
        self._send(changes)

    def _send(self, changes: dict[str, Any]) -> None:
        async def send() -> None:
            try:
                await self.save(changes)
            except CommandError as error:
                self._say(error.field, str(error))
                return
            self.dismiss(True)
        self.run_worker(send(), exclusive=True, group="save")

    @on(Button.Pressed, "#fields-cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
