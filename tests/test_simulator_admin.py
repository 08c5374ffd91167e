"""The simulator endpoints the admin's repairs need: verified caller IDs in Twilio's wire
format (checked against the OpenAPI description) and a number getting a new SID."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import requests

from server.simulator import Simulator

OAI = Path("/work/shared/twilio-oai/twilio_api_v2010.json")


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    running = Simulator()
    await running.start(host="127.0.0.1", port=0)
    try:
        yield running
    finally:
        await running.stop()


def _schema(name: str) -> dict[str, Any]:
    return json.loads(OAI.read_text())["components"]["schemas"][name]


def _list_response(path: str) -> dict[str, Any]:
    get = json.loads(OAI.read_text())["paths"][path]["get"]
    return get["responses"]["200"]["content"]["application/json"]["schema"]


async def test_outgoing_caller_ids_as_twilio_lists_them(sim: Simulator) -> None:
    account = sim.add_account(friendly_name="Trial", type="Trial")
    account.verified.update({"+447700900123", "+12025550123"})
    url = f"{sim.url}/2010-04-01/Accounts/{account.sid}/OutgoingCallerIds.json"
    answer = await asyncio.to_thread(requests.get, url, auth=(account.sid, account.auth_token))
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert set(page) == set(_list_response("/2010-04-01/Accounts/{AccountSid}/"
                                           "OutgoingCallerIds.json")["properties"])
    items = page["outgoing_caller_ids"]
    assert [i["phone_number"] for i in items] == ["+12025550123", "+447700900123"]
    assert set(items[0]) == set(_schema("api.v2010.account.outgoing_caller_id")["properties"])
    assert items[0]["sid"].startswith("PN") and len(items[0]["sid"]) == 34
    assert items[0]["account_sid"] == account.sid
    one = await asyncio.to_thread(requests.get, url, params={"PhoneNumber": "+447700900123"},
                                  auth=(account.sid, account.auth_token))
    assert [i["phone_number"] for i in one.json()["outgoing_caller_ids"]] == ["+447700900123"]
    refused = await asyncio.to_thread(requests.get, url, auth=(account.sid, "wrong"))
    assert refused.status_code == 401


async def test_a_number_gets_a_new_sid_and_the_old_one_is_gone(sim: Simulator) -> None:
    account = sim.add_account()
    number = sim.add_number(account.sid, "+18885550100")
    old = number.sid
    answer = await asyncio.to_thread(requests.post, sim.url + "/_sim/reissue-number-sid",
                                     json={"phone": "+18885550100"})
    assert answer.status_code == 200 and answer.json()["sid"] != old
    base = f"{sim.url}/2010-04-01/Accounts/{account.sid}/IncomingPhoneNumbers"
    gone = await asyncio.to_thread(requests.get, f"{base}/{old}.json",
                                   auth=(account.sid, account.auth_token))
    assert gone.status_code == 404 and gone.json()["code"] == 20404
    bad = await asyncio.to_thread(requests.post, sim.url + "/_sim/reissue-number-sid",
                                  json={"phone": "+19999999999"})
    assert bad.status_code == 400
