"""The admin screens, driven with Pilot as an admin would, against a real relay and simulator.

The live tests run the whole desk (``desk_harness.live_desk``): the relay's
admin commands reach the Twilio simulator through the twilio SDK, so "the
number now points at the relay" is read back from the simulator itself.
The snapshot tests at the end use canned relay answers (``CannedClient``),
because ``snap_compare`` runs its own event loop.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from desk_harness import US_TOLL_FREE, LiveDesk, live_desk, until
from rich.table import Table
from rich.text import Text
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, SelectionList, Static

from core import auth, queries
from tui.app import InboxApp
from tui.client import CommandError, ConnectionState, RelayClient
from tui.screens.admin.accounts import AccountsPane, parse_countries
from tui.screens.admin.admin import AdminScreen
from tui.screens.admin.people import TokenShownScreen
from tui.screens.admin.troubleshoot import TroubleshootPane, grouped
from tui.screens.admin.wizard import ConnectWizard, sid_problem
from tui.screens.inbox import InboxScreen
from tui.screens.pickers import ConfirmScreen, TextPromptScreen

SIZE = (150, 44)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


def static_text(screen: Any, selector: str) -> str:
    content = screen.query_one(selector, Static).content
    return content.plain if isinstance(content, Text) else str(content)


def prompt_text(prompt: Any) -> str:
    """The words of an option's prompt, whether Text or a grid of Texts."""
    if isinstance(prompt, Table):
        return " ".join(prompt_text(cell) for column in prompt.columns for cell in column.cells)
    return prompt.plain if isinstance(prompt, Text) else str(prompt)


def table_cells(table: DataTable[Any]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def toasts(app: App[Any]) -> str:
    return "\n".join(f"{n.title}: {n.message}" for n in app._notifications)


async def open_admin(pilot: Pilot[Any], app: InboxApp) -> AdminScreen:
    await until(pilot, lambda: app.client.state is ConnectionState.LIVE, what="live")
    await pilot.press("A")
    screen = await until(pilot, lambda: isinstance(app.screen, AdminScreen) and app.screen,
                         what="the admin screen")
    await until(pilot, lambda: screen.query_one(AccountsPane).loaded, what="accounts")
    return screen


async def type_into(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*text)


# --- who may open it -----------------------------------------------------------------


async def test_an_agent_has_no_admin_key(desk: LiveDesk) -> None:
    app = InboxApp(desk.config(admin=False))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.client.state is ConnectionState.LIVE, what="live")
        await pilot.pause(0.1)
        assert "A" not in app.screen.active_bindings
        await pilot.press("A")
        await pilot.pause(0.2)
        assert isinstance(app.screen, InboxScreen)


async def test_an_admin_opens_it_from_the_footer_key_and_goes_back(desk: LiveDesk) -> None:
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.client.state is ConnectionState.LIVE, what="live")
        await until(pilot, lambda: "A" in app.screen.active_bindings, what="the footer key")
        screen = await open_admin(pilot, app)
        rows = table_cells(screen.query_one("#accounts-table", DataTable))
        assert rows[0][:5] == ["Acme", rows[0][1], "active", "Full", "yes"]
        assert rows[0][1].startswith("AC")
        assert rows[0][5].startswith("••••••••")  # the token only as a hint
        await pilot.press("2")
        await until(pilot, lambda: screen.query_one("#numbers-table", DataTable).row_count == 2,
                    what="numbers")
        numbers = table_cells(screen.query_one("#numbers-table", DataTable))
        assert {row[0]: row[3] for row in numbers} == {US_TOLL_FREE: "MMS-enabled",
                                                       "+447400900456": "SMS-only"}
        await pilot.press("ctrl+pageup")
        assert screen.tabs.active == "accounts"
        await pilot.press("escape")
        assert isinstance(app.screen, InboxScreen)


# --- the wizard ----------------------------------------------------------------------


async def start_wizard(pilot: Pilot[Any], app: InboxApp, name: str, sid: str,
                       token: str) -> ConnectWizard:
    await open_admin(pilot, app)
    await pilot.press("c")
    wizard = await until(pilot, lambda: isinstance(app.screen, ConnectWizard) and app.screen,
                         what="the wizard")
    await type_into(pilot, name)
    await pilot.press("enter")
    # Pasted, as an admin does from the Twilio console: one change each, checked at once.
    wizard.query_one("#wizard-sid", Input).value = sid
    await pilot.press("enter")
    wizard.query_one("#wizard-token", Input).value = token
    await pilot.press("enter")
    return wizard


