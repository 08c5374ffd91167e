"""The inbox application: config, keymap and the relay client around one screen.

Kept small on purpose: screens own their layout and actions
(``tui.screens``), widgets draw (``tui.widgets``), the client talks to the
relay (``tui.client``). The app only wires them together and owns what lives
as long as the process: the connection, the theme, the keymap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from tui.client import ConnectionState, RelayClient
from tui.commands import InboxCommands
from tui.config import Config, ConfigError, describe_source, load_config
from tui.drafts import drafts_path
from tui.keymap import apply_keymap, binding_catalog, current_keys
from tui.screens.admin.accounts import AccountsPane
from tui.screens.admin.admin import AdminScreen
from tui.screens.admin.bot import BotPane
from tui.screens.admin.bot_node_form import NodeForm
from tui.screens.admin.bot_preview import BotPreview
from tui.screens.admin.bot_tree import BotTree
from tui.screens.admin.canned import CannedEditor, FoldersTable, ResponsesTable
from tui.screens.admin.hours import HoursEditor, HoursTable
from tui.screens.admin.numbers import NumbersPane
from tui.screens.admin.people import AgentsTable, GroupsPickScreen, GroupsTable, TokenShownScreen
from tui.screens.admin.scenarios import ActionsList, ScenarioEditor, ScenariosTable
from tui.screens.admin.sla_targets import SlaEditor, SlaTable
from tui.screens.admin.troubleshoot import TroubleshootPane
from tui.screens.admin.wizard import ConnectWizard
from tui.screens.canned_picker import CannedPicker
from tui.screens.contact import ContactScreen
from tui.screens.contact_form import ContactFormScreen
from tui.screens.help import HelpScreen
from tui.screens.inbox import InboxScreen
from tui.screens.inbox_scenarios import ScenarioCommands
from tui.screens.quit import QuitChoice, QuitScreen, UnsentWork
from tui.screens.reports import ReportsScreen
from tui.widgets.composer import AttachFile, Composer
from tui.widgets.send_review import SendReview
from tui.widgets.thread_view import ThreadView
from tui.widgets.ticket_list import TicketList

#: Every class whose bindings agents may remap; the help screen lists them all.
BINDING_OWNERS: tuple[type, ...] = (
    App, InboxScreen, TicketList, ThreadView, Composer, SendReview, AttachFile,
    AdminScreen, AccountsPane, NumbersPane, TroubleshootPane, AgentsTable, GroupsTable,
    GroupsPickScreen, TokenShownScreen, ConnectWizard, QuitScreen, CannedPicker, CannedEditor,
    ResponsesTable, FoldersTable, ScenarioEditor, ScenariosTable, ActionsList,
    ContactScreen, ContactFormScreen, BotPane, BotTree, BotPreview, NodeForm, ReportsScreen,
    HoursTable, HoursEditor, SlaTable, SlaEditor,
)


class InboxApp(App[int]):
    """``smsdesk inbox``: one agent, one relay."""

    TITLE = "smsdesk"
    COMMANDS = App.COMMANDS | {InboxCommands, ScenarioCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+p", "command_palette", "Commands", show=False, id="app.command_palette"),
    ]

    def __init__(self, config: Config, *, backoff: tuple[float, ...] | None = None,
                 client_class: type[RelayClient] = RelayClient, welcome: str = "") -> None:
        super().__init__()
        self.config = config
        # Said once at start: the demo uses it to tell a newcomer how to text in.
        self.welcome = welcome
        self.send_review = config.send_review
        extra = {"backoff": backoff} if backoff else {}
        self.client = client_class(config.relay, config.token, on_event=self._relay_event,
                                  on_state=self._connection_changed,
                                  on_presence=self._presence_changed, **extra)
        self.inbox = InboxScreen(self.client, drafts_path(config.data_dir))
        self.catalog = binding_catalog(type(self), *BINDING_OWNERS[1:])

    def on_mount(self) -> None:
        warnings = list(self.config.warnings)
        if self.config.theme in self.available_themes:
            self.theme = self.config.theme
        else:
            warnings.append(f"theme {self.config.theme!r} is not known; using the default")
        warnings += apply_keymap(self, self.config.keymap, self.catalog)
        for warning in warnings:
            self.notify(warning, title="Config", severity="warning", timeout=10)
        if self.welcome:
            self.notify(self.welcome, title="Welcome to the demo", timeout=30)
        self.push_screen(self.inbox)
        self.run_worker(self.client.run(), name="relay-client", group="client")

    async def on_unmount(self) -> None:
        await self.client.close()

    # The client outlives the screens: once quitting has begun they are being torn
    # down, and nothing it says may reach them any more.

    def _relay_event(self, event: dict[str, Any]) -> None:
        if not self.is_running:
            return
        self.inbox.relay_event(event)
        screen = self.screen
        if isinstance(screen, AdminScreen) and screen.is_attached:
            screen.relay_event(event)

    def _connection_changed(self, state: ConnectionState, detail: str) -> None:
        if self.is_running:
            self.inbox.connection_changed(state, detail)

    def _presence_changed(self, frame: dict[str, Any]) -> None:
        if self.is_running:
            self.inbox.presence_changed(frame)

    async def action_quit(self) -> None:
        """Quit at once, unless that would lose work: then ask (wait / keep / quit anyway)."""
        if isinstance(self.screen, QuitScreen):
            return  # already asking
        work = self.inbox.unsent_work()
        if not work:
            self.exit(0)
            return
        self.push_screen(QuitScreen(work), lambda choice: self._quit_chosen(choice, work))

    def _quit_chosen(self, choice: QuitChoice | None, work: UnsentWork) -> None:
        if choice == "wait":
            self.notify("Quitting as soon as the relay has everything. Press "
                        f"{self.key_for('app.quit')} to choose again.",
                        title="Waiting to quit", timeout=8)
            self.run_worker(self._quit_when_sent(), group="quit", exclusive=True)
        elif choice == "keep":
            self.run_worker(self._keep_and_quit(work), group="quit", exclusive=True)
        elif choice == "quit":
            self.exit(0)

    async def _quit_when_sent(self) -> None:
        await self.inbox.until_sent()
        self.exit(0)

    async def _keep_and_quit(self, work: UnsentWork) -> None:
        try:
            await self.inbox.keep_as_drafts(work)
        except OSError as error:
            self.notify(f"Could not keep the drafts: {error}. Nothing was lost yet.",
                        title="Not quitting", severity="error", timeout=15)
            return
        self.exit(0)

    def key_for(self, binding_id: str) -> str:
        """The key bound to ``binding_id`` now, after the agent's keymap (``App.set_keymap``)."""
        return current_keys(binding_id, self.catalog, getattr(self, "_keymap", {}))[0]

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.catalog, config_hint=describe_source(self.config)))


def run_inbox(relay_url: str | None = None, token: str | None = None, *,
              config_path: Path | None = None, welcome: str = "") -> int:
    """Open the inbox; settings not given here come from the config file."""
    try:
        config = load_config(config_path)
    except ConfigError as error:
        print(f"smsdesk: {error}")
        return 2
    if relay_url:
        config.relay = relay_url
    if token:
        config.token = token
    if not config.token:
        print("smsdesk: no agent token. Ask an admin for one (`smsdesk agent add NAME`), then"
              " pass --token or put `token = \"...\"` in the config file.")
        return 2
    result = InboxApp(config, welcome=welcome).run()
    return int(result or 0)
