"""The Hours · SLA tab (0): business hours per number and per group (issue 13), and the
SLA targets per priority that count those hours (issue 14, tui/screens/admin/sla_targets.py).

The bot tells a customer who texts outside them when a person will answer; the
number's hours apply to its tickets, else the ticket group's, else none (24×7).
The list shows each with its week in one line and whether it is open right now;
enter edits: a time zone (checked as it is typed), one line per weekday
("09:00-17:30", "09:00-12:30, 13:30-17:30" or "closed") and the holidays, one a
line ("2026-12-25 Christmas Day"). The form checks with the same core code the
relay runs (core.business_hours), so most refusals show under their field
before anything is sent; the relay's own refusal is placed the same way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, ClassVar

from phonenumbers import NumberParseException, parse
from phonenumbers.timezone import time_zones_for_number
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, DataTable, Input, Label, Static, TextArea

from core.business_hours import (
    WEEKDAYS,
    Calendar,
    HoursInvalid,
    calendar_from_dict,
    calendar_to_dict,
    hours_now,
    opening_in_words,
    week_in_words,
    zone_named,
)
from tui.client import CommandError
from tui.screens.admin import AdminPane, keep_cursor, table_row_key
from tui.screens.admin.sla_targets import SlaEditor, SlaTable
from tui.widgets import render

SCOPES = {"number": "Number", "group": "Group"}
OFFICE_HOURS = "09:00-17:30"  # what a new calendar starts from, Monday to Friday
FIELDS = ("time_zone", *WEEKDAYS, "holidays")

Save = Callable[["dict[str, Any] | None"], Awaitable["dict[str, Any]"]]


def row_key(row: dict[str, Any]) -> str:
    return f"{row['scope']}:{row['scope_id']}"


class Unreadable(ValueError):
    """A calendar the relay stored that this inbox cannot read (an older inbox, a newer relay)."""


def calendar_of(row: dict[str, Any]) -> Calendar | None:
    """The row's calendar, or None (24×7); Unreadable when this inbox cannot read it."""
    stored = row.get("calendar")
    if not stored:
        return None
    try:
        return calendar_from_dict(stored)
    except ValueError as refused:
        raise Unreadable(str(refused)) from None


def open_now(calendar: Calendar | None, at_ms: int) -> str:
    """ "open", "closed · opens Monday at 9:00", "closed · never opens"."""
    hours = hours_now(calendar, at_ms)
    if hours.open:
        return "open"
    if hours.next_opening is None:
        return "closed · never opens"
    return f"closed · opens {opening_in_words(hours.next_opening, at_ms)}"


def guessed_zone(row: dict[str, Any]) -> str:
    """A number's time zone when its numbering area has just one (+44: Europe/London; Jersey's
    and Guernsey's are links to it), else "" (a US toll-free number could be anywhere).
    Reads tzdata's link table once: call it from a thread."""
    if row.get("scope") != "number":
        return ""
    links = _zone_links()
    named = str(row.get("name") or "").split()  # "+447400900123 Acme UK"
    for text in (row.get("e164"), named[0] if named else None):
        try:
            zones = {links.get(zone, zone) for zone in time_zones_for_number(parse(str(text)))}
        except NumberParseException:
            continue
        if len(zones) == 1 and "Etc/Unknown" not in zones:
            return zones.pop()
    return ""


@functools.cache
def _zone_links() -> dict[str, str]:
    """tzdata's links, "Europe/Jersey" -> "Europe/London" ("L target link" lines of tzdata.zi)."""
    try:
        text = resources.files("tzdata.zoneinfo").joinpath("tzdata.zi").read_text("utf-8")
    except (ModuleNotFoundError, OSError):
        return {}
    return {parts[2]: parts[1] for parts in map(str.split, text.splitlines())
            if len(parts) == 3 and parts[0] == "L"}


def zone_hint(name: str, at_ms: int) -> Text:
    """Under the time zone as it is typed: the local time there now, or why it is no zone."""
    name = name.strip()
    if not name:
        return Text("an IANA name such as Europe/London or America/New_York", style="dim")
    try:
        zone = zone_named(name)
    except ValueError as unknown:
        return Text(f"✗ {unknown}", style="bold red")
    there = dt.datetime.fromtimestamp(at_ms / 1000, zone)
    return Text(f"✓ {there:%H:%M} there now ({there:%Z}, UTC{there:%z})", style="green")