async def test_wizard_connects_two_of_three_numbers_and_repoints_them(desk: LiveDesk) -> None:
    account = desk.sim.add_account(friendly_name="Shop on Twilio")
    first = desk.sim.add_number(account.sid, "+18885550111", mms=True)
    second = desk.sim.add_number(account.sid, "+18885550112", mms=False)
    third = desk.sim.add_number(account.sid, "+18885550113", sms_url="https://old.example/sms")
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        wizard = await start_wizard(pilot, app, "Shop", account.sid, account.auth_token)
        await until(pilot, lambda: wizard.step == "step-numbers", what="step 2")
        picker = wizard.query_one("#wizard-numbers", SelectionList)
        assert picker.option_count == 3
        prompts = [str(picker.get_option_at_index(i).prompt) for i in range(3)]
        assert "MMS-enabled" in prompts[0] and "SMS-only" in prompts[1]
        assert "https://old.example/sms" in prompts[2]
        assert "+18885550113 now sends its texts to" in static_text(wizard, "#wizard-warnings")
        await pilot.press("ctrl+s")  # nothing selected yet: refused inline
        assert "Select at least one number" in static_text(wizard, "#wizard-error")
        await pilot.press("space", "down", "space")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: wizard.step == "step-result", what="step 3")
        result = static_text(wizard, "#wizard-result")
        assert "2 numbers connected" in result and "+18885550111" in result
        assert wizard.query_one("#wizard-token", Input).value == ""  # forgotten
        inbound = desk.relay.public_url + "/twilio/inbound"
        assert first.sms_url == inbound and second.sms_url == inbound
        assert third.sms_url == "https://old.example/sms"
        await pilot.press("enter")
        admin = await until(pilot, lambda: isinstance(app.screen, AdminScreen) and app.screen,
                            what="back on the admin screen")
        await until(pilot, lambda: any(row[0] == "Shop" for row in table_cells(
            admin.query_one("#accounts-table", DataTable))), what="the new account listed")
    stored = {n.e164: n for n in await desk.relay.store.read(queries.numbers)}
    assert stored["+18885550111"].mms and not stored["+18885550112"].mms
    assert "+18885550113" not in stored


async def test_wizard_bad_credentials_say_what_to_try_and_store_nothing(
        desk: LiveDesk) -> None:
    account = desk.sim.add_account(friendly_name="Typo")
    desk.sim.add_number(account.sid, "+18885550120")
    before = await desk.relay.store.read(queries.accounts)
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        wizard = await start_wizard(pilot, app, "Typo", account.sid, "0" * 32)
        await until(pilot, lambda: "20003" in static_text(wizard, "#wizard-error"),
                    what="the refusal")
        error = static_text(wizard, "#wizard-error")
        assert "Keys & Credentials" in error or "Account SID" in error
        assert wizard.step == "step-credentials"
        await pilot.press("escape")
        assert isinstance(app.screen, AdminScreen)
    assert await desk.relay.store.read(queries.accounts) == before


async def test_wizard_checks_the_sid_as_it_is_typed(desk: LiveDesk) -> None:
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        wizard = await start_wizard(pilot, app, "x", "SK12", "")
        assert "starts with AC" in static_text(wizard, "#wizard-sid-check")
        assert "Account SID" in static_text(wizard, "#wizard-error")  # Next refused
        wizard.query_one("#wizard-sid", Input).value = "AC12ab"
        await pilot.pause()
        assert "4 so far" in static_text(wizard, "#wizard-sid-check")


async def test_wizard_warns_about_a_trial_account(desk: LiveDesk) -> None:
    account = desk.sim.add_account(friendly_name="Trying", type="Trial")
    desk.sim.add_number(account.sid, "+18885550130")
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        wizard = await start_wizard(pilot, app, "", account.sid, account.auth_token)
        await until(pilot, lambda: wizard.step == "step-numbers", what="step 2")
        assert "Trial account" in static_text(wizard, "#wizard-warnings")
        assert "Trial account" in static_text(wizard, "#wizard-account")
        # One number: selected already; the empty name falls back to Twilio's.
        await pilot.press("ctrl+s")
        await until(pilot, lambda: wizard.step == "step-result", what="step 3")
        assert "Connected Trying" in static_text(wizard, "#wizard-result")


