"""The admin commands over the websocket, against a real relay and the Twilio simulator.

Every frame a test receives is kept, so a test can check that no Twilio auth
token (or agent token, after it was answered once) ever travels back out.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import websockets
from desk_harness import UK_LONG_CODE, US_TOLL_FREE, LiveDesk, live_desk

from core import queries
from core.models import Account, PhoneNumber, SenderType
from core.protocol import COMMANDS, ListOf
from server import troubleshoot
from server.troubleshoot import AccountFacts, DeskFacts, Level, Reachability, judge
from server.twilio_api import AccountInfo, BalanceInfo, NumberInfo

CUSTOMER = "+12025550123"
US_LONG = "+14155550100"
US_LONG_2 = "+14155550101"
TOLL_FREE_2 = "+18445550199"


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Wire:
    """A raw websocket client that keeps every frame it receives."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.frames: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    async def receive(self, timeout: float = 10) -> dict[str, Any]:
        text = await asyncio.wait_for(self.socket.recv(), timeout)
        self.frames.append(text)
        message = json.loads(text)
        for item in message["items"] if message["type"] == "events" else [message]:
            if item["type"] == "event":
                self.events.append(item)
        return message

    async def call(self, command: str, /, *, command_id: str | None = None, **args: Any) -> Any:
        command_id = command_id or f"t{next(self._ids)}"
        await self.socket.send(json.dumps({"type": "command", "id": command_id, "name": command,
                                           "args": args}))
        while True:
            message = await self.receive()
            if message["type"] in ("result", "error") and message.get("id") == command_id:
                if message["type"] == "error":
                    raise Refused(message["code"], message["message"])
                return message["result"]

    async def event(self, kind: str) -> dict[str, Any]:
        while True:
            found = [e for e in self.events if e["kind"] == kind]
            if found:
                self.events.remove(found[0])
                return found[0]
            await self.receive()


@asynccontextmanager
async def wire(desk: LiveDesk, token: str | None = None) -> AsyncIterator[Wire]:
    """Logged in (the admin by default), with the whole event log replayed and kept."""
    async with websockets.connect(desk.ws_url) as socket:
        client = Wire(socket)
        await socket.send(json.dumps({"type": "hello", "version": 1,
                                      "token": token or desk.admin_token, "last_seq": 0}))
        first = await client.receive()
        if first["type"] == "error":
            raise Refused(first["code"], first["message"])
        while (await client.receive())["type"] != "caught_up":
            pass
        client.events.clear()  # the replay's frames stay in ``frames``, to be scanned
        yield client


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as live:
        yield live


def _remembered(desk: LiveDesk) -> str:
    with sqlite3.connect(desk.home / "relay" / "smsdesk.sqlite3") as conn:
        return json.dumps(conn.execute("SELECT result FROM command_results").fetchall())


def _sim_account(desk: LiveDesk, **kwargs: Any) -> Any:
    return desk.sim.add_account(friendly_name=kwargs.pop("friendly_name", "Shop"), **kwargs)


def _here(desk: LiveDesk) -> tuple[str, str]:
    base = desk.relay.public_url
    return base + "/twilio/inbound", base + "/twilio/status"


# --- check_account --------------------------------------------------------------------


async def test_check_account_shows_numbers_balance_and_warnings(desk: LiveDesk) -> None:
    trial = _sim_account(desk, type="Trial", balance="3.10")
    elsewhere = desk.sim.add_number(trial.sid, US_LONG, mms=False,
                                    sms_url="https://helpdesk.example/sms")
    desk.sim.add_number(trial.sid, TOLL_FREE_2)
    async with wire(desk) as admin:
        found = await admin.call("check_account", sid=trial.sid, token=trial.auth_token)
        assert await admin.call("list_accounts") and len(await admin.call("list_accounts")) == 1
    assert found["account"] == {"sid": trial.sid, "friendly_name": "Shop", "status": "active",
                                "type": "Trial"}
    assert found["balance"] == {"balance": "3.10", "currency": "USD"}
    offers = {n["e164"]: n for n in found["numbers"]}
    assert offers[US_LONG] == {"sid": elsewhere.sid, "e164": US_LONG,
                               "friendly_name": "(415) 555-0100", "mms": False,
                               "status": "in-use", "sms_url": "https://helpdesk.example/sms",
                               "status_callback": "", "points_here": False, "known": False}
    assert offers[TOLL_FREE_2]["mms"] is True
    warnings = " | ".join(found["warnings"])
    assert "verified" in warnings and "Sent from your Twilio trial account" in warnings
    assert "balance is low (3.10 USD)" in warnings
    assert "helpdesk.example/sms" in warnings  # connecting would take the number away
    assert "127.0.0.1" in warnings  # the desk's public URL is loopback
    assert trial.auth_token not in json.dumps(admin.frames)


