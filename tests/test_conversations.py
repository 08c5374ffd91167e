"""New outbound conversations and replies from another of the desk's numbers, on the relay:
a real relay and the Twilio simulator on loopback, the twilio SDK in between."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import UK_LONG_CODE, US_TOLL_FREE, LiveDesk, live_desk
from relay_harness import AgentClient, Harness

from core import queries, writes
from core.phones import NotAPhoneNumber, understood

CUSTOMER = "+12015550123"
UK_MOBILE = "+447400123456"


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as live:
        toll_free = await _number_id(live, US_TOLL_FREE)
        await live.relay.store.write(writes.update_number, toll_free,
                                     default_group_id=live.billing_id)
        yield live


def _relay(desk: LiveDesk) -> Harness:
    http = desk.ws_url.removesuffix("/ws").replace("ws://", "http://")
    return Harness(desk.relay, http, desk.admin_token, desk.agent_token)


async def _number_id(desk: LiveDesk, e164: str) -> int:
    return next(n.id for n in await desk.relay.store.read(queries.numbers) if n.e164 == e164)


async def _event(agent: AgentClient, kind: str, **match: Any) -> dict[str, Any]:
    while True:
        event = await agent.until("event", timeout=10)
        message = event["payload"].get("message", {})
        if event["kind"] == kind and all(message.get(k) == v for k, v in match.items()):
            return event


async def _sent_from(desk: LiveDesk, agent: AgentClient, message_id: int) -> str:
    """The number Twilio (the simulator) says a reply was sent from, once it is delivered."""
    delivered = await _event(agent, "message.updated", id=message_id, status="delivered")
    sid = delivered["payload"]["message"]["twilio_sid"]
    return next(m.from_ for m in desk.sim.messages if m.sid == sid)


@pytest.mark.parametrize("typed", ["(201) 555-0123", "201.555.0123", "+1 201 555 0123"])
async def test_a_conversation_started_from_a_typed_number_reaches_the_customer_and_the_answer_threads_in(  # noqa: E501
        desk: LiveDesk, typed: str) -> None:
    toll_free = await _number_id(desk, US_TOLL_FREE)
    async with _relay(desk).agent() as bo:
        await bo.until("caught_up")
        started = await bo.command("start_conversation", to=typed, from_number_id=toll_free,
                                   body="Your order is ready for pickup.")
        ticket, message = started["result"]["ticket"], started["result"]["message"]
        assert ticket["number_id"] == toll_free
        assert ticket["group_id"] == desk.billing_id  # the number's default group
        assert ticket["agent_id"] == (await bo.command("list_agents"))["result"][1]["id"]
        assert await _sent_from(desk, bo, message["id"]) == US_TOLL_FREE
        assert [m.to for m in desk.sim.messages if m.body.startswith("Your order")] == [CUSTOMER]
        answer = await desk.text("Great, coming at 5", from_=CUSTOMER)
        threaded = await _event(bo, "message.created", twilio_sid=answer.sid)
        assert threaded["ticket_id"] == ticket["id"]
    assert await desk.relay.store.read(queries.count_tickets) == 1


async def test_the_answer_threads_into_the_new_ticket_not_an_older_open_one(
        desk: LiveDesk) -> None:
    await desk.text("an old question", from_=CUSTOMER)
    toll_free = await _number_id(desk, US_TOLL_FREE)
    async with _relay(desk).agent() as bo:
        await bo.until("caught_up")
        started = await bo.command("start_conversation", to="2015550123",
                                   from_number_id=toll_free, body="About your return:")
        new_id = started["result"]["ticket"]["id"]
        answer = await desk.text("yes?", from_=CUSTOMER)
        assert (await _event(bo, "message.created", twilio_sid=answer.sid))["ticket_id"] == new_id


async def test_a_resent_start_conversation_makes_one_ticket_and_one_message(
        desk: LiveDesk) -> None:
    toll_free = await _number_id(desk, US_TOLL_FREE)
    async with _relay(desk).agent() as bo:
        await bo.until("caught_up")
        start = {"type": "command", "id": "start-1", "name": "start_conversation",
                 "args": {"to": "201-555-0123", "from_number_id": toll_free,
                          "body": "Hello from Acme"}}
        await bo.send(start)
        await bo.send(start)  # resent before the first was answered (a reconnect, say)
        answers = []
        while len(answers) < 2:
            message = await bo.receive()
            if message["type"] in ("result", "error") and message.get("id") == "start-1":
                answers.append(message)
        first, again = answers
        assert first["result"] == again["result"]
        later = await bo.command("start_conversation", command_id="start-1", to="201-555-0123",
                                 from_number_id=toll_free, body="Hello from Acme")
        assert later["result"] == first["result"]
    assert await desk.relay.store.read(queries.count_tickets) == 1
    thread = await desk.relay.store.read(queries.thread, first["result"]["ticket"]["id"])
    assert len(thread.items) == 1


async def test_a_refused_first_message_leaves_no_ticket_and_no_contact(desk: LiveDesk) -> None:
    uk = await _number_id(desk, UK_LONG_CODE)
    async with _relay(desk).agent() as bo:
        await bo.until("caught_up")
        refused = await bo.command("start_conversation", to="07400 123456", from_number_id=uk,
                                   body="Hello")  # a UK mobile from a UK long code: fine...
        assert refused["type"] == "result"
        bad = await bo.command("start_conversation", to="12", from_number_id=uk, body="Hello")
        assert bad["type"] == "error" and "not a valid phone number" in bad["message"]
        unknown = await bo.command("start_conversation", to=CUSTOMER, from_number_id=999,
                                   body="Hello")
        assert unknown["type"] == "error" and unknown["code"] == "not_found"
    assert await desk.relay.store.read(queries.count_tickets) == 1
    assert refused["result"]["message"]["status"] == "queued"
    contact = await desk.relay.store.read(writes.contact_by_id,
                                          refused["result"]["ticket"]["contact_id"])
    assert contact.phone == UK_MOBILE  # "07400 123456" read in the sending number's country


async def test_a_reply_from_another_number_is_sent_from_it_and_the_answer_threads_back(
        desk: LiveDesk) -> None:
    uk = await _number_id(desk, UK_LONG_CODE)
    async with _relay(desk).agent() as bo:
        await bo.until("caught_up")
        text = await desk.text("hello from London", from_=UK_MOBILE)
        ticket_id = (await _event(bo, "ticket.created", twilio_sid=text.sid))["ticket_id"]
        reply = await bo.command("reply", ticket_id=ticket_id, body="Hi from our UK line",
                                 from_number_id=uk)
        assert reply["result"]["from_number_id"] == uk
        assert await _sent_from(desk, bo, reply["result"]["id"]) == UK_LONG_CODE
        ticket = await desk.relay.store.read(writes.ticket_by_id, ticket_id)
        assert ticket.number_id == await _number_id(desk, US_TOLL_FREE)  # its number stays
        answer = await desk.text("thanks", from_=UK_MOBILE, to=UK_LONG_CODE)
        threaded = await _event(bo, "message.created", twilio_sid=answer.sid)
        assert threaded["ticket_id"] == ticket_id


async def test_a_reply_from_another_number_is_judged_by_that_number(desk: LiveDesk) -> None:
    """The UK long code is SMS-only: an attachment is refused there, though the ticket's own
    toll-free number could carry it (the relay judges the sender the agent chose)."""
    uk = await _number_id(desk, UK_LONG_CODE)
    async with _relay(desk).agent() as bo:
        await bo.until("caught_up")
        text = await desk.text("hi", from_=CUSTOMER)
        ticket_id = (await _event(bo, "ticket.created", twilio_sid=text.sid))["ticket_id"]
        image = await bo.command("upload_media", content_type="image/png", data="iVBORw0KGgo=")
        refused = await bo.command("reply", ticket_id=ticket_id, body="see attached",
                                   from_number_id=uk, media=[image["result"]])
        assert refused["type"] == "error"
        assert "MMS" in refused["message"] or "media" in refused["message"].lower()
    thread = await desk.relay.store.read(queries.thread, ticket_id)
    assert [m.direction for m in thread.items] == ["inbound"]


async def test_a_failed_reply_from_a_chosen_number_is_retried_from_that_number(
        desk: LiveDesk) -> None:
    uk = await _number_id(desk, UK_LONG_CODE)
    desk.sim.state.knobs.fail_to[UK_MOBILE] = 30003
    async with _relay(desk).agent() as bo:
        await bo.until("caught_up")
        text = await desk.text("hello", from_=UK_MOBILE)
        ticket_id = (await _event(bo, "ticket.created", twilio_sid=text.sid))["ticket_id"]
        reply = await bo.command("reply", ticket_id=ticket_id, body="Hi", from_number_id=uk)
        await _event(bo, "message.updated", id=reply["result"]["id"], status="undelivered")
        desk.sim.state.knobs.fail_to.pop(UK_MOBILE)
        retried = await bo.command("retry_reply", message_id=reply["result"]["id"])
        assert retried["result"]["from_number_id"] == uk
        assert await _sent_from(desk, bo, retried["result"]["id"]) == UK_LONG_CODE


@pytest.mark.parametrize("typed, region, e164", [
    ("(201) 555-0123", "US", "+12015550123"),
    ("07400 123456", "GB", UK_MOBILE),
    ("+44 7400 123456", "US", UK_MOBILE),
    ("0044 7400 123456", "GB", UK_MOBILE),
])
def test_a_typed_number_is_read_in_the_senders_country(typed: str, region: str,
                                                       e164: str) -> None:
    assert understood(typed, region).e164 == e164


@pytest.mark.parametrize("typed", ["", "   ", "hello", "12", "+1 555"])
def test_what_is_not_a_number_is_refused_in_words(typed: str) -> None:
    with pytest.raises(NotAPhoneNumber):
        understood(typed, "US")