async def test_wizard_a_suspended_account_is_refused_in_words(desk: LiveDesk) -> None:
    account = desk.sim.add_account(friendly_name="Late", status="suspended")
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        wizard = await start_wizard(pilot, app, "Late", account.sid, account.auth_token)
        await until(pilot, lambda: "suspended" in static_text(wizard, "#wizard-error"),
                    what="the refusal")
        assert wizard.step == "step-credentials"


async def test_wizard_with_no_numbers_says_how_to_buy_one(desk: LiveDesk) -> None:
    account = desk.sim.add_account(friendly_name="Empty")
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        wizard = await start_wizard(pilot, app, "Empty", account.sid, account.auth_token)
        await until(pilot, lambda: wizard.step == "step-numbers", what="step 2")
        assert "Buy a number" in static_text(wizard, "#wizard-no-numbers")
        assert not wizard.query_one("#wizard-numbers", SelectionList).display
        await pilot.press("ctrl+s")
        await until(pilot, lambda: wizard.step == "step-result", what="step 3")
    accounts = await desk.relay.store.read(queries.accounts)
    assert any(a.sid == account.sid for a in accounts)


# --- accounts and numbers -------------------------------------------------------------


async def answer_prompt(pilot: Pilot[Any], app: App[Any], text: str) -> None:
    await until(pilot, lambda: isinstance(app.screen, TextPromptScreen), what="a prompt")
    app.screen.query_one("#prompt-input", Input).value = text
    await pilot.press("enter")


async def test_accounts_rename_geo_rotate_and_disconnect(desk: LiveDesk) -> None:
    store = desk.relay.store
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        await open_admin(pilot, app)
        await pilot.press("e")
        await answer_prompt(pilot, app, "Acme EU")
        await pilot.press("g")
        await answer_prompt(pilot, app, "gb, xx1")  # refused in the dialog
        assert "not a two-letter" in static_text(app.screen, "#prompt-error")
        app.screen.query_one("#prompt-input", Input).value = "gb, us"
        await pilot.press("enter")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen), what="token prompt")
        assert app.screen.query_one("#prompt-input", Input).password
        await answer_prompt(pilot, app, "f" * 32)  # Twilio refuses a wrong token
        await until(pilot, lambda: "rotate the auth token" in toasts(app), what="the refusal")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        assert "history stays" in str(app.screen.query_one(".confirm-question", Static).content)
        await pilot.press("y")
        await until(pilot, lambda: any(row[4] == "no" for row in table_cells(
            app.screen.query_one("#accounts-table", DataTable))), what="disconnected")
    account = (await store.read(queries.accounts))[0]
    assert account.name == "Acme EU"
    assert account.geo_permissions == ("GB", "US")
    assert not account.connected
    assert account.auth_token == desk.sim.state.accounts[account.sid].auth_token


async def test_numbers_settings_and_repoint(desk: LiveDesk) -> None:
    store = desk.relay.store
    sim_number = desk.sim.state.number_by_phone(US_TOLL_FREE)
    assert sim_number is not None
    sim_number.sms_url = "https://elsewhere.example/sms"
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, app)
        await pilot.press("2")
        table = screen.query_one("#numbers-table", DataTable)
        await until(pilot, lambda: table.row_count == 2, what="numbers")
        row = next(i for i, cells in enumerate(table_cells(table)) if cells[0] == US_TOLL_FREE)
        table.move_cursor(row=row)
        await pilot.press("c")
        await until(pilot, lambda: "CSAT survey on" in toasts(app), what="csat on")
        await pilot.press("g")
        await until(pilot, lambda: app.screen.__class__.__name__ == "ChoiceScreen",
                    what="group picker")
        await pilot.press(*"Shipping", "enter")
        await until(pilot, lambda: table_cells(table)[row][7] == "Shipping", what="group shown")
        await pilot.press("w")
        await until(pilot, lambda: "Webhooks repointed" in toasts(app), what="repointed")
    number = next(n for n in await store.read(queries.numbers) if n.e164 == US_TOLL_FREE)
    assert number.csat and number.default_group_id == desk.shipping_id
    assert sim_number.sms_url == desk.relay.public_url + "/twilio/inbound"