def problems_by_field(message: str) -> dict[str, list[str]]:
    """A refusal's "field: words" lines by field ("" for lines that name none)."""
    fields: dict[str, list[str]] = {}
    for line in message.splitlines():
        name, sep, words = line.partition(": ")
        if sep and name in FIELDS:
            fields.setdefault(name, []).append(words)
        elif line.strip():
            fields.setdefault("", []).append(line.strip())
    return fields


class HoursEditor(ModalScreen["dict[str, Any] | None"]):
    """One number's or group's hours; ctrl+s saves (through `save`), esc cancels."""

    CSS_PATH: ClassVar[list[str]] = ["../pickers.tcss", "hours.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="admin.hours_save"),
        Binding("escape", "cancel", "Cancel", show=False, id="admin.hours_cancel"),
    ]

    def __init__(self, row: dict[str, Any], save: Save, *, zone_guess: str = "") -> None:
        super().__init__()
        self.row = row
        self.save_calendar = save
        self.zone_guess = zone_guess  # a new calendar's time zone

    def compose(self) -> ComposeResult:
        stored: dict[str, Any] = dict(self.row.get("calendar") or {})
        new = not stored
        with VerticalScroll(classes="picker-dialog", id="hours-editor"):
            yield Label(f"Hours · {SCOPES.get(self.row['scope'], '')} {self.row.get('name', '')}",
                        classes="picker-title", markup=False)
            yield Checkbox("24×7 (no hours): the bot never says it is closed",
                           value=new, id="hours-always")
            with Horizontal(classes="hours-row"):
                yield Label("Time zone", classes="hours-label")
                yield Input(stored.get("time_zone") or self.zone_guess,
                            placeholder="e.g. Europe/London", id="hours-time_zone")
            yield Static("", id="hours-zone-hint", classes="hours-hint")
            yield Static("", id="hours-error-time_zone", classes="hours-error")
            for day in WEEKDAYS:
                typed = stored.get(day) or (OFFICE_HOURS if new and day in WEEKDAYS[:5]
                                            else "closed")
                with Horizontal(classes="hours-row"):
                    yield Label(day.capitalize(), classes="hours-label")
                    yield Input(typed, placeholder="09:00-17:30 or closed", id=f"hours-{day}")
                yield Static("", id=f"hours-error-{day}", classes="hours-error")
            yield Label("Holidays, one a line: 2026-12-25 Christmas Day", classes="hours-heading")
            yield TextArea("\n".join(
                f"{holiday['date']} {holiday.get('name') or ''}".rstrip()
                for holiday in stored.get("holidays") or ()), id="hours-holidays")
            yield Static("", id="hours-error-holidays", classes="hours-error")
            yield Static("", id="hours-error", classes="hours-error")
            yield Static("ctrl+s saves · esc cancels · times are the zone's wall clock",
                         classes="picker-hint")

    def on_mount(self) -> None:
        self._clear_errors()
        self._zone_typed()
        self._always_toggled()
        self.query_one("#hours-always", Checkbox).focus()

    @on(Input.Changed, "#hours-time_zone")
    def _zone_typed(self) -> None:
        self.query_one("#hours-zone-hint", Static).update(
            zone_hint(self.query_one("#hours-time_zone", Input).value, render.clock()))

    @on(Checkbox.Changed, "#hours-always")
    def _always_toggled(self) -> None:
        """24×7 greys the week out (kept as typed, should the admin untick it again)."""
        always = self.query_one("#hours-always", Checkbox).value
        for field in FIELDS:
            self.query_one(f"#hours-{field}").disabled = always

    def typed(self) -> dict[str, Any]:
        """The form as calendar_from_dict reads it."""
        table: dict[str, Any] = {field: self.query_one(f"#hours-{field}", Input).value
                                 for field in FIELDS[:-1]}
        table["holidays"] = self.query_one("#hours-holidays", TextArea).text
        return table

    def action_save(self) -> None:
        self.save()

    @work(exclusive=True, group="hours-save")
    async def save(self) -> None:
        self._clear_errors()
        calendar: dict[str, Any] | None = None
        if not self.query_one("#hours-always", Checkbox).value:
            try:
                calendar = calendar_to_dict(calendar_from_dict(self.typed()))
            except HoursInvalid as refused:
                self._show(problems_by_field(str(refused)))
                return
        try:
            saved = await self.save_calendar(calendar)
        except CommandError as error:
            found = problems_by_field(error.message or error.code)
            if error.field in FIELDS and "" in found:
                found.setdefault(str(error.field), []).extend(found.pop(""))
            self._show(found)
            return
        self.dismiss(saved)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _clear_errors(self) -> None:
        for error in self.query(".hours-error").results(Static):
            error.update("")
            error.display = False

    def _show(self, problems: dict[str, list[str]]) -> None:
        """Each refusal under its field; the first field in trouble gets the keyboard."""
        for field, words in problems.items():
            target = self.query_one(f"#hours-error-{field}" if field else "#hours-error", Static)
            target.update(Text("\n".join(f"✗ {line}" for line in words)))
            target.display = True
        first = next((field for field in FIELDS if field in problems), None)
        if first is not None:
            self.query_one(f"#hours-{first}").focus()
        self.app.bell()