async def test_check_account_says_what_is_wrong(desk: LiveDesk) -> None:
    good = _sim_account(desk)
    suspended = _sim_account(desk, status="suspended")
    closed = _sim_account(desk, status="closed")
    async with wire(desk) as admin:
        with pytest.raises(Refused) as wrong:
            await admin.call("check_account", sid=good.sid, token="0" * 32)
        assert wrong.value.code == "twilio"
        assert "20003" in wrong.value.message and "Keys & Credentials" in wrong.value.message
        with pytest.raises(Refused) as malformed:
            await admin.call("check_account", sid="AC123", token=good.auth_token)
        assert malformed.value.code == "bad_args" and "32 hexadecimal" in malformed.value.message
        with pytest.raises(Refused) as paused:
            await admin.call("check_account", sid=suspended.sid, token=suspended.auth_token)
        assert paused.value.code == "twilio" and "suspended" in paused.value.message
        with pytest.raises(Refused) as gone:  # Twilio answers 20003 for a closed account
            await admin.call("check_account", sid=closed.sid, token=closed.auth_token)
        assert gone.value.code == "twilio" and "20003" in gone.value.message
        empty = await admin.call("check_account", sid=good.sid, token=good.auth_token)
    assert empty["numbers"] == []
    assert any("Buy a number" in w for w in empty["warnings"])


# --- connect_account ------------------------------------------------------------------


async def test_connect_account_stores_repoints_and_is_done_once(desk: LiveDesk) -> None:
    shop = _sim_account(desk)
    long_code = desk.sim.add_number(shop.sid, US_LONG, mms=False)
    toll_free = desk.sim.add_number(shop.sid, TOLL_FREE_2)
    skipped = desk.sim.add_number(shop.sid, US_LONG_2)
    async with wire(desk) as admin:
        with pytest.raises(Refused) as none_chosen:
            await admin.call("connect_account", name="Shop", sid=shop.sid,
                             token=shop.auth_token, number_sids=[])
        assert none_chosen.value.code == "bad_args"
        with pytest.raises(Refused) as not_theirs:
            await admin.call("connect_account", name="Shop", sid=shop.sid,
                             token=shop.auth_token, number_sids=["PN" + "0" * 32])
        assert not_theirs.value.code == "bad_args"
        connected = await admin.call("connect_account", command_id="connect-1", name=" Shop ",
                                     sid=shop.sid, token=shop.auth_token,
                                     number_sids=[long_code.sid, toll_free.sid])
        seq = await desk.relay.store.read(queries.latest_seq)
        again = await admin.call("connect_account", command_id="connect-1", name="Shop",
                                 sid=shop.sid, token=shop.auth_token,
                                 number_sids=[long_code.sid, toll_free.sid])
        assert again == connected
        assert await desk.relay.store.read(queries.latest_seq) == seq  # nothing done twice
        await admin.event("account.updated")
        await admin.event("number.updated")
    account = connected["account"]
    assert account["name"] == "Shop" and account["sid"] == shop.sid and account["connected"]
    assert account["auth_token_hint"].endswith(shop.auth_token[-4:])
    assert sorted(connected["repointed"]) == [US_LONG, TOLL_FREE_2]
    assert connected["failed"] == [] and connected["note"] is None
    stored = {n["e164"]: n for n in connected["numbers"]}
    assert stored[US_LONG]["sender_type"] == "long_code" and stored[US_LONG]["country"] == "US"
    assert stored[US_LONG]["mms"] is False and stored[US_LONG]["sid"] == long_code.sid
    assert stored[TOLL_FREE_2]["sender_type"] == "toll_free" and stored[TOLL_FREE_2]["mms"]
    sms_url, status_callback = _here(desk)
    for number in (long_code, toll_free):
        assert (number.sms_url, number.status_callback) == (sms_url, status_callback)
    assert skipped.sms_url == ""
    accounts = await desk.relay.store.read(queries.accounts)
    assert [a.sid for a in accounts].count(shop.sid) == 1
    # Twilio now hands the new number's texts to the relay, signed with the stored token.
    assert (await desk.text("Hello shop", to=TOLL_FREE_2)).status == 200
    for secret in (shop.auth_token, *(a.auth_token for a in desk.sim.state.accounts.values())):
        assert secret not in json.dumps(admin.frames)
        assert secret not in _remembered(desk)