# --- troubleshooting -----------------------------------------------------------------


async def test_troubleshooting_shows_a_wrong_webhook_and_f_repoints_it(desk: LiveDesk) -> None:
    sim_number = desk.sim.state.number_by_phone(US_TOLL_FREE)
    assert sim_number is not None
    sim_number.sms_url = "https://elsewhere.example/sms"
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, app)
        await pilot.press("3")
        pane = screen.query_one(TroubleshootPane)
        await until(pilot, lambda: pane.loaded, what="the checks")
        repoint = [c for c in pane.checks if c.get("action") == "repoint"]
        assert [c["subject"] for c in repoint] == [US_TOLL_FREE] or \
            US_TOLL_FREE in repoint[0]["subject"]
        assert repoint[0]["level"] == "problem"
        assert pane.highlighted_check() is not None
        fix = await until(pilot, lambda: pane.highlighted_fix(), what="the problem highlighted")
        assert fix["action"] == "repoint"
        lines = [prompt_text(pane.options.get_option_at_index(i).prompt)
                 for i in range(pane.options.option_count)]
        assert any(line.startswith("Relay") for line in lines)
        assert any("✗" in line and "press f" in line for line in lines)
        assert "✗" in static_text(pane, "#checks-summary")
        await pilot.press("f")
        await until(pilot, lambda: "Webhooks repointed" in toasts(app), what="repointed")
        await until(pilot, lambda: pane.loaded and not pane.running and not any(
            c.get("action") == "repoint" for c in pane.checks), what="the checks re-run")
    assert sim_number.sms_url == desk.relay.public_url + "/twilio/inbound"


# --- people --------------------------------------------------------------------------


async def test_add_an_agent_shows_the_token_once(desk: LiveDesk) -> None:
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, app)
        await pilot.press("4")
        await until(pilot, lambda: screen.query_one("#agents-table", DataTable).row_count == 2,
                    what="agents")
        await pilot.press("n")
        await answer_prompt(pilot, app, "Cy")
        await until(pilot, lambda: app.screen.__class__.__name__ == "ChoiceScreen",
                    what="role picker")
        await pilot.press("enter")  # agent: the role in effect by default
        await until(pilot, lambda: app.screen.__class__.__name__ == "GroupsPickScreen",
                    what="groups picker")
        await pilot.press("down", "space", "ctrl+s")  # Shipping
        shown = await until(pilot, lambda: isinstance(app.screen, TokenShownScreen)
                            and app.screen, what="the token")
        assert "will not be shown again" in static_text(shown, "#token-warning")
        token = shown.token
        assert token.startswith("sd_")
        await pilot.press("c")
        assert app.clipboard == token
        await pilot.press("enter")
        assert isinstance(app.screen, AdminScreen)
        assert not app.query(TokenShownScreen)
        rows = table_cells(screen.query_one("#agents-table", DataTable))
        await until(pilot, lambda: any(r[0] == "Cy" for r in table_cells(
            screen.query_one("#agents-table", DataTable))), what="Cy listed")
        assert not any(token in cell for row in rows for cell in row)
    cy = next(a for a in await desk.relay.store.read(queries.agents) if a.name == "Cy")
    assert cy.token_hash == auth.hash_token(token)
    assert cy.group_ids == (desk.shipping_id,) and cy.role == "agent"


