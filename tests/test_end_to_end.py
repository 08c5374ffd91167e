"""The relay and the Twilio simulator together, over loopback, through the real twilio SDK."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from desk_harness import UK_LONG_CODE, US_TOLL_FREE, free_port
from relay_harness import AgentClient, Harness

from core import auth, queries, writes
from core.models import Role
from server import admin
from server.config import Paths
from server.relay import bound_port, running_relay
from server.simulator.customers import demo_png
from server.simulator.runner import Simulator

CUSTOMER = "+12015550123"


@dataclass
class Desk:
    sim: Simulator
    relay: Harness
    account_sid: str


@pytest.fixture
async def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Desk]:
    sim = Simulator()
    await sim.start(host="127.0.0.1", port=0)
    monkeypatch.setenv("SMSDESK_TWILIO_API_URL", sim.url)
    account = sim.add_account(friendly_name="Acme")
    sim.add_number(account.sid, US_TOLL_FREE, mms=True)
    sim.add_number(account.sid, UK_LONG_CODE, mms=False)
    paths = Paths(tmp_path)
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    try:
        async with running_relay(paths, public_url=public, host="127.0.0.1",
                                 port=port) as (relay, server):
            connected = await admin.add_account(paths, name="Acme", sid=account.sid,
                                                token=account.auth_token)
            assert connected.repointed
            token = auth.new_token()
            await relay.store.write(writes.add_agent, name="Bo", role=Role.AGENT,
                                    token_hash=auth.hash_token(token))
            harness = Harness(relay, f"http://127.0.0.1:{bound_port(server)}", "", token)
            yield Desk(sim, harness, account.sid)
    finally:
        await sim.stop()


async def _caught_up(agent: AgentClient) -> None:
    await agent.until("caught_up")


async def _event(agent: AgentClient, kind: str, **match: object) -> dict:
    while True:
        event = await agent.until("event", timeout=10)
        if event["kind"] != kind:
            continue
        message = event["payload"].get("message", {})
        if all(message.get(k) == v for k, v in match.items()):
            return event


async def test_account_add_imports_numbers_and_points_their_webhooks(desk: Desk) -> None:
    numbers = await desk.relay.relay.store.read(queries.numbers)
    assert {n.e164: n.mms for n in numbers} == {US_TOLL_FREE: True, UK_LONG_CODE: False}
    for number in desk.sim.state.numbers.values():
        assert number.sms_url == desk.relay.relay.public_url + "/twilio/inbound"


async def test_bad_credentials_are_explained(desk: Desk, tmp_path: Path) -> None:
    with pytest.raises(admin.AdminError, match="20003"):
        await admin.add_account(Paths(tmp_path / "other"), name="x", sid=desk.account_sid,
                                token="0" * 32)


async def test_a_text_reaches_the_agent_and_a_reply_round_trips_to_delivered(desk: Desk) -> None:
    async with desk.relay.agent() as agent:
        await _caught_up(agent)
        sent = await desk.sim.text(CUSTOMER, US_TOLL_FREE, "Where is my parcel?")
        assert sent.status == 200
        created = await _event(agent, "ticket.created", twilio_sid=sent.sid)
        ticket_id = created["ticket_id"]
        reply = await agent.command("reply", ticket_id=ticket_id, body="It ships today.")
        message_id = reply["result"]["id"]
        delivered = await _event(agent, "message.updated", id=message_id, status="delivered")
        sid = delivered["payload"]["message"]["twilio_sid"]
    outbound = [m for m in desk.sim.messages if m.sid == sid]
    assert len(outbound) == 1  # sent exactly once
    assert (outbound[0].to, outbound[0].from_, outbound[0].body) == (
        CUSTOMER, US_TOLL_FREE, "It ships today.")


async def test_an_undelivered_reply_carries_twilios_error(desk: Desk) -> None:
    desk.sim.state.knobs.fail_to[CUSTOMER] = 30003
    async with desk.relay.agent() as agent:
        await _caught_up(agent)
        sent = await desk.sim.text(CUSTOMER, US_TOLL_FREE, "hello?")
        ticket_id = (await _event(agent, "ticket.created", twilio_sid=sent.sid))["ticket_id"]
        reply = await agent.command("reply", ticket_id=ticket_id, body="Hi!")
        failed = await _event(agent, "message.updated", id=reply["result"]["id"],
                              status="undelivered")
        assert failed["payload"]["message"]["error_code"] == 30003
        assert failed["payload"]["error"]["code"] == 30003
        assert failed["payload"]["error"]["action"]  # what to do, from the catalog


async def test_inbound_mms_is_fetched_and_served_to_agents(desk: Desk) -> None:
    image = demo_png()
    async with desk.relay.agent() as agent:
        await _caught_up(agent)
        sent = await desk.sim.text(CUSTOMER, US_TOLL_FREE, "photo of the damage",
                                   media=[("image/png", image)])
        assert sent.status == 200
        created = await _event(agent, "ticket.created", twilio_sid=sent.sid)
        media = created["payload"]["message"]["media"]
        assert [(m["content_type"], m["size"]) for m in media] == [("image/png", len(image))]
        fetched = await agent.command("fetch_media", sha256=media[0]["sha256"])
        assert base64.b64decode(fetched["result"]["data"]) == image


async def test_outbound_mms_is_served_to_twilio_by_an_unguessable_url(desk: Desk) -> None:
    image = demo_png()
    async with desk.relay.agent() as agent:
        await _caught_up(agent)
        sent = await desk.sim.text(CUSTOMER, US_TOLL_FREE, "can you send the form?")
        ticket_id = (await _event(agent, "ticket.created", twilio_sid=sent.sid))["ticket_id"]
        upload = await agent.command("upload_media", content_type="image/png",
                                     data=base64.b64encode(image).decode(), filename="form.png")
        reply = await agent.command("reply", ticket_id=ticket_id, body="Here it is",
                                    media=[upload["result"]])
        assert reply["type"] == "result", reply
        await _event(agent, "message.updated", id=reply["result"]["id"], status="delivered")
    outbound = [m for m in desk.sim.messages if m.body == "Here it is"]
    assert len(outbound) == 1
    url = outbound[0].media[0].url
    path = url.removeprefix(desk.relay.relay.public_url)
    assert (await desk.relay.get(path)) == (200, image)
    assert (await desk.relay.get(path[:-4] + "0000"))[0] == 404


async def test_attachments_on_an_sms_only_number_are_refused_before_twilio(desk: Desk) -> None:
    async with desk.relay.agent() as agent:
        await _caught_up(agent)
        sent = await desk.sim.text("+447400900123", UK_LONG_CODE, "hello from London")
        ticket_id = (await _event(agent, "ticket.created", twilio_sid=sent.sid))["ticket_id"]
        upload = await agent.command("upload_media", content_type="image/png",
                                     data=base64.b64encode(demo_png()).decode())
        refused = await agent.command("reply", ticket_id=ticket_id, body="see attached",
                                      media=[upload["result"]])
        assert refused["code"] == "refused"
        assert "SMS-only" in refused["message"]
    assert not [m for m in desk.sim.messages if m.body == "see attached"]


async def test_stop_opts_the_customer_out_everywhere(desk: Desk) -> None:
    async with desk.relay.agent() as agent:
        await _caught_up(agent)
        await desk.sim.text(CUSTOMER, US_TOLL_FREE, "hi")
        await desk.sim.text(CUSTOMER, US_TOLL_FREE, "STOP")
        contact = await _contact_event(agent)
        assert contact["payload"]["contact"]["opted_out"] is True


async def _contact_event(agent: AgentClient) -> dict:
    while True:
        event = await agent.until("event", timeout=10)
        if event["kind"] == "contact.updated":
            return event


async def test_a_reply_in_doubt_after_a_crash_is_reconciled_not_resent(desk: Desk) -> None:
    relay = desk.relay.relay
    sent = await desk.sim.text(CUSTOMER, US_TOLL_FREE, "anyone?")
    assert sent.status == 200
    message = await relay.store.read(queries.message_by_sid, sent.sid)
    assert message is not None
    # Simulate a crash right after Twilio accepted the send: Twilio has it, we never
    # recorded its SID, and the message sits in 'sending'.
    reply = await relay.store.write(writes.queue_outbound, ticket_id=message.ticket_id,
                                    agent_id=None, body="Yes, here.")
    await relay.store.write(writes.mark_sending, reply.id)
    from server import twilio_api

    account = desk.sim.state.accounts[desk.account_sid]
    await asyncio.to_thread(twilio_api.send_message, desk.account_sid, account.auth_token,
                            to=CUSTOMER, from_=US_TOLL_FREE, body="Yes, here.", media_urls=[],
                            status_callback=relay.public_url + "/twilio/status")
    relay.on_queued()
    for _ in range(200):
        current = await relay.store.read(queries.entry, reply.id)
        if current is not None and current.twilio_sid:
            break
        await asyncio.sleep(0.05)
    assert current is not None and current.twilio_sid
    assert len([m for m in desk.sim.messages if m.body == "Yes, here."]) == 1
