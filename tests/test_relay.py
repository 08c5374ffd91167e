"""The relay end to end on loopback: signed webhooks in, agents' websocket out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from relay_harness import (
    ACCOUNT_SID,
    CUSTOMER,
    UK_LONG_CODE,
    Harness,
    relay_on_loopback,
    relay_restarted,
)

from core import queries, writes
from core.models import MessageStatus


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Harness]:
    async with relay_on_loopback(tmp_path) as harness:
        yield harness


async def test_health(relay: Harness) -> None:
    status, body = await relay.post("/healthz", {}, signature="")
    assert status == 405
    status, body = await relay.get("/healthz")
    assert status == 200
    assert b'"ok": true' in body


async def test_a_signed_text_is_stored_and_acknowledged_with_empty_twiml(relay: Harness) -> None:
    status, body = await relay.text("Where is my order?")
    assert status == 200
    assert b"<Response/>" in body
    page = await relay.relay.store.read(queries.list_tickets)
    assert [row.ticket.last_preview for row in page.items] == ["Where is my order?"]


async def test_forged_signature_is_403_and_stores_nothing(relay: Harness) -> None:
    params = {"MessageSid": relay.next_sid(), "AccountSid": ACCOUNT_SID, "From": CUSTOMER,
              "To": "+18885550100", "Body": "hi"}
    forged = relay.signed("/twilio/inbound", params, token="0" * 32)
    assert (await relay.post("/twilio/inbound", params, signature=forged))[0] == 403
    assert (await relay.post("/twilio/inbound", params, signature=""))[0] == 403
    unknown = {**params, "AccountSid": "AC" + "b2" * 16}
    assert (await relay.post("/twilio/inbound", unknown))[0] == 403
    assert await relay.relay.store.read(queries.count_tickets) == 0


async def test_signature_uses_the_public_url_not_the_host(relay: Harness) -> None:
    params = {"MessageSid": relay.next_sid(), "AccountSid": ACCOUNT_SID, "From": CUSTOMER,
              "To": "+18885550100", "Body": "hi"}
    from twilio.request_validator import RequestValidator

    by_host = RequestValidator("f" * 32).compute_signature(relay.url + "/twilio/inbound", params)
    assert (await relay.post("/twilio/inbound", params, signature=by_host))[0] == 403


async def test_duplicate_message_sid_is_acknowledged_once(relay: Harness) -> None:
    sid = relay.next_sid()
    assert (await relay.text("once", sid=sid))[0] == 200
    assert (await relay.text("once", sid=sid))[0] == 200
    events = await relay.relay.store.read(queries.events_after, 0)
    assert [e.kind for e in events].count("ticket.created") == 1


@pytest.mark.parametrize(
    ("change", "status"),
    [({"MessageSid": "nope"}, 400), ({"From": "12345"}, 400), ({"NumMedia": "x"}, 400),
     ({"NumMedia": "1"}, 400)],
)
async def test_malformed_webhooks_are_400(relay: Harness, change: dict[str, str],
                                          status: int) -> None:
    params = {"MessageSid": relay.next_sid(), "AccountSid": ACCOUNT_SID, "From": CUSTOMER,
              "To": "+18885550100", "Body": "hi", **change}
    assert (await relay.post("/twilio/inbound", params))[0] == status
    assert await relay.relay.store.read(queries.count_tickets) == 0


async def test_oversize_webhook_is_413(relay: Harness) -> None:
    params = {"MessageSid": relay.next_sid(), "AccountSid": ACCOUNT_SID, "From": CUSTOMER,
              "To": "+18885550100", "Body": "x" * 70_000}
    assert (await relay.post("/twilio/inbound", params))[0] == 413


async def test_agent_sees_new_texts_live_and_replays_after_reconnect(relay: Harness) -> None:
    async with relay.agent() as agent:
        welcome = await agent.receive()
        assert welcome["type"] == "welcome" and welcome["agent"]["name"] == "Bo"
        caught_up = await agent.until("caught_up")
        await relay.text("first")
        live = await agent.until("event")
        assert live["kind"] == "ticket.created"
        assert live["payload"]["message"]["body"] == "first"
        last = live["seq"]
    await relay.text("second while away")
    async with relay.agent(last_seq=last) as agent:
        await agent.receive()
        missed = await agent.until("event")
        assert missed["payload"]["message"]["body"] == "second while away"
        assert missed["seq"] > last >= caught_up["seq"]


async def test_bad_token_is_refused(relay: Harness) -> None:
    async with relay.agent(token="sd_wrong") as agent:
        refused = await agent.receive()
        assert refused == {"type": "error", "id": None, "code": "unauthorized",
                           "message": "that token is not valid"}


async def test_commands_list_reply_note_and_status(relay: Harness) -> None:
    await relay.text("Is it shipped?")
    async with relay.agent() as agent:
        await agent.until("caught_up")
        listed = await agent.command("list_tickets", limit=10)
        ticket = listed["result"]["items"][0]["ticket"]
        reply = await agent.command("reply", ticket_id=ticket["id"], body="Yes, this morning.")
        assert reply["result"]["status"] == "queued"
        again = await agent.command("reply", command_id="c2", ticket_id=ticket["id"],
                                    body="Yes, this morning.")
        assert again["result"]["id"] == reply["result"]["id"]  # same id: answered, not redone
        note = await agent.command("add_note", ticket_id=ticket["id"], body="VIP")
        assert note["result"]["body"] == "VIP"
        resolved = await agent.command("set_ticket", ticket_id=ticket["id"], status="resolved")
        assert resolved["result"]["status"] == "resolved"
        thread = await agent.command("get_thread", ticket_id=ticket["id"])
        assert [e["body"] for e in thread["result"]["items"]] == [
            "Is it shipped?", "Yes, this morning.", "VIP"]
        missing = await agent.command("get_thread", ticket_id=999)
        assert missing["code"] == "not_found"


async def test_reply_breaking_a_rule_is_refused_in_words(relay: Harness) -> None:
    await relay.text("hi", to=UK_LONG_CODE, from_="+447400900123")
    await relay.text("STOP")
    async with relay.agent() as agent:
        await agent.until("caught_up")
        rows = (await agent.command("list_tickets"))["result"]["items"]
        by_phone = {row["contact_phone"]: row["ticket"]["id"] for row in rows}
        refused = await agent.command("reply", ticket_id=by_phone[CUSTOMER], body="ok?")
        assert refused["code"] == "refused"
        assert "START" in refused["message"]


async def test_admin_commands_are_refused_for_agents(relay: Harness) -> None:
    async with relay.agent() as agent:
        await agent.until("caught_up")
        refused = await agent.command("list_accounts")
        assert refused["code"] == "forbidden"
        numbers = (await agent.command("list_numbers"))["result"]
        assert {n["account"]["sid"] for n in numbers} == {ACCOUNT_SID}  # the sending rules
        assert "f" * 32 not in str(numbers)  # but never the auth token
        assert all("auth_token_hint" not in n["account"] for n in numbers)
    async with relay.agent(token=relay.admin_token) as admin:
        await admin.until("caught_up")
        accounts = (await admin.command("list_accounts"))["result"]
        assert accounts[0]["sid"] == ACCOUNT_SID
        assert "auth_token" not in accounts[0]
        assert "f" * 32 not in str(accounts)


async def test_a_burst_reaches_the_agent_once_each_in_order(relay: Harness) -> None:
    async with relay.agent() as agent:
        await agent.until("caught_up")
        results = await asyncio.gather(*(relay.text(f"burst {n}", from_=f"+1202555{n:04d}")
                                         for n in range(40)))
        assert all(status == 200 for status, _ in results)
        seen = [await agent.until("event") for _ in range(40)]
    seqs = [event["seq"] for event in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == 40
    assert sorted(e["payload"]["message"]["body"] for e in seen) == sorted(
        f"burst {n}" for n in range(40))


async def test_other_agents_see_who_views_and_replies_and_when_they_leave(
        relay: Harness) -> None:
    await relay.text("Where is my parcel?")
    async with relay.agent(token=relay.admin_token) as ada:
        await ada.until("caught_up")
        ticket_id = (await ada.command("list_tickets"))["result"]["items"][0]["ticket"]["id"]
        async with relay.agent() as bo:
            await bo.until("caught_up")
            said = await bo.command("presence", ticket_id=ticket_id, activity="replying")
            assert said["result"] == {"ok": True}
            seen = await ada.until("presence")
            assert (seen["agent"]["name"], seen["ticket_id"], seen["activity"]) == (
                "Bo", ticket_id, "replying")
            wrong = await bo.command("presence", ticket_id=ticket_id, activity="dancing")
            assert wrong["code"] == "bad_args"
            async with relay.agent(token=relay.admin_token) as late:  # told after catching up
                await late.until("caught_up")
                board = await late.until("presence")
                assert board["agent"]["name"] == "Bo" and board["ticket_id"] == ticket_id
        gone = await ada.until("presence")
        assert gone["agent"]["name"] == "Bo" and gone["ticket_id"] is None
        # presence never enters the event log
        assert (await ada.command("count_tickets"))["result"] == 1


async def test_a_client_ahead_of_the_log_still_gets_every_new_event(relay: Harness) -> None:
    """A client that saw another (replaced) database must not have live events skipped."""
    async with relay.agent(last_seq=10_000) as agent:
        welcome = await agent.until("welcome")
        await agent.until("caught_up")
        await relay.text("after the restore")
        event = await agent.until("event")
        assert event["seq"] > welcome["latest_seq"]
        assert event["payload"]["message"]["body"] == "after the restore"


async def test_a_status_callback_before_its_sid_survives_a_restart(tmp_path: Path) -> None:
    """Acknowledged is kept: the early callback is on disk, and counts once the SID is."""
    sid = "SM" + "e" * 32
    async with relay_on_loopback(tmp_path) as first:
        await first.text("Where is it?")
        delivered = {"MessageSid": sid, "AccountSid": ACCOUNT_SID, "MessageStatus": "delivered"}
        assert (await first.post("/twilio/status", delivered))[0] == 200
    async with relay_restarted(tmp_path, first) as second, second.agent() as agent:
        await agent.until("caught_up")
        ticket = (await agent.command("list_tickets"))["result"]["items"][0]["ticket"]
        reply = (await agent.command("reply", ticket_id=ticket["id"], body="Today."))["result"]
        # What the outbox does once Twilio has answered with the SID:
        await second.relay.store.write(writes.attach_sid, reply["id"], sid=sid,
                                       status=MessageStatus.QUEUED)
        while True:
            event = await agent.until("event")
            if event["kind"] == "message.updated":
                break
        assert event["payload"]["message"]["status"] == "delivered"
        stored = await second.relay.store.read(queries.message_by_sid, sid)
        assert stored is not None and stored.status is MessageStatus.DELIVERED