async def test_people_role_disable_and_groups(desk: LiveDesk) -> None:
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, app)
        await pilot.press("4")
        agents = screen.query_one("#agents-table", DataTable)
        await until(pilot, lambda: agents.row_count == 2, what="agents")
        agents.move_cursor(row=[r[0] for r in table_cells(agents)].index("Bo"))
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await until(pilot, lambda: "disabled" in table_cells(agents)[agents.cursor_row],
                    what="Bo disabled")
        await pilot.press("o")
        await until(pilot, lambda: app.screen.__class__.__name__ == "ChoiceScreen",
                    what="role picker")
        await pilot.press(*"Admin", "enter")
        await until(pilot, lambda: table_cells(agents)[agents.cursor_row][1] == "admin",
                    what="Bo admin")
        await pilot.press("tab")  # into the groups list
        assert screen.focused is screen.query_one("#groups-table")
        await pilot.press("e")
        await answer_prompt(pilot, app, "Accounts")
        await pilot.press("n")
        await answer_prompt(pilot, app, "Returns")
        groups = screen.query_one("#groups-table", DataTable)
        await until(pilot, lambda: sorted(r[0] for r in table_cells(groups)) == [
            "Accounts", "Returns", "Shipping"], what="groups")
    bo = next(a for a in await desk.relay.store.read(queries.agents) if a.name == "Bo")
    assert bo.disabled and bo.role == "admin"


async def test_the_relay_refusing_shows_words_not_a_traceback(desk: LiveDesk) -> None:
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, app)
        await pilot.press("4")
        agents = screen.query_one("#agents-table", DataTable)
        await until(pilot, lambda: agents.row_count == 2, what="agents")
        agents.move_cursor(row=[r[0] for r in table_cells(agents)].index("Ada"))
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        assert "Disable yourself" in str(app.screen.query_one(".confirm-question",
                                                                Static).content)
        await pilot.press("y")
        await until(pilot, lambda: "Could not disable the agent" in toasts(app),
                    what="the refusal")
        assert "cannot disable yourself" in toasts(app)
        assert isinstance(app.screen, AdminScreen)


# --- pure helpers --------------------------------------------------------------------


def test_sid_problem_says_what_is_wrong() -> None:
    assert sid_problem("") == "Required."
    assert "starts with AC" in (sid_problem("PN" + "a" * 32) or "")
    assert "'z'" in (sid_problem("AC" + "z" * 32) or "")
    assert "31 so far" in (sid_problem("AC" + "a" * 31) or "")
    assert sid_problem(" AC" + "0123456789abcdef" * 2 + " ") is None


def test_parse_countries() -> None:
    assert parse_countries("gb, us US  ca") == (["GB", "US", "CA"], None)
    assert parse_countries("") == ([], None)
    assert parse_countries("GBR")[1] is not None


def test_checks_group_relay_then_accounts_then_numbers() -> None:
    checks = [check("number", "+1888", "ok"), check("relay", "", "problem"),
              check("account", "Acme", "info"), check("number", "+1888", "warning")]
    titles = [(title, len(items)) for title, items in grouped(checks)]
    assert titles == [("Relay", 1), ("Account: Acme", 1), ("Number: +1888", 2)]


# --- snapshots (canned relay answers) -------------------------------------------------


def check(scope: str, subject: str, level: str, **more: Any) -> dict[str, Any]:
    fields = {"scope": scope, "subject": subject, "account_id": None, "number_id": None,
              "check": f"{scope}-{level}", "title": f"{scope} {level}", "level": level,
              "detail": "", "fix": "", "action": None}
    fields.update(more)
    return fields


ACCOUNT = {"id": 1, "name": "Acme", "sid": "AC" + "0123456789abcdef" * 2,
           "auth_token_hint": "••••••••9f3a", "geo_permissions": ["GB", "US"],
           "status": "active", "type": "Full", "connected": True, "created_at": 0}
RULES = {k: ACCOUNT[k] for k in ("id", "name", "sid", "geo_permissions", "status", "type",
                                 "connected")}
NUMBERS = [
    {"id": 1, "account_id": 1, "e164": "+18885550100", "sid": "PN1", "mms": True,
     "status": "active", "sender_type": "toll_free", "country": "US", "a2p_registered": False,
     "default_group_id": 1, "csat": True, "enabled": True, "friendly_name": "Support line",
     "account": RULES},
    {"id": 2, "account_id": 1, "e164": "+447400900456", "sid": "PN2", "mms": False,
     "status": "active", "sender_type": "long_code", "country": "GB", "a2p_registered": False,
     "default_group_id": None, "csat": False, "enabled": False, "friendly_name": "UK",
     "account": RULES},
]
GROUPS = [{"id": 1, "name": "Billing"}, {"id": 2, "name": "Shipping"}]
AGENTS = [{"id": 1, "name": "Ada", "role": "admin", "group_ids": [1, 2], "disabled": False},
          {"id": 2, "name": "Bo", "role": "agent", "group_ids": [1], "disabled": True}]