class HoursTable(DataTable[str]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,e", "edit", "Edit hours", id="admin.edit_hours"),
    ]

    def action_edit(self) -> None:
        self.query_ancestor(HoursPane).edit_current()


class HoursPane(AdminPane):
    """``get_business_hours`` as a list; enter edits one in a HoursEditor. Below it,
    ``get_sla_targets``: enter edits a priority's targets in an SlaEditor."""

    def __init__(self, client: Any, *, id: str | None = None) -> None:
        super().__init__(client, id=id)
        self.rows: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        yield Static("A number's hours apply to its tickets, else the ticket group's, else none"
                     " (24×7). Outside them the bot answers with the next opening.",
                     classes="admin-note")
        table = HoursTable(cursor_type="row", zebra_stripes=True, id="hours-table")
        table.add_columns("", "Name", "Hours", "Now")
        yield table
        yield Static("SLA targets per priority, in those business hours (24×7 without them):"
                     " first response (the first agent reply) and resolution. Enter edits.",
                     classes="admin-note", id="sla-note")
        targets = SlaTable(id="sla-table")
        targets.on_edit = self.edit_targets
        yield targets

    async def reload(self) -> None:
        answer = await self.call("load the business hours", "get_business_hours")
        targets = await self.call("load the SLA targets", "get_sla_targets")
        if targets is not None:
            self.query_one(SlaTable).show(list(targets.get("targets") or ()))
        if answer is None:
            return
        self.loaded = True
        table = self.query_one(HoursTable)
        current = table_row_key(table)
        table.clear()
        self.rows = {}
        now = render.clock()
        for row in answer.get("hours") or ():
            key = row_key(row)
            self.rows[key] = row
            try:
                calendar = calendar_of(row)
            except Unreadable:
                week, state = "(not readable here: update the inbox)", ""
            else:
                week, state = week_in_words(calendar), open_now(calendar, now)
            table.add_row(SCOPES.get(row["scope"], row["scope"]), str(row.get("name") or ""),
                          week, state, key=key)
        keep_cursor(table, current)

    def edit_current(self) -> None:
        key = table_row_key(self.query_one(HoursTable))
        if key is not None:
            self.edit(self.rows[key])

    @work(exclusive=True, group="hours")
    async def edit(self, row: dict[str, Any]) -> None:
        async def save(calendar: dict[str, Any] | None) -> dict[str, Any]:
            saved: dict[str, Any] = await self.client.command(
                "save_business_hours", scope=row["scope"], scope_id=row["scope_id"],
                calendar=calendar)
            return saved

        guess = "" if row.get("calendar") else await asyncio.to_thread(guessed_zone, row)
        if await self.ask(HoursEditor(row, save, zone_guess=guess)) is not None:
            self.notify(f"Hours saved for {row.get('name') or row_key(row)}.", timeout=3)
            await self.reload()

    @work(exclusive=True, group="sla")
    async def edit_targets(self, row: dict[str, Any]) -> None:
        async def save(typed: dict[str, Any]) -> list[dict[str, Any]]:
            saved = await self.client.command("save_sla_targets", targets=[typed])
            return list(saved.get("targets") or ())

        saved = await self.ask(SlaEditor(row, save))
        if saved is not None:
            self.query_one(SlaTable).show(saved)
            self.notify(f"SLA targets saved for {row['priority']} priority.", timeout=3)