async def test_connect_account_without_numbers_says_how_to_buy_one(desk: LiveDesk) -> None:
    bare = _sim_account(desk, type="Trial")
    async with wire(desk) as admin:
        connected = await admin.call("connect_account", name="Bare", sid=bare.sid,
                                     token=bare.auth_token, number_sids=[])
    assert connected["numbers"] == [] and connected["repointed"] == []
    assert "Buy a number" in connected["note"] and "verified" in connected["note"]


async def test_connecting_a_connected_sid_updates_it(desk: LiveDesk) -> None:
    acme = next(iter(desk.sim.state.accounts.values()))
    extra = desk.sim.add_number(acme.sid, US_LONG, mms=False)
    async with wire(desk) as admin:
        [before] = await admin.call("list_accounts")
        connected = await admin.call("connect_account", name="Acme US", sid=acme.sid,
                                     token=acme.auth_token, number_sids=[extra.sid])
    assert connected["account"]["id"] == before["id"] and connected["account"]["name"] == "Acme US"
    assert len(await desk.relay.store.read(queries.accounts)) == 1
    assert {n.e164 for n in await desk.relay.store.read(queries.numbers)} == {
        US_TOLL_FREE, UK_LONG_CODE, US_LONG}


# --- update / disconnect --------------------------------------------------------------


async def test_rotating_the_token_checks_it_with_twilio_first(desk: LiveDesk) -> None:
    acme = next(iter(desk.sim.state.accounts.values()))
    old, new = acme.auth_token, "9" * 32
    acme.auth_token = new  # rotated in the Twilio console: webhooks are now signed with it
    refused = await desk.sim.text(CUSTOMER, US_TOLL_FREE, "signed with the new token")
    assert refused.status == 403
    async with wire(desk) as admin:
        [account] = await admin.call("list_accounts")
        with pytest.raises(Refused) as wrong:
            await admin.call("update_account", account_id=account["id"], token=old)
        assert wrong.value.code == "twilio" and "20003" in wrong.value.message
        with pytest.raises(Refused) as nothing:
            await admin.call("update_account", account_id=account["id"])
        assert nothing.value.code == "bad_args"
        with pytest.raises(Refused) as bad_country:
            await admin.call("update_account", account_id=account["id"],
                             geo_permissions=["USA"])
        assert bad_country.value.code == "bad_args"
        for pasted in ("Ā" * 32, "9" * 16 + " " + "9" * 15, "9" * 31 + "\x00"):
            with pytest.raises(Refused) as not_a_token:  # never as far as Twilio's auth
                await admin.call("update_account", account_id=account["id"], token=pasted)
            assert not_a_token.value.code == "bad_args" and "auth token" in \
                not_a_token.value.message
        updated = await admin.call("update_account", account_id=account["id"], token=new,
                                   name="Acme Ltd", geo_permissions=["gb", "US"])
        with pytest.raises(Refused) as missing:
            await admin.call("update_account", account_id=999, name="x")
        assert missing.value.code == "not_found"
    assert updated["name"] == "Acme Ltd" and updated["geo_permissions"] == ["GB", "US"]
    assert updated["auth_token_hint"].endswith("9999")
    [stored] = await desk.relay.store.read(queries.accounts)
    assert stored.auth_token == new
    assert (await desk.text("signed with the new token")).status == 200
    assert new not in json.dumps(admin.frames) and old not in json.dumps(admin.frames)