TROUBLESHOOT = {"public_url": "https://desk.example.com", "checks": [
    check("relay", "", "ok", title="Public URL is https", detail="https://desk.example.com"),
    check("relay", "", "ok", title="Twilio can reach the relay",
          detail="GET /healthz answered 200"),
    check("account", "Acme", "warning", title="Balance 3.20 USD",
          detail="Twilio stops sending when it runs out", fix="Add funds in Twilio > Billing"),
    check("number", "+18885550100", "problem", number_id=1, action="repoint",
          title="Webhooks point elsewhere", detail="SmsUrl is https://old.example/sms",
          fix="Point it at https://desk.example.com/twilio/inbound"),
    check("number", "+447400900456", "info", title="SMS-only",
          detail="pictures cannot be sent from this number"),
]}
CHECKED = {"account": {"sid": ACCOUNT["sid"], "friendly_name": "Acme trial", "status": "active",
                       "type": "Trial"},
           "numbers": [
               {"sid": "PN1", "e164": "+18885550100", "friendly_name": "(888) 555-0100",
                "mms": True, "status": "in-use", "sms_url": "", "status_callback": "",
                "points_here": False},
               {"sid": "PN2", "e164": "+18885550101", "friendly_name": "(888) 555-0101",
                "mms": False, "status": "in-use", "sms_url": "https://old.example/sms",
                "status_callback": "", "points_here": False}],
           "balance": {"balance": "12.50", "currency": "USD"},
           "warnings": ["this is a Twilio Trial account: it can only text verified numbers"]}
CONNECTED = {"account": ACCOUNT, "numbers": NUMBERS[:1], "repointed": ["+18885550100"],
             "failed": [{"e164": "+18885550101", "reason": "Twilio refused: no such number"}],
             "note": None}
CANNED: dict[str, Any] = {
    "list_accounts": [ACCOUNT], "list_numbers": NUMBERS, "list_groups": GROUPS,
    "list_agents": AGENTS, "troubleshoot": TROUBLESHOOT, "check_account": CHECKED,
    "connect_account": CONNECTED, "get_trash_retention": {"days": None},
}


class CannedClient(RelayClient):
    """A relay that answers each command from a table, without a socket."""

    answers: dict[str, Any] = CANNED

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("ws://canned.invalid/ws", "token")
        self.agent = {"id": 1, "name": "Ada", "role": "admin", "group_ids": [1, 2]}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def run(self) -> None:
        return None

    async def command(self, name: str, /, *, timeout: float | None = None,
                      command_id: str | None = None, **args: Any) -> Any:
        self.calls.append((name, args))
        answer = self.answers.get(name)
        if isinstance(answer, CommandError):
            raise answer
        if answer is None:
            raise CommandError("unknown_command", f"no canned answer for {name}")
        return copy.deepcopy(answer)

    def announce(self, ticket_id: int | None, activity: str = "viewing") -> None:
        return None

    async def close(self) -> None:
        return None


class AdminApp(App[None]):
    """Just the admin screen (or the wizard) over canned answers."""

    def __init__(self, screen: str = "admin", tab: str = "accounts",
                 answers: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.client = CannedClient()
        if answers is not None:
            self.client.answers = {**CANNED, **answers}
        self.which, self.tab = screen, tab

    def on_mount(self) -> None:
        if self.which == "wizard":
            self.push_screen(ConnectWizard(self.client))
        else:
            self.push_screen(AdminScreen(self.client, initial=self.tab))


async def test_canned_troubleshooting_keys_follow_the_highlight() -> None:
    app = AdminApp(tab="troubleshoot")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.screen.query_one(TroubleshootPane)
        await until(pilot, lambda: pane.loaded, what="checks")
        assert pane.highlighted_fix() is not None  # the first problem is highlighted
        assert app.screen.active_bindings["f"].enabled
        await pilot.press("down")
        assert pane.highlighted_fix() is None
        await pilot.press("f")
        await pilot.pause()
        assert "Nothing to fix here" in toasts(app) or \
            not app.screen.active_bindings["f"].enabled
        assert [name for name, _ in app.client.calls].count("repoint_number") == 0
        await pilot.press("r")
        await until(pilot, lambda: [n for n, _ in app.client.calls].count("troubleshoot") == 2,
                    what="re-run")


async def test_canned_wizard_shows_what_failed_to_repoint() -> None:
    app = AdminApp("wizard")
    async with app.run_test(size=(110, 36)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, ConnectWizard)
        wizard.query_one("#wizard-sid", Input).value = ACCOUNT["sid"]
        wizard.query_one("#wizard-token", Input).value = "secret-token"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: wizard.step == "step-numbers", what="step 2")
        await pilot.press("space", "ctrl+s")
        await until(pilot, lambda: wizard.step == "step-result", what="step 3")
        assert "Twilio refused: no such number" in static_text(wizard, "#wizard-result")
        name, args = app.client.calls[-1]
        assert (name, args["name"], args["number_sids"]) == ("connect_account", "Acme trial",
                                                             ["PN1"])


