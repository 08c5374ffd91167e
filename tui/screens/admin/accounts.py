"""The Accounts tab: the Twilio accounts the relay sends through, and what an admin does to them.

An auth token is typed here (rotation) but never shown: the relay answers with
``auth_token_hint`` only. Disconnecting keeps every ticket and message; it only
stops the account's numbers from sending, so it asks once before doing it.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from core.country_names import is_country_code
from tui.screens.admin import AccountsChanged, AdminPane, keep_cursor, table_row_key, yes_no
from tui.screens.admin.wizard import ConnectWizard
from tui.screens.pickers import ConfirmScreen, TextPromptScreen

COUNTRY_RE = re.compile(r"[A-Z]{2}")


def parse_countries(text: str) -> tuple[list[str], str | None]:
    """Comma (or space) separated ISO 3166 alpha-2 codes; (codes, problem in words)."""
    codes: list[str] = []
    for piece in re.split(r"[,\s]+", text.strip()):
        if not piece:
            continue
        code = piece.upper()
        if not COUNTRY_RE.fullmatch(code):
            return [], f"{piece!r} is not a two-letter country code (US, GB, CA, …)"
        if not is_country_code(code):
            return [], f"{piece!r} is not a country's ISO code (US, GB, CA, …)"
        if code not in codes:
            codes.append(code)
    return codes, None


def token_problem(token: str) -> str | None:
    return None if token.strip() else "Paste the new auth token (Twilio console > Account >" \
        " Keys & Credentials > API keys & tokens)."


class AccountsPane(AdminPane):
    """``list_accounts`` in a table; keys for the changes an admin makes to an account."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "connect", "Connect account", id="admin.connect"),
        Binding("e", "rename", "Rename", id="admin.rename_account"),
        Binding("t", "rotate_token", "Rotate token", id="admin.rotate_token"),
        Binding("g", "geo", "Geo-permissions", id="admin.geo_permissions"),
        Binding("d", "disconnect", "Disconnect", id="admin.disconnect"),
        Binding("o", "reconnect", "Reconnect", id="admin.reconnect"),
    ]

    def __init__(self, client: Any, *, id: str | None = None) -> None:
        super().__init__(client, id=id)
        self.accounts: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True,
                                          id="accounts-table")
        table.add_columns("Name", "Account SID", "Status", "Type", "Connected", "Auth token",
                          "Geo-permissions")
        yield table
        yield Static("", id="accounts-empty", classes="admin-note")

    @property
    def table(self) -> DataTable[str]:
        return self.query_one("#accounts-table", DataTable)

    async def reload(self) -> None:
        accounts = await self.call("load the accounts", "list_accounts")
        if accounts is None:
            return
        self.loaded = True
        table = self.table
        current = table_row_key(table)
        table.clear()
        self.accounts = {}
        for account in accounts:
            key = str(account["id"])
            self.accounts[key] = account
            geo = ", ".join(account.get("geo_permissions") or []) or "not set"
            table.add_row(account.get("name", ""), account.get("sid", ""),
                          account.get("status", ""), account.get("type", ""),
                          yes_no(account.get("connected")), account.get("auth_token_hint", ""),
                          geo, key=key)
        keep_cursor(table, current)
        self.query_one("#accounts-empty", Static).update(
            "" if accounts else "No Twilio account yet: press c to connect one.")

    def current(self) -> dict[str, Any] | None:
        key = table_row_key(self.table)
        found = self.accounts.get(key) if key is not None else None
        if found is None:
            self.notify("No account here; press c to connect one.", severity="warning")
        return found

    @work(exclusive=True, group="accounts")
    async def action_connect(self) -> None:
        result = await self.ask(ConnectWizard(self.client))
        await self.reload()
        if result is not None:
            self.screen.post_message(AccountsChanged())

    @work(exclusive=True, group="accounts")
    async def action_reconnect(self) -> None:
        """The wizard for the highlighted disconnected account, its name and SID filled in."""
        account = self.current()
        if account is None:
            return
        if account.get("connected", True):
            self.notify(f"{account.get('name')} is connected already.", timeout=3)
            return
        result = await self.ask(ConnectWizard(self.client, name=str(account.get("name", "")),
                                              sid=str(account.get("sid", ""))))
        await self.reload()
        if result is not None:
            self.screen.post_message(AccountsChanged())

    @work(exclusive=True, group="accounts")
    async def action_rename(self) -> None:
        account = self.current()
        if account is None:
            return
        name = await self.ask(TextPromptScreen(
            "Rename the account", "a display name; Twilio is not told", account.get("name", ""),
            validate=lambda text: None if text.strip() else "The name cannot be empty."))
        if name is None:
            return
        if await self.call("rename the account", "update_account", account_id=account["id"],
                           name=name.strip()) is not None:
            await self.reload()

    @work(exclusive=True, group="accounts")
    async def action_rotate_token(self) -> None:
        account = self.current()
        if account is None:
            return
        token = await self.ask(TokenPromptScreen(
            f"New auth token for {account.get('name')}",
            "checked with Twilio before it replaces the old one", validate=token_problem))
        if token is None:
            return
        if await self.call("rotate the auth token", "update_account", account_id=account["id"],
                           token=token.strip()) is not None:
            self.notify("Twilio accepted the new token; the relay uses it from now on.",
                        title="Token rotated", timeout=5)
            await self.reload()

    @work(exclusive=True, group="accounts")
    async def action_geo(self) -> None:
        account = self.current()
        if account is None:
            return

        def problem(text: str) -> str | None:
            return parse_countries(text)[1]

        text = await self.ask(TextPromptScreen(
            "Countries this account may text (as set in Twilio > SMS Geo-Permissions)",
            "ISO codes, comma-separated: US, CA, GB; empty: not configured",
            ", ".join(account.get("geo_permissions") or []), validate=problem))
        if text is None:
            return
        codes, _ = parse_countries(text)
        if await self.call("set the geo-permissions", "update_account",
                           account_id=account["id"], geo_permissions=codes) is not None:
            await self.reload()

    @work(exclusive=True, group="accounts")
    async def action_disconnect(self) -> None:
        account = self.current()
        if account is None:
            return
        if not account.get("connected", True):
            self.notify(f"{account.get('name')} is already disconnected.", timeout=3)
            return
        sure = await self.ask(ConfirmScreen(
            f"Disconnect {account.get('name')} ({account.get('sid')})?\n\n"
            "Its numbers stop sending replies, and their Twilio webhooks go back to what they"
            " were before smsdesk (or are cleared). The history stays: tickets and messages are"
            " kept, a text that still arrives is kept for you (see troubleshooting), and"
            " reconnecting (o) picks up where it left off.",
            yes="Disconnect", no="Keep"))
        if not sure:
            return
        done = await self.call("disconnect the account", "disconnect_account",
                               account_id=account["id"])
        if done is None:
            return
        failed = done.get("failed") or []
        if failed:
            self.notify("Twilio did not take these webhooks back: " + "; ".join(
                f"{f.get('e164')}: {f.get('reason')}" for f in failed)
                + ". Texts to them still reach smsdesk and are kept.",
                title="Disconnected", severity="warning", timeout=10)
        await self.reload()
        self.screen.post_message(AccountsChanged())


class TokenPromptScreen(TextPromptScreen):
    """The text prompt with the typing hidden: an auth token on screen is a token leaked."""

    CSS_PATH = "../pickers.tcss"

    def on_mount(self) -> None:
        prompt = self.query_one("#prompt-input")
        prompt.password = True  # type: ignore[attr-defined]
        prompt.focus()