async def test_disconnect_keeps_history_and_stops_replies(desk: LiveDesk) -> None:
    await desk.text("Where is my parcel?", from_=CUSTOMER)
    async with wire(desk) as admin:
        [account] = await admin.call("list_accounts")
        gone = await admin.call("disconnect_account", account_id=account["id"])
        tickets = (await admin.call("list_tickets"))["items"]
        with pytest.raises(Refused) as refused:
            await admin.call("reply", ticket_id=tickets[0]["ticket"]["id"], body="On its way")
    assert gone["account"]["connected"] is False and "auth_token" not in gone["account"]
    assert len(tickets) == 1
    assert refused.value.code == "refused"


# --- numbers --------------------------------------------------------------------------


async def test_update_number_changes_fields_and_tells_everyone(desk: LiveDesk) -> None:
    async with wire(desk) as admin, wire(desk, desk.agent_token) as agent:
        numbers = {n["e164"]: n for n in await admin.call("list_numbers")}
        number_id = numbers[US_TOLL_FREE]["id"]
        changed = await admin.call("update_number", number_id=number_id,
                                   default_group_id=desk.billing_id, csat=True,
                                   sender_type="long_code", a2p_registered=True, enabled=False,
                                   friendly_name=" Front desk ")
        seen = await agent.event("number.updated")
        cleared = await admin.call("update_number", number_id=number_id, default_group_id=None)
        for wrong, code in ((dict(sender_type="pager"), "bad_args"),
                            (dict(default_group_id=999), "not_found"), ({}, "bad_args")):
            with pytest.raises(Refused) as refused:
                await admin.call("update_number", number_id=number_id, **wrong)
            assert refused.value.code == code
        with pytest.raises(Refused) as missing:
            await admin.call("update_number", number_id=999, csat=True)
        assert missing.value.code == "not_found"
    assert (changed["default_group_id"], changed["csat"], changed["sender_type"],
            changed["a2p_registered"], changed["enabled"], changed["friendly_name"]) == (
        desk.billing_id, True, "long_code", True, False, "Front desk")
    assert seen["payload"]["number"] == changed
    assert cleared["default_group_id"] is None and cleared["csat"] is True


async def test_repoint_number_after_it_was_pointed_elsewhere(desk: LiveDesk) -> None:
    uk = desk.sim.state.number_by_phone(UK_LONG_CODE)
    assert uk is not None
    uk.sms_url, uk.status_callback = "https://old-helpdesk.example/sms", ""
    async with wire(desk) as admin:
        before = await admin.call("troubleshoot")
        [problem] = [c for c in before["checks"] if c["check"] == "webhooks"
                     and c["level"] == "problem"]
        assert problem["action"] == "repoint" and "old-helpdesk" in problem["detail"]
        done = await admin.call("repoint_number", command_id="rp-1",
                                number_id=problem["number_id"])
        assert await admin.call("repoint_number", command_id="rp-1",
                                number_id=problem["number_id"]) == done
        after = await admin.call("troubleshoot")
        with pytest.raises(Refused) as missing:
            await admin.call("repoint_number", number_id=999)
        assert missing.value.code == "not_found"
    sms_url, status_callback = _here(desk)
    assert (done["sms_url"], done["status_callback"]) == (sms_url, status_callback)
    assert done["number"]["e164"] == UK_LONG_CODE
    assert (uk.sms_url, uk.status_callback) == (sms_url, status_callback)
    assert not [c for c in after["checks"] if c["check"] == "webhooks" and c["level"] != "ok"]


# --- troubleshoot ---------------------------------------------------------------------


