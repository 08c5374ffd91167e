"""The whole admin path (issue 9, "done means"): the wizard with every kind of account the
simulator has, then numbers, people, troubleshooting with a repair, disconnect and reconnect.

One inbox, one relay, one simulator, driven with Pilot by the keys an admin presses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import LiveDesk, live_desk, until
from test_admin_troubleshoot_tui import option_of, rerun
from test_tui_admin import SIZE, open_admin, toasts
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, SelectionList, Static

from core import queries
from server.simulator.api import reissue_number_sid
from tui.app import InboxApp
from tui.screens.admin.admin import AdminScreen
from tui.screens.admin.people import TokenShownScreen
from tui.screens.admin.troubleshoot import TroubleshootPane
from tui.screens.admin.wizard import ConnectWizard
from tui.screens.pickers import ConfirmScreen, TextPromptScreen

FRENCH_CUSTOMER = "+33612345678"
VERIFIED = "+12025550123"
TRIAL_NUMBER, LOW_NUMBER = "+18445550101", "+18335550102"
GEO_NUMBER, UNREGISTERED_NUMBER = "+18665550103", "+14155550104"


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


def text_of(screen: Any, selector: str) -> str:
    content = screen.query_one(selector, Static).content
    return getattr(content, "plain", str(content))


def rows(table: DataTable[Any]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def wizard(pilot: Pilot[Any], screen: AdminScreen, name: str, sid: str,
                 token: str) -> ConnectWizard:
    """Accounts tab, c, the credentials as pasted from the Twilio console, Next."""
    app = pilot.app
    await pilot.press("1")
    await until(pilot, lambda: app.screen is screen and screen.tabs.active == "accounts",
                what="the accounts tab")
    await pilot.press("c")
    found = await until(pilot, lambda: isinstance(app.screen, ConnectWizard) and app.screen,
                        what="the wizard")
    found.query_one("#wizard-name", Input).value = name
    found.query_one("#wizard-sid", Input).value = sid
    found.query_one("#wizard-token", Input).value = token
    await pilot.press("ctrl+s")
    return found


async def complete(pilot: Pilot[Any], found: ConnectWizard, screen: AdminScreen) -> str:
    await until(pilot, lambda: found.step == "step-numbers", what="step 2")
    warnings = text_of(found, "#wizard-warnings") + text_of(found, "#wizard-no-numbers")
    await pilot.press("ctrl+s")
    await until(pilot, lambda: found.step == "step-result", what="step 3")
    await pilot.press("enter")
    await until(pilot, lambda: pilot.app.screen is screen, what="back on the admin screen")
    return warnings


async def refused(pilot: Pilot[Any], found: ConnectWizard, screen: AdminScreen,
                  words: str) -> None:
    await until(pilot, lambda: words in text_of(found, "#wizard-error"), what=words)
    assert found.step == "step-credentials"
    await pilot.press("escape")
    await until(pilot, lambda: pilot.app.screen is screen, what="back on the admin screen")


async def test_the_whole_admin_path_with_every_kind_of_account(desk: LiveDesk) -> None:
    sim, store = desk.sim, desk.relay.store
    trial = sim.add_account(friendly_name="Trial shop", type="Trial")
    trial.verified.add(VERIFIED)
    sim.add_number(trial.sid, TRIAL_NUMBER)
    suspended = sim.add_account(friendly_name="Late payer", status="suspended")
    closed = sim.add_account(friendly_name="Gone", status="closed")
    empty = sim.add_account(friendly_name="Empty")
    low = sim.add_account(friendly_name="Low", balance="1.50")
    sim.add_number(low.sid, LOW_NUMBER)
    geo = sim.add_account(friendly_name="Geo")
    geo.geo_blocked.add("FR")
    sim.add_number(geo.sid, GEO_NUMBER)
    unregistered = sim.add_account(friendly_name="Unregistered")
    sim.add_number(unregistered.sid, UNREGISTERED_NUMBER, a2p_registered=False)

    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, app)
        # --- the wizard, once per kind of account
        warned = await complete(pilot, await wizard(pilot, screen, "Trial", trial.sid,
                                                    trial.auth_token), screen)
        assert "Trial account" in warned
        await refused(pilot, await wizard(pilot, screen, "Late", suspended.sid,
                                          suspended.auth_token), screen, "suspended")
        await refused(pilot, await wizard(pilot, screen, "Gone", closed.sid, closed.auth_token),
                      screen, "20003")
        warned = await complete(pilot, await wizard(pilot, screen, "Empty", empty.sid,
                                                    empty.auth_token), screen)
        assert "Buy a number" in warned
        warned = await complete(pilot, await wizard(pilot, screen, "Low", low.sid,
                                                    low.auth_token), screen)
        assert "balance is low" in warned
        await complete(pilot, await wizard(pilot, screen, "Geo", geo.sid, geo.auth_token),
                       screen)
        await complete(pilot, await wizard(pilot, screen, "Unregistered", unregistered.sid,
                                           unregistered.auth_token), screen)
        accounts = screen.query_one("#accounts-table", DataTable)
        await until(pilot, lambda: {r[0] for r in rows(accounts)} == {
            "Acme", "Trial", "Empty", "Low", "Geo", "Unregistered"}, what="six accounts")

        # --- the geo-blocked account: the admin records its geo permissions (XX refused)
        accounts.move_cursor(row=[r[0] for r in rows(accounts)].index("Geo"))
        await pilot.press("g")
        prompt = await until(pilot, lambda: isinstance(app.screen, TextPromptScreen)
                             and app.screen, what="geo prompt")
        prompt.query_one("#prompt-input", Input).value = "US, XX"
        await pilot.press("enter")
        assert "not a country" in text_of(prompt, "#prompt-error")
        prompt.query_one("#prompt-input", Input).value = "US"
        await pilot.press("enter")
        await until(pilot, lambda: rows(accounts)[accounts.cursor_row][6] == "US",
                    what="geo permissions shown")
        await sim.text(FRENCH_CUSTOMER, GEO_NUMBER, "Bonjour")

        # --- numbers: every connected number is listed
        await pilot.press("2")
        numbers = screen.query_one("#numbers-table", DataTable)
        await until(pilot, lambda: numbers.row_count == 6 and numbers.has_focus, what="numbers")

        # --- people: a new agent, token shown once
        await pilot.press("4")
        agents = screen.query_one("#agents-table", DataTable)
        await until(pilot, lambda: agents.row_count == 2 and agents.has_focus, what="agents")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen), what="name")
        app.screen.query_one("#prompt-input", Input).value = "Cy"
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.__class__.__name__ == "ChoiceScreen", what="role")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.__class__.__name__ == "GroupsPickScreen",
                    what="groups")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, TokenShownScreen), what="token")
        await pilot.press("enter")
        await until(pilot, lambda: any(r[0] == "Cy" for r in rows(agents)), what="Cy")

        # --- troubleshooting: every problem found, then repaired from here
        reissued = reissue_number_sid(sim.state, GEO_NUMBER)
        reissued.sms_url = "https://elsewhere.example/sms"
        await pilot.press("3")
        pane = screen.query_one(TroubleshootPane)
        await until(pilot, lambda: pane.loaded and not pane.running, what="the checks",
                    timeout=15)
        titles = {(c["subject"].split(" ")[0], c["check"]): c for c in pane.checks}
        assert titles[("Trial", "trial")]["level"] == "warning"
        assert titles[("Low", "balance")]["level"] == "warning"
        assert "France" in titles[("Geo", "geo")]["title"]
        assert titles[(UNREGISTERED_NUMBER, "a2p_10dlc")]["level"] == "problem"
        assert titles[(GEO_NUMBER, "webhooks")]["action"] == "repoint"
        pane.options.highlighted = option_of(
            pane, lambda c: c["check"] == "webhooks" and GEO_NUMBER in c["subject"])
        await pilot.press("f")
        await until(pilot, lambda: "Webhooks repointed" in toasts(app), what="repointed")
        assert reissued.sms_url == desk.relay.public_url + "/twilio/inbound"
        # ...and the A2P 10DLC problem: registered in Twilio, then marked so in numbers
        await pilot.press("2")
        await until(pilot, lambda: numbers.has_focus, what="numbers")
        numbers.move_cursor(row=[r[0] for r in rows(numbers)].index(UNREGISTERED_NUMBER))
        await pilot.press("a")
        await until(pilot, lambda: "A2P 10DLC registered" in toasts(app), what="registered")
        await pilot.press("3")
        await until(pilot, lambda: pane.has_focus_within, what="troubleshooting")
        await rerun(pilot, pane)
        assert [c["level"] for c in pane.checks if c["check"] == "a2p_10dlc"
                and UNREGISTERED_NUMBER in c["subject"]] == ["ok"]

        # --- disconnect gives the webhooks back; reconnecting (o) takes them again
        await pilot.press("1")
        await until(pilot, lambda: accounts.has_focus, what="accounts")
        accounts.move_cursor(row=[r[0] for r in rows(accounts)].index("Low"))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await until(pilot, lambda: rows(accounts)[accounts.cursor_row][4] == "no",
                    what="disconnected")
        low_number = sim.state.number_by_phone(LOW_NUMBER)
        assert low_number is not None and low_number.sms_url == ""
        await pilot.press("o")
        again = await until(pilot, lambda: isinstance(app.screen, ConnectWizard)
                            and app.screen, what="the reconnect wizard")
        assert again.query_one("#wizard-sid", Input).value == low.sid
        again.query_one("#wizard-token", Input).value = low.auth_token
        await pilot.press("enter")
        await until(pilot, lambda: again.step == "step-numbers", what="step 2")
        assert "disconnected from smsdesk" in text_of(again, "#wizard-warnings")
        assert again.query_one("#wizard-numbers", SelectionList).selected == [
            low_number.sid]
        await pilot.press("ctrl+s")
        await until(pilot, lambda: again.step == "step-result", what="step 3")
        await pilot.press("enter")
        await until(pilot, lambda: rows(accounts)[accounts.cursor_row][4] == "yes",
                    what="connected again")
        assert low_number.sms_url == desk.relay.public_url + "/twilio/inbound"
    stored = {a.name: a for a in await store.read(queries.accounts)}
    assert stored["Trial"].verified_caller_ids == (VERIFIED,)
    assert stored["Geo"].geo_permissions == ("US",)
    assert {n.e164: n.sid for n in await store.read(queries.numbers)}[GEO_NUMBER] == \
        reissued.sid
