"""The admin screens: connect Twilio accounts, set up numbers, troubleshoot, manage people.

Only admins reach them (the inbox hides its ``A`` key from agents, and the relay
refuses every admin command from an agent's token anyway). Each tab is a small
widget over one or two relay lists; it reloads after each change it makes, so
what the admin sees is what the relay stored, never a guess.

This module holds what the tabs share: ``AdminPane``, which turns relay
errors into words on screen instead of tracebacks, and the few labels that
several tabs print the same way. The screen itself is ``tui.screens.admin.admin``.
"""

from __future__ import annotations

from typing import Any

from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from tui.client import CommandError, RelayClient

SENDER_TYPES = [("Long code", "long_code"), ("Toll-free", "toll_free"),
                ("Short code", "short_code"), ("Alphanumeric sender ID", "alphanumeric")]
ROLES = [("Agent", "agent"), ("Admin", "admin")]


def yes_no(value: Any) -> str:
    return "yes" if value else "no"


def capability(mms: Any) -> str:
    """How the seed names the two kinds of number an admin connects."""
    return "MMS-enabled" if mms else "SMS-only"


def sender_label(sender_type: str) -> str:
    return dict((value, label) for label, value in SENDER_TYPES).get(sender_type, sender_type)


async def relay_command(client: RelayClient, command: str, args: dict[str, Any]) -> Any:
    """``client.command(command, **args)``; args may hold a ``name`` (accounts, agents, groups)."""
    return await client.command(command, **args)


class AccountsChanged(Message):
    """An account was connected or disconnected: the numbers tab has other rows now."""


class AdminPane(Vertical):
    """One tab of the admin screen: runs relay commands and says in words when one fails.

    Subclasses implement ``reload`` (fetch and show their lists); the admin
    screen calls it when the tab is shown and after every change.
    """

    def __init__(self, client: RelayClient, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.client = client
        self.loaded = False

    async def call(self, what: str, command: str, /, **args: Any) -> Any | None:
        """The command's result, or None after telling the admin what failed and why."""
        try:
            return await relay_command(self.client, command, args)
        except CommandError as error:
            self.notify(error.message or error.code, title=f"Could not {what}",
                        severity="error", timeout=10)
            return None

    async def ask(self, screen: Any) -> Any:
        """Push a dialog and wait for its answer (only from a worker)."""
        return await self.app.push_screen_wait(screen)

    async def reload(self) -> None:
        raise NotImplementedError

    def focus_first(self) -> None:
        """Put the keyboard in this tab's first list, so its keys work at once."""
        tables = self.query(DataTable)
        if tables:
            tables.first().focus()


def table_row_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor, or None in an empty table."""
    if table.row_count == 0:
        return None
    row = max(0, min(table.cursor_row, table.row_count - 1))
    return table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value


def keep_cursor(table: DataTable[Any], key: str | None) -> None:
    """After a refill, put the cursor back on the row it was on, if that row is still there."""
    if key is None:
        return
    try:
        index = table.get_row_index(key)
    except RowDoesNotExist:  # the row went away; the cursor stays where it is
        return
    table.move_cursor(row=index)