async def test_troubleshoot_finds_each_problem_on_a_live_desk(desk: LiveDesk) -> None:
    acme = next(iter(desk.sim.state.accounts.values()))
    acme.balance = "1.25"
    unregistered = desk.sim.add_number(acme.sid, US_LONG, mms=False)
    trial = _sim_account(desk, friendly_name="Trial", type="Trial")
    desk.sim.state.knobs.fail_to[CUSTOMER] = 30003
    await desk.text("Hi, any news?", from_=CUSTOMER)
    async with wire(desk) as admin:
        await admin.call("connect_account", name="Acme", sid=acme.sid, token=acme.auth_token,
                         number_sids=[unregistered.sid])
        await admin.call("connect_account", name="Trial", sid=trial.sid, token=trial.auth_token,
                         number_sids=[])
        ticket = (await admin.call("list_tickets"))["items"][0]["ticket"]
        await admin.call("reply", ticket_id=ticket["id"], body="Not yet, sorry")
        for _ in range(200):  # the outbox sends; the simulator reports 30003
            if await desk.relay.store.read(troubleshoot.recent_failures, 0):
                break
            await asyncio.sleep(0.02)
        desk.sim.state.accounts[trial.sid].status = "suspended"
        report = await admin.call("troubleshoot")
    assert report["public_url"] == desk.relay.public_url
    checks = {(c["subject"].split(" ")[0], c["check"]): c for c in report["checks"]}
    relay = desk.relay.public_url
    assert checks[(relay, "https")]["level"] == "warning"
    assert checks[(relay, "public_address")]["level"] == "problem"
    assert checks[(relay, "reachable")]["level"] == "ok"
    assert checks[("Acme", "balance")]["level"] == "warning"
    assert "1.25" in checks[("Acme", "balance")]["title"]
    failures = checks[("Acme", "failures:30003")]
    assert failures["level"] == "warning" and failures["title"].startswith("1 message failed")
    assert checks[("Trial", "active")]["level"] == "problem"
    assert "suspended" in checks[("Trial", "active")]["detail"]
    assert checks[("Trial", "trial")]["level"] == "warning"
    assert checks[("Trial", "failures")]["level"] == "ok"
    a2p = checks[(US_LONG, "a2p_10dlc")]
    assert a2p["level"] == "problem" and "30034" in a2p["detail"]
    assert "Regulatory Compliance" in a2p["fix"]
    assert checks[(US_LONG, "uk")]["level"] == "info"
    assert checks[(US_LONG, "mms")]["title"] == "SMS only"
    assert checks[(US_TOLL_FREE, "toll_free")]["level"] == "info"
    assert checks[(UK_LONG_CODE, "uk")]["level"] == "ok"
    assert checks[(US_TOLL_FREE, "webhooks")]["level"] == "ok"
    assert all(c["level"] in ("ok", "info", "warning", "problem") for c in report["checks"])


async def test_troubleshoot_says_when_twilio_refuses_the_credentials(desk: LiveDesk) -> None:
    acme = next(iter(desk.sim.state.accounts.values()))
    acme.auth_token = "1" * 32
    async with wire(desk) as admin:
        report = await admin.call("troubleshoot")
    [credentials] = [c for c in report["checks"] if c["check"] == "credentials"]
    assert credentials["level"] == "problem" and "20003" in credentials["detail"]
    assert "Rotate" in credentials["fix"]
    # Without Twilio, the number checks that need it are left out; the local rules remain.
    assert not [c for c in report["checks"] if c["check"] in ("webhooks", "active")]
    assert [c for c in report["checks"] if c["check"] == "toll_free"]


def _account(**changes: Any) -> Account:
    return Account(**{"id": 1, "name": "Acme", "sid": "AC" + "1" * 32, "auth_token": "t",
                      **changes})


def _number(e164: str, sender: SenderType, country: str, **changes: Any) -> PhoneNumber:
    return PhoneNumber(**{"id": 7, "account_id": 1, "e164": e164, "sid": "PN1",
                          "sender_type": sender, "country": country, **changes})


def _levels(checks: list[troubleshoot.Check]) -> dict[str, Level]:
    return {c.check: c.level for c in checks}


