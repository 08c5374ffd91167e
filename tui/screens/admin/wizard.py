"""Connect a Twilio account in three steps, as the seed's setup guide walks an admin through it.

1. credentials: a display name, the Account SID (checked as it is typed) and the
   auth token (never shown); Next asks the relay to ``check_account``, which
   stores nothing, so a typo costs nothing;
2. the account's numbers, each SMS-only or MMS-enabled, to select; Complete
   Setup runs ``connect_account``;
3. the result: which numbers now send their texts to this relay, and which
   could not be repointed and why.

The auth token goes to the relay only, and the wizard forgets it once the
account is connected. Escape leaves at any step; before step 3 nothing is stored.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, Footer, Input, Label, SelectionList, Static
from textual.widgets.selection_list import Selection

from tui.client import CommandError, RelayClient
from tui.screens.admin import capability, relay_command

SID_RE = re.compile(r"AC[0-9a-fA-F]{32}")
CONSOLE_CREDENTIALS = ("Twilio console > Account > Keys & Credentials > API keys & tokens >"
                       " Live Credentials")
BUY_NUMBERS = ("This account has no phone numbers yet. Buy one in the Twilio console"
               " (Phone Numbers > Manage > Buy a number), choosing SMS (and MMS if you want"
               " pictures). You can complete setup now and connect the number later by running"
               " this wizard again.")


def sid_problem(sid: str) -> str | None:
    """What is wrong with a typed Account SID, in words; None when it has the right shape."""
    sid = sid.strip()
    if not sid:
        return "Required."
    if not sid.startswith("AC"):
        return "An Account SID starts with AC (an SID starting with SK or PN is another kind)."
    rest = sid[2:]
    bad = sorted({char for char in rest if char not in "0123456789abcdefABCDEF"})
    if bad:
        return f"After AC only hex digits 0-9 and a-f; found {' '.join(map(repr, bad))}."
    if len(rest) != 32:
        return f"AC and 32 hex digits: {len(rest)} so far."
    return None


def number_prompt(number: dict[str, Any]) -> Text:
    """One selectable line: the number, what it can send, its Twilio status, where it points."""
    line = Text()
    line.append(f"{number.get('e164', '?'):<16}", style="bold")
    name = str(number.get("friendly_name") or "")
    if name and name != number.get("e164"):
        line.append(f" {name[:22]:<22}")
    line.append(f"  {capability(number.get('mms')):<11}")
    status = str(number.get("status") or "unknown")
    line.append(f"  {status}", style="" if status in ("in-use", "active") else "bold red")
    if number.get("points_here"):
        line.append("  already points at this relay", style="green")
    elif number.get("sms_url"):
        line.append(f"  now points at {number['sms_url']}", style="dim")
    return line


def result_text(result: dict[str, Any]) -> Text:
    """Step 3: what was connected and, above all, what was not and why."""
    account = result.get("account") or {}
    text = Text()
    text.append(f"Connected {account.get('name', 'the account')} ({account.get('sid', '')}).\n",
                style="bold")
    numbers = result.get("numbers") or []
    if numbers:
        text.append(f"\n{len(numbers)} number{'s' if len(numbers) != 1 else ''} connected:\n")
        for number in numbers:
            text.append(f"  {number.get('e164')}  {capability(number.get('mms'))}\n")
    for e164 in result.get("repointed") or []:
        text.append(f"  ✓ {e164}: texts and delivery reports now come to this relay\n",
                    style="green")
    failed = result.get("failed") or []
    if failed:
        text.append("\nCould not point these numbers at the relay:\n", style="bold red")
        for item in failed:
            text.append(f"  ✗ {item.get('e164')}: {item.get('reason')}\n", style="red")
        text.append("Fix it later from the Troubleshooting tab (key f on the problem).\n")
    if result.get("note"):
        text.append(f"\n{result['note']}\n")
    return text


class ConnectWizard(Screen[dict[str, Any] | None]):
    """Returns the relay's ``connect_account`` result, or None when the admin left early."""

    CSS_PATH = "wizard.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="wizard.cancel"),
        Binding("ctrl+s", "proceed", "Next / Complete", id="wizard.proceed"),
    ]

    def __init__(self, client: RelayClient, *, name: str = "", sid: str = "") -> None:
        """``name`` and ``sid`` fill the first step in: reconnecting a disconnected account
        needs only its auth token typed again (checked with Twilio afresh)."""
        super().__init__()
        self.client = client
        self.known_name, self.known_sid = name, sid
        self.checked: dict[str, Any] | None = None  # check_account's answer for these credentials
        self.result: dict[str, Any] | None = None
        self.busy = False
        self._credentials: tuple[str, str, str] | None = None  # name, sid, token

    def compose(self) -> ComposeResult:
        with Vertical(id="wizard"):
            yield Label(f"Reconnect {self.known_name}" if self.known_sid
                        else "Connect a Twilio account", id="wizard-title", markup=False)
            yield Static("", id="wizard-step")
            with ContentSwitcher(initial="step-credentials", id="wizard-steps"):
                with VerticalScroll(id="step-credentials"):
                    yield Label("Account name")
                    yield Input(self.known_name, placeholder="any display name, e.g. Acme"
                                " support", id="wizard-name")
                    yield Label("Account SID")
                    yield Input(self.known_sid, placeholder="AC followed by 32 hex digits",
                                max_length=40, id="wizard-sid")
                    yield Static("", id="wizard-sid-check", classes="wizard-hint")
                    yield Label("Auth token")
                    yield Input(placeholder="shown once in Twilio, never here", password=True,
                                id="wizard-token")
                    yield Static(f"Both are in {CONSOLE_CREDENTIALS}.", classes="wizard-hint")
                with VerticalScroll(id="step-numbers"):
                    yield Static("", id="wizard-account")
                    yield Static("", id="wizard-warnings", classes="wizard-warning")
                    yield Static("Select the numbers to connect (space selects, ↑↓ move):",
                                 id="wizard-numbers-help")
                    yield SelectionList[str](id="wizard-numbers")
                    yield Static("", id="wizard-no-numbers", classes="wizard-note")
                with VerticalScroll(id="step-result"):
                    yield Static("", id="wizard-result")
            yield Static("", id="wizard-error", classes="wizard-error")
            with Horizontal(id="wizard-buttons"):
                yield Button("Next", id="wizard-next", variant="primary")
                yield Button("Cancel", id="wizard-cancel")
        yield Footer()

    def on_mount(self) -> None:
        self._show_step("step-credentials")
        self.query_one("#wizard-token" if self.known_sid else "#wizard-name", Input).focus()

    @property
    def step(self) -> str:
        return self.query_one(ContentSwitcher).current or "step-credentials"

    def _show_step(self, step: str) -> None:
        titles = {"step-credentials": "Step 1 of 3 · Twilio credentials",
                  "step-numbers": "Step 2 of 3 · Choose the numbers",
                  "step-result": "Step 3 of 3 · Done"}
        buttons = {"step-credentials": "Next", "step-numbers": "Complete Setup",
                   "step-result": "Close"}
        self.query_one(ContentSwitcher).current = step
        self.query_one("#wizard-step", Static).update(titles[step])
        self.query_one("#wizard-next", Button).label = buttons[step]
        self.query_one("#wizard-cancel", Button).display = step != "step-result"
        self._error("")

    def _error(self, message: str) -> None:
        self.query_one("#wizard-error", Static).update(Text(message))

    # --- step 1 ---------------------------------------------------------------------

    @on(Input.Changed, "#wizard-sid")
    def _sid_changed(self, event: Input.Changed) -> None:
        check = self.query_one("#wizard-sid-check", Static)
        if not event.value.strip():
            check.update("")
            return
        problem = sid_problem(event.value)
        check.update(Text(problem, style="red") if problem
                     else Text("✓ looks like an Account SID", style="green"))

    @on(Input.Submitted, "#wizard-name")
    def _name_submitted(self) -> None:
        self.query_one("#wizard-sid", Input).focus()

    @on(Input.Submitted, "#wizard-sid")
    def _sid_submitted(self) -> None:
        self.query_one("#wizard-token", Input).focus()

    @on(Input.Submitted, "#wizard-token")
    def _token_submitted(self) -> None:
        self.action_proceed()

    def _read_credentials(self) -> tuple[str, str, str] | None:
        name = self.query_one("#wizard-name", Input).value.strip()
        sid = self.query_one("#wizard-sid", Input).value.strip()
        token = self.query_one("#wizard-token", Input).value.strip()
        problem = sid_problem(sid)
        if problem:
            self._error(f"Account SID: {problem}")
            self.query_one("#wizard-sid", Input).focus()
            return None
        if not token:
            self._error("Auth token: required (it is next to the SID in the Twilio console).")
            self.query_one("#wizard-token", Input).focus()
            return None
        return name, sid, token

    @work(exclusive=True, group="wizard")
    async def check(self, name: str, sid: str, token: str) -> None:
        self._working("Checking the account with Twilio…")
        try:
            checked = await self.client.command("check_account", sid=sid, token=token)
        except CommandError as error:
            self._failed("Twilio did not accept this account" if error.code == "twilio"
                         else "Could not check the account", error)
            return
        finally:
            self.busy = False
        self.checked = checked
        account = checked.get("account") or {}
        self._credentials = (name or str(account.get("friendly_name") or sid), sid, token)
        self._fill_numbers(checked)
        self._show_step("step-numbers")
        self.query_one("#wizard-numbers", SelectionList).focus()

    def _working(self, message: str) -> None:
        self.busy = True
        self.query_one("#wizard-error", Static).update(Text(message, style="italic"))

    def _failed(self, title: str, error: CommandError) -> None:
        self._error(f"{title}:\n{error.message or error.code}")

    # --- step 2 ---------------------------------------------------------------------

    def _fill_numbers(self, checked: dict[str, Any]) -> None:
        account = checked.get("account") or {}
        summary = Text()
        summary.append(str(account.get("friendly_name") or ""), style="bold")
        summary.append(f"  {account.get('sid', '')}  ·  {account.get('type', '?')} account"
                       f"  ·  {account.get('status', '?')}")
        balance = checked.get("balance")
        if balance:
            summary.append(f"  ·  balance {balance.get('balance')} {balance.get('currency')}")
        self.query_one("#wizard-account", Static).update(summary)
        warnings = [str(w) for w in checked.get("warnings") or []]
        self.query_one("#wizard-warnings", Static).update(
            Text("\n".join(f"⚠ {w}" for w in warnings)))
        self.query_one("#wizard-warnings", Static).display = bool(warnings)
        numbers = checked.get("numbers") or []
        picker: SelectionList[str] = self.query_one("#wizard-numbers", SelectionList)
        picker.clear_options()
        picker.add_options([Selection(number_prompt(n), str(n["sid"]),
                                      len(numbers) == 1 or bool(n.get("known")))
                            for n in numbers])
        picker.display = bool(numbers)
        if numbers:
            picker.highlighted = 0  # space selects at once, without a first arrow key
        self.query_one("#wizard-numbers-help", Static).display = bool(numbers)
        note = self.query_one("#wizard-no-numbers", Static)
        note.update("" if numbers else BUY_NUMBERS)
        note.display = not numbers

    @work(exclusive=True, group="wizard")
    async def connect(self, number_sids: list[str]) -> None:
        assert self._credentials is not None
        name, sid, token = self._credentials
        self._working("Connecting the account and pointing the numbers at this relay…")
        try:
            result = await relay_command(self.client, "connect_account", {
                "name": name, "sid": sid, "token": token, "number_sids": number_sids})
        except CommandError as error:
            self._failed("Could not connect the account", error)
            return
        finally:
            self.busy = False
        self.result = result
        self._credentials = None
        self.query_one("#wizard-token", Input).value = ""
        self.query_one("#wizard-result", Static).update(result_text(result))
        self._show_step("step-result")
        self.query_one("#wizard-next", Button).focus()

    # --- actions --------------------------------------------------------------------

    @on(Button.Pressed, "#wizard-next")
    def _next_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_proceed()

    @on(Button.Pressed, "#wizard-cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    def action_proceed(self) -> None:
        if self.busy:
            return
        step = self.step
        if step == "step-credentials":
            credentials = self._read_credentials()
            if credentials is not None:
                self.check(*credentials)
        elif step == "step-numbers":
            numbers = (self.checked or {}).get("numbers") or []
            selected = list(self.query_one("#wizard-numbers", SelectionList).selected)
            if numbers and not selected:
                self._error("Select at least one number (space), then Complete Setup.")
                return
            self.connect([str(sid) for sid in selected])
        else:
            self.dismiss(self.result)

    def action_cancel(self) -> None:
        self.dismiss(self.result)
