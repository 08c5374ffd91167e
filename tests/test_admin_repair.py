"""Issue 9, the admin's side: disconnect gives the webhooks back and loses no text,
reconnecting works (inbox and CLI), repair survives new SIDs, trial and geo preflight."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from desk_harness import US_TOLL_FREE, LiveDesk, live_desk
from test_admin_commands import CUSTOMER, Refused, wire

from core import queries
from core.models import Account
from server import admin, troubleshoot
from server.config import Paths
from server.simulator.api import reissue_number_sid
from server.twilio_api import (
    AccountInfo,
    TwilioRestException,
    find_number,
    point_number_found,
    verified_caller_ids,
)

OLD_SMS = "https://old-helpdesk.example/sms"
OLD_STATUS = "https://old-helpdesk.example/status"


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as live:
        yield live


def _here(desk: LiveDesk) -> tuple[str, str]:
    return desk.relay.public_url + "/twilio/inbound", desk.relay.public_url + "/twilio/status"


# --- 10: disconnect and disable -------------------------------------------------------


async def test_disconnect_gives_back_the_webhooks_it_found_and_reconnect_takes_them(
        desk: LiveDesk) -> None:
    shop = desk.sim.add_account(friendly_name="Shop")
    number = desk.sim.add_number(shop.sid, "+14155550100", sms_url=OLD_SMS)
    number.status_callback, number.sms_method = OLD_STATUS, "GET"
    async with wire(desk) as ws:
        connected = await ws.call("connect_account", name="Shop", sid=shop.sid,
                                  token=shop.auth_token, number_sids=[number.sid])
        assert (number.sms_url, number.status_callback) == _here(desk)
        gone = await ws.call("disconnect_account", account_id=connected["account"]["id"])
        assert gone["released"] == ["+14155550100"] and not gone["failed"]
        assert (number.sms_url, number.sms_method, number.status_callback) == \
            (OLD_SMS, "GET", OLD_STATUS)
        [stored] = [a for a in await ws.call("list_accounts") if a["sid"] == shop.sid]
        assert stored["connected"] is False
        # connected again from the inbox: same SID, token checked, numbers pointed here
        again = await ws.call("connect_account", name="Shop", sid=shop.sid,
                              token=shop.auth_token, number_sids=[number.sid])
        assert again["account"]["connected"] and again["repointed"] == ["+14155550100"]
        assert (number.sms_url, number.status_callback) == _here(desk)
        # ...and what it had before smsdesk is still what a second disconnect gives back
        await ws.call("disconnect_account", account_id=again["account"]["id"])
        assert number.sms_url == OLD_SMS


async def test_disconnect_clears_webhooks_smsdesk_did_not_find(desk: LiveDesk) -> None:
    shop = desk.sim.add_account(friendly_name="Shop")
    number = desk.sim.add_number(shop.sid, "+14155550100")
    async with wire(desk) as ws:
        connected = await ws.call("connect_account", name="Shop", sid=shop.sid,
                                  token=shop.auth_token, number_sids=[number.sid])
        await ws.call("disconnect_account", account_id=connected["account"]["id"])
    assert (number.sms_url, number.status_callback) == ("", "")


async def test_a_text_after_disconnect_is_kept_listed_and_opened_not_dropped(
        desk: LiveDesk) -> None:
    async with wire(desk) as ws:
        [account] = await ws.call("list_accounts")
        await ws.call("disconnect_account", account_id=account["id"])
        sim_number = desk.sim.state.number_by_phone(US_TOLL_FREE)
        assert sim_number is not None
        sim_number.sms_url = _here(desk)[0]  # Twilio still sends it here (a retry, a race)
        await desk.text("Are you still there?", from_=CUSTOMER)  # answered 200
        await desk.text("Are you still there?", from_=CUSTOMER)  # a second text, kept too
        assert (await ws.call("list_tickets"))["items"] == []
        checks = (await ws.call("troubleshoot"))["checks"]
        [held] = [c for c in checks if c["check"] == "held"]
        assert held["title"] == (f"2 texts arrived on {US_TOLL_FREE} after its account was"
                                 " disconnected")
        assert CUSTOMER in held["detail"] and "Are you still there?" in held["detail"]
        assert held["action"] == "open_held"
        opened = await ws.call("open_held_texts", number_id=held["number_id"])
        assert [o["from"] for o in opened["opened"]] == [CUSTOMER, CUSTOMER]
        tickets = (await ws.call("list_tickets"))["items"]
        assert len(tickets) == 1
        checks = (await ws.call("troubleshoot"))["checks"]
        assert not [c for c in checks if c["check"] == "held"]


async def test_a_text_to_a_disabled_number_is_held(desk: LiveDesk) -> None:
    async with wire(desk) as ws:
        numbers = await ws.call("list_numbers")
        [toll_free] = [n for n in numbers if n["e164"] == US_TOLL_FREE]
        await ws.call("update_number", number_id=toll_free["id"], enabled=False)
        await desk.text("Hello?", from_=CUSTOMER)
        assert (await ws.call("list_tickets"))["items"] == []
        checks = (await ws.call("troubleshoot"))["checks"]
        [held] = [c for c in checks if c["check"] == "held"]
        assert held["title"] == f"1 text arrived on {US_TOLL_FREE} after it was disabled"


async def test_the_cli_reconnects_a_disconnected_account(desk: LiveDesk) -> None:
    [account] = await desk.relay.store.read(queries.accounts)
    sim_account = desk.sim.state.accounts[account.sid]
    async with wire(desk) as ws:
        await ws.call("disconnect_account", account_id=account.id)
    sim_number = desk.sim.state.number_by_phone(US_TOLL_FREE)
    assert sim_number is not None and sim_number.sms_url == ""
    paths = Paths(desk.home / "relay")
    done = await admin.add_account(paths, name="Acme", sid=account.sid,
                                   token=sim_account.auth_token)
    assert done.repointed and "again" in done.account_name
    [again] = await desk.relay.store.read(queries.accounts)
    assert again.connected
    assert sim_number.sms_url == _here(desk)[0]
    with pytest.raises(admin.AdminError, match="already connected"):
        await admin.add_account(paths, name="Acme", sid=account.sid,
                                token=sim_account.auth_token)


# --- 11: repair when Twilio's SIDs change ---------------------------------------------


async def test_repoint_finds_a_number_by_e164_when_its_sid_changed(desk: LiveDesk) -> None:
    sim_number = reissue_number_sid(desk.sim.state, US_TOLL_FREE)
    sim_number.sms_url = "https://elsewhere.example/sms"
    async with wire(desk) as ws:
        [number] = [n for n in await ws.call("list_numbers") if n["e164"] == US_TOLL_FREE]
        assert number["sid"] != sim_number.sid
        done = await ws.call("repoint_number", number_id=number["id"])
        assert done["number"]["sid"] == sim_number.sid
        assert sim_number.sms_url == _here(desk)[0]


async def test_repoint_all_points_every_number_here(desk: LiveDesk) -> None:
    for phone in (US_TOLL_FREE, "+447400900456"):
        reissue_number_sid(desk.sim.state, phone).sms_url = "https://elsewhere.example/sms"
    async with wire(desk) as ws:
        done = await ws.call("repoint_all")
        assert done == {"repointed": ["+18885550100", "+447400900456"], "failed": []}
        checks = (await ws.call("troubleshoot"))["checks"]
    assert not [c for c in checks if c.get("action") == "repoint"]
    stored = {n.e164: n.sid for n in await desk.relay.store.read(queries.numbers)}
    assert all(desk.sim.state.numbers[sid].phone_number == e164 for e164, sid in stored.items())


async def test_point_number_found_raises_when_the_number_is_really_gone(
        desk: LiveDesk) -> None:
    account = next(iter(desk.sim.state.accounts.values()))
    with pytest.raises(TwilioRestException) as gone:
        await asyncio.to_thread(point_number_found, account.sid, account.auth_token,
                                "PN" + "0" * 32, "+15005550006", desk.relay.public_url)
    assert gone.value.code == 20404
    assert await asyncio.to_thread(find_number, account.sid, account.auth_token,
                                   "+15005550006") is None


# --- 12: trial, geo, public URL -------------------------------------------------------


async def test_verified_caller_ids_come_through_the_sdk(desk: LiveDesk) -> None:
    trial = desk.sim.add_account(friendly_name="Trial", type="Trial")
    trial.verified.update({"+12025550123", "+447700900123"})
    assert await asyncio.to_thread(verified_caller_ids, trial.sid, trial.auth_token) == [
        "+12025550123", "+447700900123"]


async def test_geo_permissions_must_name_real_countries(desk: LiveDesk) -> None:
    async with wire(desk) as ws:
        [account] = await ws.call("list_accounts")
        with pytest.raises(Refused, match="XX"):
            await ws.call("update_account", account_id=account["id"], geo_permissions=["XX"])
        [again] = await ws.call("list_accounts")
    assert again["geo_permissions"] == []


async def test_troubleshooting_names_customers_countries_not_enabled(desk: LiveDesk) -> None:
    await desk.text("Hello from the US", from_=CUSTOMER)
    await desk.text("Bonjour", from_="+33612345678")
    async with wire(desk) as ws:
        [account] = await ws.call("list_accounts")
        await ws.call("update_account", account_id=account["id"], geo_permissions=["US"])
        checks = (await ws.call("troubleshoot"))["checks"]
    [geo] = [c for c in checks if c["check"] == "geo"]
    assert geo["level"] == "problem" and "France (FR, 1 customer)" in geo["title"]
    assert "Messaging > Settings > Geo permissions" in geo["fix"]


async def test_the_local_public_url_says_why_and_what_to_do(desk: LiveDesk) -> None:
    async with wire(desk) as ws:
        checks = (await ws.call("troubleshoot"))["checks"]
    [where] = [c for c in checks if c["check"] == "public_address"]
    assert "cannot open an address on this machine" in where["detail"]
    assert "cloudflared tunnel --url" in where["fix"] and "docs/operations.md" in where["fix"]


async def test_a_stop_to_a_held_number_still_opts_the_customer_out(desk: LiveDesk) -> None:
    async with wire(desk) as ws:
        [toll_free] = [n for n in await ws.call("list_numbers") if n["e164"] == US_TOLL_FREE]
        await ws.call("update_number", number_id=toll_free["id"], enabled=False)
    await desk.text("STOP", from_=CUSTOMER)
    contact = await desk.relay.store.read(queries.contact_by_phone, CUSTOMER)
    assert contact is not None and contact.opted_out


async def test_the_cli_lists_a_disconnected_account_as_such(desk: LiveDesk) -> None:
    [account] = await desk.relay.store.read(queries.accounts)
    async with wire(desk) as ws:
        await ws.call("disconnect_account", account_id=account.id)
    lines = await admin.list_accounts(Paths(desk.home / "relay"))
    assert "disconnected" in lines[0] and "account add" in lines[0]


async def test_troubleshooting_keeps_a_trial_accounts_verified_numbers_current(
        desk: LiveDesk) -> None:
    trial = desk.sim.add_account(friendly_name="Trial", type="Trial")
    trial.verified.add(CUSTOMER)
    number = desk.sim.add_number(trial.sid, "+14155550100")
    async with wire(desk) as ws:
        connected = await ws.call("connect_account", name="Trial", sid=trial.sid,
                                  token=trial.auth_token, number_sids=[number.sid])
        assert connected["account"]["verified_caller_ids"] == [CUSTOMER]
        trial.verified.add("+12025550100")  # verified in the console meanwhile
        await ws.call("troubleshoot")
    stored = await desk.relay.store.read(queries.account_by_sid, trial.sid)
    assert stored is not None and stored.verified_caller_ids == ("+12025550100", CUSTOMER)


def test_judging_customers_countries_needs_no_network() -> None:
    account = Account(id=1, name="Acme", sid="AC" + "1" * 32, auth_token="t")
    info = AccountInfo(sid=account.sid, friendly_name="Acme", status="active", type="Full")

    def geo(permissions: tuple[str, ...]) -> troubleshoot.Check:
        facts = troubleshoot.AccountFacts(
            dataclasses.replace(account, geo_permissions=permissions), info=info,
            destinations=(("US", 3), ("FR", 1)))
        [check] = [c for c in troubleshoot.account_checks(facts) if c.check == "geo"]
        return check

    assert geo(()).level is troubleshoot.Level.INFO  # not recorded: said, not assumed
    assert geo(("US", "FR")).level is troubleshoot.Level.OK
    missing = geo(("US",))
    assert missing.level is troubleshoot.Level.PROBLEM
    assert missing.title == "Not enabled for France (FR, 1 customer)"


async def test_checking_a_trial_account_lists_its_verified_numbers(desk: LiveDesk) -> None:
    trial = desk.sim.add_account(friendly_name="Trial", type="Trial")
    trial.verified.add(CUSTOMER)
    async with wire(desk) as ws:
        found = await ws.call("check_account", sid=trial.sid, token=trial.auth_token)
    assert any(CUSTOMER in w and "verified numbers" in w for w in found["warnings"])
