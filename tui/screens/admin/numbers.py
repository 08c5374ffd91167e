"""The Numbers tab: each connected number's settings, as the seed's "Manage Twilio numbers" lists.

Settings that decide where texts go or whether replies leave (default group,
sender type, A2P 10DLC registration, enabled) are set here; the relay's send
preflight reads them, so a wrong sender type shows up as refused replies, which
is why each is one key away. Booleans toggle at once (and say so), choices open
a picker with the value in effect marked. The CSAT survey (its texts, window, bulk
rule) and the segment price have a form of their own: ``enter`` or ``u``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from tui.screens.admin import (
    SENDER_TYPES,
    AdminPane,
    capability,
    keep_cursor,
    sender_label,
    table_row_key,
    yes_no,
)
from tui.screens.admin.number_csat import CsatForm
from tui.screens.pickers import ChoiceScreen, TextPromptScreen

NO_GROUP = "none"  # the pickers answer None on escape, so "no group" needs a value of its own
TOGGLES = {
    "a2p_registered": ("A2P 10DLC registered", "registered", "not registered"),
    "csat": ("CSAT survey", "on", "off"),
    "enabled": ("Number", "enabled", "disabled"),
}


class NumbersPane(AdminPane):
    """``list_numbers`` in a table; one key per setting, ``w`` to repoint the webhooks."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("g", "group", "Default group", id="admin.number_group"),
        Binding("s", "sender_type", "Sender type", id="admin.sender_type"),
        Binding("a", "toggle('a2p_registered')", "A2P 10DLC", id="admin.toggle_a2p"),
        Binding("c", "toggle('csat')", "CSAT", id="admin.toggle_csat"),
        Binding("u", "survey", "Survey…", id="admin.number_survey"),
        Binding("e", "toggle('enabled')", "Enable/disable", id="admin.toggle_enabled"),
        Binding("n", "name", "Name", id="admin.number_name"),
        Binding("w", "repoint", "Repoint webhooks", id="admin.repoint"),
    ]

    def __init__(self, client: Any, *, id: str | None = None) -> None:
        super().__init__(client, id=id)
        self.numbers: dict[str, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True,
                                          id="numbers-table")
        table.add_columns("Number", "Name", "Account", "Kind", "Status", "Sender type",
                          "A2P 10DLC", "Default group", "CSAT", "Enabled")
        yield table
        yield Static("", id="numbers-empty", classes="admin-note")

    @property
    def table(self) -> DataTable[str]:
        return self.query_one("#numbers-table", DataTable)

    def group_name(self, group_id: int | None) -> str:
        if group_id is None:
            return "—"
        group = self.groups.get(group_id)
        return str(group["name"]) if group else f"group {group_id}"

    async def reload(self) -> None:
        numbers = await self.call("load the numbers", "list_numbers")
        groups = await self.call("load the groups", "list_groups")
        if numbers is None or groups is None:
            return
        self.loaded = True
        self.groups = {group["id"]: group for group in groups}
        table = self.table
        current = table_row_key(table)
        table.clear()
        self.numbers = {}
        for number in numbers:
            key = str(number["id"])
            self.numbers[key] = number
            account = number.get("account") or {}
            account_name = str(account.get("name") or f"account {number.get('account_id')}")
            if account and not account.get("connected", True):
                account_name += " (disconnected)"
            table.add_row(number.get("e164", ""), number.get("friendly_name", ""), account_name,
                          capability(number.get("mms")), number.get("status", ""),
                          sender_label(str(number.get("sender_type", ""))),
                          yes_no(number.get("a2p_registered")),
                          self.group_name(number.get("default_group_id")),
                          yes_no(number.get("csat")), yes_no(number.get("enabled")), key=key)
        keep_cursor(table, current)
        self.query_one("#numbers-empty", Static).update(
            "" if numbers else "No number connected: connect an account (tab 1, key c) and"
            " select its numbers.")

    def current(self) -> dict[str, Any] | None:
        key = table_row_key(self.table)
        found = self.numbers.get(key) if key is not None else None
        if found is None:
            self.notify("No number here.", severity="warning")
        return found

    async def _update(self, number: dict[str, Any], what: str, **changes: Any) -> bool:
        done = await self.call(what, "update_number", number_id=number["id"], **changes)
        if done is not None:
            await self.reload()
        return done is not None

    @work(exclusive=True, group="numbers")
    async def action_group(self) -> None:
        number = self.current()
        if number is None:
            return
        options: list[tuple[str, Any]] = [("No default group (unassigned)", NO_GROUP)]
        options += [(str(g["name"]), g["id"]) for g in self.groups.values()]
        current = number.get("default_group_id")
        picked = await self.ask(ChoiceScreen(f"New tickets on {number['e164']} go to", options,
                                             NO_GROUP if current is None else current))
        if picked is None:
            return
        group_id = None if picked == NO_GROUP else picked
        if group_id != current:
            await self._update(number, "set the default group", default_group_id=group_id)

    @work(exclusive=True, group="numbers")
    async def action_sender_type(self) -> None:
        number = self.current()
        if number is None:
            return
        picked = await self.ask(ChoiceScreen(f"Sender type of {number['e164']}", SENDER_TYPES,
                                             number.get("sender_type")))
        if picked is not None and picked != number.get("sender_type"):
            await self._update(number, "set the sender type", sender_type=picked)

    @work(group="numbers")
    async def action_toggle(self, field: str) -> None:
        number = self.current()
        if number is None:
            return
        what, on, off = TOGGLES[field]
        value = not number.get(field)
        if await self._update(number, f"change {what.lower()}", **{field: value}):
            after = ""
            if field == "enabled" and not value:
                after = (" Texts that still reach it are kept, not opened as tickets: see"
                         " Troubleshooting (3).")
            self.notify(f"{number['e164']}: {what} {on if value else off}.{after}",
                        timeout=6 if after else 3)

    @on(DataTable.RowSelected, "#numbers-table")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_survey()

    @work(exclusive=True, group="numbers")
    async def action_survey(self) -> None:
        """The number's CSAT survey and segment price, in one form."""
        number = self.current()
        if number is None:
            return

        async def save(changes: dict[str, Any]) -> Any:
            return await self.client.command("update_number", number_id=number["id"],
                                             **changes)

        if await self.ask(CsatForm(number, save)):
            self.notify(f"{number['e164']}: survey settings saved.", timeout=3)
            await self.reload()

    @work(exclusive=True, group="numbers")
    async def action_name(self) -> None:
        number = self.current()
        if number is None:
            return
        name = await self.ask(TextPromptScreen(f"Name of {number['e164']}", "shown to agents",
                                               number.get("friendly_name", "")))
        if name is not None:
            await self._update(number, "rename the number", friendly_name=name.strip())

    @work(exclusive=True, group="numbers")
    async def action_repoint(self) -> None:
        number = self.current()
        if number is None:
            return
        done = await self.call(f"repoint {number['e164']}", "repoint_number",
                               number_id=number["id"])
        if done is not None:
            self.notify(f"{number['e164']} now sends texts to {done.get('sms_url')} and delivery"
                        f" reports to {done.get('status_callback')}.", title="Webhooks repointed",
                        timeout=6)
            await self.reload()