def test_judging_needs_no_network() -> None:
    url = "https://desk.example.com"
    remote = NumberInfo("PN1", US_LONG, "", True, False, "in-use", url + "/twilio/inbound",
                        url + "/twilio/status")
    facts = AccountFacts(
        _account(), numbers=(_number(US_LONG, SenderType.LONG_CODE, "US", a2p_registered=True),),
        info=AccountInfo("AC", "Acme", "active", "Full"), balance=BalanceInfo("50.00", "USD"),
        remote_numbers=(remote,), failures=((30007, 4), (30003, 1)))
    checks = judge(DeskFacts(url, Reachability(True, "HTTP 200"), (facts,)))
    assert _levels(checks) == {
        "public_url": Level.OK, "https": Level.OK, "public_address": Level.OK,
        "reachable": Level.OK, "credentials": Level.OK, "active": Level.OK,
        "balance": Level.OK, "failures:30007": Level.WARNING, "failures:30003": Level.WARNING,
        "webhooks": Level.OK, "mms": Level.INFO, "uk": Level.INFO, "a2p_10dlc": Level.OK}
    titles = [c.title for c in checks if c.check.startswith("failures")]
    assert titles[0].startswith("4 messages failed with 30007")
    moved = AccountFacts(facts.account, numbers=facts.numbers, info=facts.info,
                         remote_numbers=())
    [gone] = [c for c in judge(DeskFacts(url, None, (moved,))) if c.check == "active"
              and c.scope == "number"]
    assert gone.level is Level.PROBLEM and "released" in gone.detail


def test_judging_the_relay_address() -> None:
    def levels(url: str, reachable: Reachability | None = None) -> dict[str, Level]:
        return _levels(list(troubleshoot.relay_checks(url, reachable)))

    assert levels("")["public_url"] is Level.PROBLEM
    for private in ("http://localhost:8000", "http://10.0.0.5", "https://192.168.1.20",
                    "http://[::1]:80", "https://desk.local"):
        assert levels(private)["public_address"] is Level.PROBLEM, private
    assert levels("https://desk.example.com")["public_address"] is Level.OK
    down = levels("https://desk.example.com", Reachability(False, "no answer (timed out)"))
    assert down["reachable"] is Level.PROBLEM


def test_judging_sender_rules() -> None:
    def levels(number: PhoneNumber) -> dict[str, Level]:
        facts = AccountFacts(_account(connected=False), numbers=(number,))
        return _levels([c for c in judge(DeskFacts("", None, (facts,))) if c.scope == "number"])

    assert levels(_number(US_LONG, SenderType.LONG_CODE, "US"))["a2p_10dlc"] is Level.PROBLEM
    toll_free = levels(_number(US_TOLL_FREE, SenderType.TOLL_FREE, "US", mms=True))
    assert (toll_free["toll_free"], toll_free["uk"], toll_free["mms"]) == (
        Level.INFO, Level.INFO, Level.OK)
    assert "a2p_10dlc" not in toll_free
    uk = levels(_number(UK_LONG_CODE, SenderType.LONG_CODE, "GB", enabled=False))
    assert (uk["uk"], uk["enabled"]) == (Level.OK, Level.INFO)
    assert "webhooks" not in uk  # a disconnected account's numbers are not asked about
    assert levels(_number("Acme", SenderType.ALPHANUMERIC, ""))["uk"] is Level.OK
    low = list(troubleshoot.account_checks(AccountFacts(
        _account(), info=AccountInfo("AC", "Acme", "active", "Trial"),
        balance=BalanceInfo("4.99", "USD"))))
    assert _levels(low)["balance"] is Level.WARNING and _levels(low)["trial"] is Level.WARNING


# --- agents and groups ----------------------------------------------------------------


