"""The admin screen: four tabs over the relay's admin commands, opened from the inbox with ``A``.

Keyboard first: the tab numbers (or ctrl+pageup / ctrl+pagedown) switch tabs, and each
tab puts the keyboard in its list at once, so its keys work without a click.
A tab loads when it is first shown and reloads when shown again (another admin
may have changed something meanwhile); escape goes back to the inbox.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane

from tui.client import RelayClient
from tui.screens.admin import AccountsChanged, AdminPane
from tui.screens.admin.accounts import AccountsPane
from tui.screens.admin.bot import BotPane
from tui.screens.admin.canned import CannedPane
from tui.screens.admin.email import EmailPane
from tui.screens.admin.fields import FieldsPane
from tui.screens.admin.hours import HoursPane
from tui.screens.admin.numbers import NumbersPane
from tui.screens.admin.people import PeoplePane
from tui.screens.admin.scenarios import ScenariosPane
from tui.screens.admin.troubleshoot import TroubleshootPane
from tui.screens.pickers import ConfirmScreen

TABS = ("accounts", "numbers", "troubleshoot", "people", "fields", "canned", "scenarios",
        "email", "bot", "hours")


class AdminScreen(Screen[None]):
    """Accounts, numbers, troubleshooting and people, for admins only."""

    CSS_PATH: ClassVar[list[str]] = ["admin.tcss", "accounts.tcss", "numbers.tcss",
                                     "troubleshoot.tcss", "people.tcss", "fields.tcss",
                                     "canned.tcss", "scenarios.tcss", "email.tcss",
                                     "bot.tcss", "hours.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Inbox", id="admin.close"),
        Binding("1", "tab('accounts')", "Accounts", show=False, id="admin.tab_accounts"),
        Binding("2", "tab('numbers')", "Numbers", show=False, id="admin.tab_numbers"),
        Binding("3", "tab('troubleshoot')", "Troubleshooting", show=False,
                id="admin.tab_troubleshoot"),
        Binding("4", "tab('people')", "People", show=False, id="admin.tab_people"),
        Binding("5", "tab('fields')", "Fields", show=False, id="admin.tab_fields"),
        Binding("6", "tab('canned')", "Canned", show=False, id="admin.tab_canned"),
        Binding("7", "tab('scenarios')", "Scenarios", show=False, id="admin.tab_scenarios"),
        Binding("8", "tab('email')", "Email", show=False, id="admin.tab_email"),
        Binding("9", "tab('bot')", "Bot", show=False, id="admin.tab_bot"),
        Binding("0", "tab('hours')", "Hours · SLA", show=False, id="admin.tab_hours"),
        # Priority: scrolling containers take ctrl+pageup/pagedown for sideways paging.
        Binding("ctrl+pagedown", "step_tab(1)", "Next tab", show=False, priority=True,
                id="admin.next_tab"),
        Binding("ctrl+pageup", "step_tab(-1)", "Previous tab", show=False, priority=True,
                id="admin.prev_tab"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="admin.reload"),
    ]

    def __init__(self, client: RelayClient, *, initial: str = "accounts") -> None:
        super().__init__()
        self.client = client
        self.initial = initial

    def compose(self) -> ComposeResult:
        yield Static("smsdesk · admin    0-9 or ctrl+pgup/pgdn switch tabs · esc back to the"
                     " inbox", id="admin-header")
        with TabbedContent(initial=self.initial, id="admin-tabs"):
            with TabPane("1 Accounts", id="accounts"):
                yield AccountsPane(self.client, id="accounts-pane")
            with TabPane("2 Numbers", id="numbers"):
                yield NumbersPane(self.client, id="numbers-pane")
            with TabPane("3 Troubleshooting", id="troubleshoot"):
                yield TroubleshootPane(self.client, id="troubleshoot-pane")
            with TabPane("4 People", id="people"):
                yield PeoplePane(self.client, id="people-pane")
            with TabPane("5 Fields", id="fields"):
                yield FieldsPane(self.client, id="fields-pane")
            with TabPane("6 Canned", id="canned"):
                yield CannedPane(self.client, id="canned-pane")
            with TabPane("7 Scenarios", id="scenarios"):
                yield ScenariosPane(self.client, id="scenarios-pane")
            with TabPane("8 Email", id="email"):
                yield EmailPane(self.client, id="email-pane")
            with TabPane("9 Bot", id="bot"):
                yield BotPane(self.client, id="bot-pane")
            with TabPane("0 Hours · SLA", id="hours"):
                yield HoursPane(self.client, id="hours-pane")
        yield Footer()

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one("#admin-tabs", TabbedContent)

    def pane(self, tab: str | None = None) -> AdminPane:
        return self.query_one(f"#{tab or self.tabs.active}-pane", AdminPane)

    def on_mount(self) -> None:
        self._on_tab = self.tabs.active
        self._shown(self.tabs.active)

    @on(TabbedContent.TabActivated, "#admin-tabs")
    def _activated(self, event: TabbedContent.TabActivated) -> None:
        tab = event.pane.id or self.tabs.active
        left, self._on_tab = self._on_tab, tab
        if left == "bot" and tab != "bot" and self._leaving_bot(lambda: self.switch_to(tab)):
            self._on_tab = "bot"
            self.switch_to("bot")  # stay while the admin answers
            return
        self._shown(tab)

    def _leaving_bot(self, then: Callable[[], object]) -> bool:
        """Whether the Bot tab holds unsaved edits; if so, ask, and on "discard" forget them
        and go on with ``then`` (however the admin leaves: key, click or escape)."""
        bot = self.query_one(BotPane)
        if not bot.unsaved:
            return False

        def answered(discard: bool | None) -> None:
            if discard:
                bot.discard()
                then()

        self.app.push_screen(ConfirmScreen(bot.leaving_question(), yes="Discard", no="Stay"),
                             answered)
        return True

    def _shown(self, tab: str) -> None:
        pane = self.pane(tab)
        self.call_after_refresh(pane.focus_first)
        if isinstance(pane, TroubleshootPane) and pane.loaded:
            return  # the checks ask Twilio and the public URL: rerun on request (r) only
        self.load(pane)

    @work(group="admin-load", exclusive=True)
    async def load(self, pane: AdminPane) -> None:
        await pane.reload()

    @on(AccountsChanged)
    def _accounts_changed(self) -> None:
        for tab in ("numbers", "troubleshoot"):
            pane = self.pane(tab)
            if pane.loaded:
                pane.loaded = False
                if not isinstance(pane, TroubleshootPane):
                    self.load(pane)

    #: Which tab shows what each admin event changed.
    _EVENT_TABS: ClassVar[dict[str, tuple[str, ...]]] = {
        "account.updated": ("accounts", "numbers"),
        "number.updated": ("numbers", "bot", "hours"),
        "agent.updated": ("people",),
        "group.updated": ("people", "numbers", "bot", "hours"),
        "trash.retention_set": ("people",),
        "field.updated": ("fields", "bot"),
        "canned.updated": ("canned", "scenarios"),
        "scenarios.updated": ("scenarios",),
        "email_settings.updated": ("email",),
        "bot.flow_saved": ("bot",),
        "hours.saved": ("bot", "hours"),  # the Bot preview runs with the number's hours
        "sla.targets_saved": ("hours",),
    }

    def relay_event(self, event: dict[str, object]) -> None:
        """Another admin's change (or our own, echoed) shows in the open tab at once."""
        if event.get("kind") == "text.held" and self.is_mounted:
            self._text_held()
            return
        tabs = self._EVENT_TABS.get(str(event.get("kind")), ())
        if self.is_mounted and self.tabs.active in tabs:
            self.load(self.pane())

    def _text_held(self) -> None:
        """A text reached a number out of service: kept, and the admin told where to look.
        The checks are marked stale, so tab 3 runs them again when shown."""
        checks = self.pane("troubleshoot")
        checks.loaded = False
        self.notify("A customer texted a disabled number, or one of a disconnected account."
                    " It is kept, not opened as a ticket: see Troubleshooting (3).",
                    title="Text held", severity="warning", timeout=8)
        if self.tabs.active == "troubleshoot":
            self.load(checks)

    def action_tab(self, tab: str) -> None:
        if self.tabs.active == tab:
            self.pane(tab).focus_first()
        else:
            self.switch_to(tab)

    def action_step_tab(self, step: int) -> None:
        index = TABS.index(self.tabs.active) if self.tabs.active in TABS else 0
        self.switch_to(TABS[(index + step) % len(TABS)])

    def switch_to(self, tab: str) -> None:
        """Show ``tab``, taking the keyboard out of the old one first.

        Hiding a focused list makes Textual hand the focus to a sibling, and
        with two lists in a tab (People) that sibling is in the tab being
        hidden: its TabbedContent then switches back to it (issue 9).
        """
        self.set_focus(None)
        self.tabs.active = tab

    def action_reload(self) -> None:
        self.load(self.pane())

    def action_close(self) -> None:
        if not self._leaving_bot(lambda: self.dismiss(None)):
            self.dismiss(None)