def wizard_to(step: str) -> Callable[[Pilot[Any]], Any]:
    async def run(pilot: Pilot[Any]) -> None:
        wizard = pilot.app.screen
        assert isinstance(wizard, ConnectWizard)
        await pilot.press(*"Acme")
        wizard.query_one("#wizard-sid", Input).value = ACCOUNT["sid"]
        wizard.query_one("#wizard-token", Input).value = "secret-token"
        if step == "credentials":
            wizard.query_one("#wizard-sid", Input).value = "AC12"
            return
        await pilot.press("ctrl+s")
        await until(pilot, lambda: wizard.step == "step-numbers", what="step 2")
        await pilot.press("space")
        if step == "result":
            await pilot.press("ctrl+s")
            await until(pilot, lambda: wizard.step == "step-result", what="step 3")
        await pilot.pause()

    return run


def settle(tab: str) -> Callable[[Pilot[Any]], Any]:
    async def run(pilot: Pilot[Any]) -> None:
        screen = pilot.app.screen
        assert isinstance(screen, AdminScreen)
        await until(pilot, lambda: screen.pane(tab).loaded, what=f"{tab} loaded")
        await pilot.pause()

    return run


@pytest.mark.parametrize("tab", ["accounts", "numbers", "troubleshoot", "people"])
def test_snapshot_admin_tabs(snap_compare: Any, tab: str) -> None:
    assert snap_compare(AdminApp(tab=tab), terminal_size=(130, 30), run_before=settle(tab))


@pytest.mark.parametrize("step", ["credentials", "numbers", "result"])
def test_snapshot_wizard(snap_compare: Any, step: str) -> None:
    assert snap_compare(AdminApp("wizard"), terminal_size=(110, 32), run_before=wizard_to(step))


def test_snapshot_token_shown_once(snap_compare: Any) -> None:
    app = AdminApp(tab="people")

    async def show(pilot: Pilot[Any]) -> None:
        await settle("people")(pilot)
        pilot.app.push_screen(TokenShownScreen("Cy", "sd_" + "x" * 40))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 24), run_before=show)


async def test_canned_refusal_is_a_toast(monkeypatch: pytest.MonkeyPatch) -> None:
    app = AdminApp(answers={"list_accounts": CommandError("forbidden", "admins only")})
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: "Could not load the accounts: admins only" in toasts(app),
                    what="the toast")
        assert isinstance(app.screen, AdminScreen)


async def test_another_admins_change_shows_in_the_open_tab(desk: LiveDesk) -> None:
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, app)
        await pilot.press("2")
        table = screen.query_one("#numbers-table", DataTable)
        await until(pilot, lambda: table.row_count == 2, what="numbers")
        from tui.client import RelayClient

        other = RelayClient(desk.ws_url, desk.admin_token, backoff=(0.05,))
        task = asyncio.create_task(other.run())
        try:
            await other.wait_live(5)
            numbers = await other.command("list_numbers")
            us = next(n for n in numbers if n["e164"] == US_TOLL_FREE)
            await other.command("update_number", number_id=us["id"], friendly_name="Front desk")
            await until(pilot, lambda: any("Front desk" in " ".join(row)
                                           for row in table_cells(table)),
                        what="the other admin's rename in the numbers tab")
        finally:
            await other.close()
            await task