async def test_add_agent_gives_a_token_that_logs_in(desk: LiveDesk) -> None:
    async with wire(desk) as admin:
        added = await admin.call("add_agent", command_id="add-cy", name="Cy", role="agent",
                                 group_ids=[desk.shipping_id])
        with pytest.raises(Refused) as twice:
            await admin.call("add_agent", name="cy", role="agent")
        assert twice.value.code == "refused"
        with pytest.raises(Refused) as bad_role:
            await admin.call("add_agent", name="Di", role="boss")
        assert bad_role.value.code == "bad_args"
        with pytest.raises(Refused) as no_group:
            await admin.call("add_agent", name="Di", role="agent", group_ids=[999])
        assert no_group.value.code == "not_found"
    token = added["token"]
    assert token.startswith("sd_") and "token_hash" not in added["agent"]
    assert added["agent"]["group_ids"] == [desk.shipping_id]
    async with wire(desk, token) as cy:
        assert cy.frames and json.loads(cy.frames[0])["agent"]["name"] == "Cy"
    assert token not in _remembered(desk)
    # Resent (its answer was lost): a fresh token replaces the unseen one; still one Cy.
    async with wire(desk) as admin:
        again = await admin.call("add_agent", command_id="add-cy", name="Cy", role="agent")
    assert again["agent"]["id"] == added["agent"]["id"] and again["token"] != token
    assert [a.name for a in await desk.relay.store.read(queries.agents)].count("Cy") == 1
    with pytest.raises(Refused):
        async with wire(desk, token):
            pass
    async with wire(desk, again["token"]):
        pass


async def test_update_agent_disables_and_protects_the_last_admin(desk: LiveDesk) -> None:
    async with wire(desk) as admin:
        agents = {a["name"]: a for a in await admin.call("list_agents")}
        bo, ada = agents["Bo"], agents["Ada"]
        for own in (dict(disabled=True), dict(role="agent")):
            with pytest.raises(Refused) as refused:
                await admin.call("update_agent", agent_id=ada["id"], **own)
            assert refused.value.code == "refused"
        changed = await admin.call("update_agent", agent_id=bo["id"], role="admin",
                                   group_ids=[desk.billing_id, desk.shipping_id])
        disabled = await admin.call("update_agent", agent_id=bo["id"], disabled=True)
        with pytest.raises(Refused) as missing:
            await admin.call("update_agent", agent_id=999, disabled=True)
        assert missing.value.code == "not_found"
    assert changed["role"] == "admin" and "token_hash" not in changed
    assert changed["group_ids"] == sorted([desk.billing_id, desk.shipping_id])
    assert disabled["disabled"] is True
    with pytest.raises(Refused) as refused_login:
        async with wire(desk, desk.agent_token):
            pass
    assert refused_login.value.code == "unauthorized"


async def test_groups_are_added_and_renamed(desk: LiveDesk) -> None:
    async with wire(desk) as admin, wire(desk, desk.agent_token) as agent:
        group = await admin.call("add_group", name="Returns")
        renamed = await admin.call("rename_group", group_id=group["id"], name="Refunds")
        assert (await agent.event("group.updated"))["payload"]["group"]["name"] == "Returns"
        assert (await agent.event("group.updated"))["payload"]["group"] == renamed
        for args, code in (({"group_id": group["id"], "name": "billing"}, "refused"),
                           ({"group_id": 999, "name": "x"}, "not_found"),
                           ({"group_id": group["id"], "name": "  "}, "refused")):
            with pytest.raises(Refused) as refused:
                await admin.call("rename_group", **args)
            assert refused.value.code == code
        listed = {g["name"] for g in await admin.call("list_groups")}
    assert renamed == {"id": group["id"], "name": "Refunds"}
    assert listed == {"Billing", "Shipping", "Refunds"}


# --- who may ---------------------------------------------------------------------------


def _dummy(expected: Any) -> Any:
    """A value of the expected type, so the command passes validation and reaches the relay."""
    if isinstance(expected, ListOf):
        return []
    kind = expected[0] if isinstance(expected, tuple) else expected
    return {int: 1, str: "AC" + "0" * 32, bool: False, dict: {}}[kind]


async def test_an_agent_is_refused_every_admin_command(desk: LiveDesk) -> None:
    admin_only = sorted(name for name, spec in COMMANDS.items() if spec.admin_only)
    assert {"connect_account", "troubleshoot", "add_agent", "rename_group"} <= set(admin_only)
    seq = await desk.relay.store.read(queries.latest_seq)
    async with wire(desk, desk.agent_token) as agent:
        for name in admin_only:
            args = {arg: _dummy(kind) for arg, kind in COMMANDS[name].required.items()}
            with pytest.raises(Refused) as refused:
                await agent.call(name, **args)
            assert refused.value.code == "forbidden", name
    assert await desk.relay.store.read(queries.latest_seq) == seq
