"""The SMS bot on a real relay with the Twilio simulator, both backends: each element of a
flow answers a customer's texts as its TOML says, through the outbox, exactly once.

What the customer got is read from the simulator (the messages Twilio was asked to send);
what the bot did not send is read from the store, which the webhook's 200 waited for (the
customer's text and the bot's answer are one transaction). Business hours, which need a
clock, are tested on the store with its clock set (the second half of the file).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CUSTOMER, Desk
from desk_harness import UK_LONG_CODE, US_TOLL_FREE, LiveDesk, live_desk
from hypothesis import given
from hypothesis import strategies as st
from relay_harness import Harness
from test_bot_commands import FLOW as SHORT_FLOW
from test_bot_commands import database  # noqa: F401
from test_bot_flow import EXAMPLE
from test_websocket_fuzz import CLEAR_CODES, FUZZ, Socket, admin  # noqa: F401

from core import bot_store, bot_writes, email_writes, queries, ticket_fields, writes
from core.activity import ticket_activity
from core.bot_engine import Session
from core.models import Message, Note, Role, Ticket

PERSON = "+12025550188"  # the customer texting in the live tests
PROMPT = "Reply 1 for billing, 2 for shipping, 3 for a person."
GREETING = "Hi, this is Acme Support."
HAND_OFF = "Thanks! A person will answer shortly."


@pytest.fixture(autouse=True)
def fresh_flow_cache() -> None:
    """Each test's desk is a new database whose numbers and versions start at 1 again: a
    relay process never sees two databases, this test process does."""
    bot_writes._flows.clear()


@pytest.fixture
async def live(tmp_path: Path, database: str | None) -> AsyncIterator[LiveDesk]:  # noqa: F811
    """The live desk (groups Billing and Shipping) with an Order number field."""
    async with live_desk(tmp_path, database) as desk:
        await desk.relay.store.write(ticket_fields.create_field, label="Order number",
                                     kind="text")
        yield desk


async def _number_id(desk: LiveDesk, e164: str) -> int:
    return next(n.id for n in await desk.relay.store.read(queries.numbers) if n.e164 == e164)


async def run_flow(desk: LiveDesk, source: str, *, to: str = US_TOLL_FREE) -> int:
    number_id = await _number_id(desk, to)
    await desk.relay.store.write(bot_store.save_flow, number_id=number_id, source=source,
                                 enabled=True)
    return number_id


def sent_to(desk: LiveDesk, phone: str = PERSON) -> list[str]:
    """What Twilio was asked to send to ``phone``, oldest first."""
    return [m.body for m in desk.sim.messages if m.direction != "inbound" and m.to == phone]


async def bot_said(desk: LiveDesk, count: int, phone: str = PERSON) -> list[str]:
    """Wait until the simulator got ``count`` texts for ``phone`` (the outbox sends soon
    after the commit), and a moment more: never a text too many."""
    for _ in range(500):  # 10 s; then what came, for the assertion to show
        if len(sent_to(desk, phone)) >= count:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    return sent_to(desk, phone)


async def text(desk: LiveDesk, body: str, *, to: str = US_TOLL_FREE,
               from_: str = PERSON) -> Ticket:
    await desk.text(body, from_=from_, to=to)
    page = await desk.relay.store.read(queries.list_tickets, queries.TicketFilter())
    return next(row.ticket for row in page.items if row.ticket.customer_phone == from_)


async def thread(desk: LiveDesk, ticket_id: int) -> list[Message | Note]:
    return list((await desk.relay.store.read(queries.thread, ticket_id)).items)


async def session(desk: LiveDesk, ticket_id: int) -> Session:
    state = await desk.relay.store.read(bot_store.session_state, ticket_id)
    assert state is not None
    return Session.from_json(state)


# --- each element of a flow -------------------------------------------------------------


async def test_greeting_then_menu_then_an_option_that_routes_says_and_hands_off(
        live: LiveDesk) -> None:
    await run_flow(live, EXAMPLE)
    ticket = await text(live, "Hello, I have a question")
    assert await bot_said(live, 2) == [GREETING, PROMPT]
    ticket = await text(live, "1.")
    assert await bot_said(live, 4) == [GREETING, PROMPT, "Thanks, billing will text you soon.",
                                       HAND_OFF]
    ticket = await live.relay.store.read(queries.ticket, ticket.id)
    assert ticket.group_id == live.billing_id and ticket.unread
    bot_texts = [e for e in await thread(live, ticket.id)
                 if isinstance(e, Message) and e.direction == "outbound"]
    assert [(m.by_bot, m.author_agent_id) for m in bot_texts] == [(True, None)] * 4
    assert (await session(live, ticket.id)).ended == "handed_off"
    history = await live.relay.store.read(ticket_activity, ticket.id)
    assert any(item.who == "The bot" and "Billing" in item.what for item in history.items)
    # Handed off: the bot says nothing more on this ticket.
    await text(live, "hello again?")
    assert await bot_said(live, 4) == sent_to(live)[:4]
    assert len(sent_to(live)) == 4


async def test_a_question_is_asked_again_then_its_answer_saved_routed_and_thanked(
        live: LiveDesk) -> None:
    await run_flow(live, EXAMPLE)
    ticket = await text(live, "hi")
    await text(live, "2")
    await bot_said(live, 3)
    await text(live, "my order is 12345")
    await text(live, "ac12345")
    said = await bot_said(live, 6)
    assert said[2:] == ["What's your order number? It looks like AC-12345.",
                        "That doesn't look like an order number (AC-12345). Try again?",
                        "Thanks! We'll look up ac12345.", HAND_OFF]
    ticket = await live.relay.store.read(queries.ticket, ticket.id)
    assert ticket.custom_fields == {"order_number": "ac12345"}
    assert ticket.group_id == live.shipping_id


async def test_a_question_missed_more_than_its_tries_hands_off_to_a_person(
        live: LiveDesk) -> None:
    await run_flow(live, EXAMPLE)
    ticket = await text(live, "hi")
    await text(live, "2")
    for wrong in ("no idea", "what?", "still no"):
        await text(live, wrong)
    said = await bot_said(live, 6)
    retry = "That doesn't look like an order number (AC-12345). Try again?"
    assert said[3:] == [retry, retry, HAND_OFF]
    ticket = await live.relay.store.read(queries.ticket, ticket.id)
    assert ticket.custom_fields == {} and ticket.group_id != live.shipping_id
    assert (await session(live, ticket.id)).ended == "handed_off"


async def test_a_keyword_answers_anywhere_and_the_menu_waits(live: LiveDesk) -> None:
    await run_flow(live, EXAMPLE)
    await text(live, "¿Cuál es su HORÁRIO?")  # keyword in the first text: answered, then menu
    assert await bot_said(live, 3) == [GREETING, "We're open Mon-Fri 9:00-17:30.", PROMPT]
    ticket = await text(live, "and your opening times?")
    assert (await bot_said(live, 4))[3] == "We're open Mon-Fri 9:00-17:30."
    assert (await session(live, ticket.id)).node == "menu:main"
    await text(live, "3")
    assert (await bot_said(live, 5))[4] == HAND_OFF


SUBMENU = """\
start = "main"

[menus.main]
prompt = "Reply 1 for returns, 2 for our address."
invalid = "Reply 1 or 2."

[[menus.main.options]]
key = "1"
menu = "returns"

[[menus.main.options]]
key = "2"
say = "We're at 1 Main St."

[menus.returns]
prompt = "Reply A to start a return, B for a person."
invalid = "Reply A or B."

[[menus.returns.options]]
key = "a"
say = { text = "Here's how to return it", video_url = "https://example.com/return.mp4" }

[[menus.returns.options]]
key = "b"
hand_off = true
"""


async def test_a_submenu_a_say_with_a_video_link_and_a_wrong_answer(live: LiveDesk) -> None:
    await run_flow(live, SUBMENU)
    await text(live, "hi")
    await text(live, "1")
    await text(live, "banana")
    ticket = await text(live, "A)")
    assert await bot_said(live, 5) == [
        "Reply 1 for returns, 2 for our address.",
        "Reply A to start a return, B for a person.",
        "Reply A or B.", "Reply A to start a return, B for a person.",
        "Here's how to return it\nhttps://example.com/return.mp4"]
    # An option that only answers leaves no menu pending: what follows waits for a person.
    assert (await session(live, ticket.id)).node is None
    await text(live, "2")
    assert len(await bot_said(live, 5)) == 5


async def test_an_agent_reply_takes_the_ticket_over_at_once(live: LiveDesk) -> None:
    await run_flow(live, EXAMPLE)
    ticket = await text(live, "hi")
    await bot_said(live, 2)
    relay = Harness(live.relay, live.ws_url.removesuffix("/ws").replace("ws://", "http://"),
                    live.admin_token, live.agent_token)
    async with relay.agent() as bo:
        await bo.until("caught_up")
        answer = await bo.command("reply", ticket_id=ticket.id, body="Bo here, how can I help?")
        assert answer["type"] == "result" and answer["result"]["by_bot"] is False
    assert (await session(live, ticket.id)).ended == "taken_over"
    await text(live, "1")
    assert await bot_said(live, 3) == [GREETING, PROMPT, "Bo here, how can I help?"]
    assert (await live.relay.store.read(queries.ticket, ticket.id)).group_id != live.billing_id


LOOPY = SHORT_FLOW.replace('start = "main"', 'start = "main"\nreplies_per_hour = 3')


async def test_the_loop_guard_stops_the_bot_after_its_texts_an_hour_with_one_note(
        live: LiveDesk) -> None:
    await run_flow(live, LOOPY)
    ticket = await text(live, "Auto-reply: I'm driving right now")  # an auto-responder
    assert [e for e in await thread(live, ticket.id) if not isinstance(e, Message)] == []
    assert (await live.relay.store.read(bot_store.session_state, ticket.id)) is not None
    await text(live, "hey")
    await text(live, "blah")  # wrong: invalid and the prompt again, but only one fits
    await text(live, "blah blah")
    said = await bot_said(live, 3)
    assert said == ["Hi, this is Acme Support.", "Reply 1 for billing, 2 for a person.",
                    "Sorry, I didn't get that. Reply 1 or 2."]
    notes = [e.body for e in await thread(live, ticket.id) if isinstance(e, Note)]
    assert notes == [bot_writes.LOOP_GUARD_NOTE.format(limit=3)]  # once, not per text


async def test_stop_silences_the_bot_and_help_is_never_answered(live: LiveDesk) -> None:
    await run_flow(live, EXAMPLE)
    await text(live, "HELP")  # Twilio answers HELP; the bot does not, nor greets
    await text(live, "hi")
    await bot_said(live, 2)
    ticket = await text(live, "STOP")
    await text(live, "1")  # opted out: no bot text, and no note either
    await asyncio.sleep(0.2)
    assert sent_to(live) == [GREETING, PROMPT]
    assert not any(isinstance(e, Note) for e in await thread(live, ticket.id))
    assert (await session(live, ticket.id)).ended is None
    await text(live, "START")
    await text(live, "3")
    assert (await bot_said(live, 3))[2] == HAND_OFF


PICTURE = SHORT_FLOW.replace(
    'say = "Thanks, billing will text you soon."',
    'say = { text = "Our prices", attachments = [{ sha256 = "' + "ab" * 32
    + '", content_type = "image/png", filename = "prices.png", size = 1000 }] }')


async def test_on_an_sms_only_number_the_bot_sends_text_only(live: LiveDesk) -> None:
    """The editor refuses attachments there; a number that lost MMS after the save gets
    the text without them."""
    number_id = await run_flow(live, PICTURE)  # the toll-free number takes MMS
    await live.relay.store.write(writes.update_number, number_id, mms=False)
    await text(live, "hi")
    await text(live, "1")
    assert (await bot_said(live, 3))[2] == "Our prices"
    sent = [m for m in live.sim.messages if m.direction != "inbound" and m.to == PERSON]
    assert all(not m.media for m in sent)
    uk_flow = await run_flow(live, SHORT_FLOW, to=UK_LONG_CODE)
    await text(live, "hello", to=UK_LONG_CODE, from_="+447700900123")
    assert await bot_said(live, 2, "+447700900123") == [
        "Hi, this is Acme Support.", "Reply 1 for billing, 2 for a person."]
    assert uk_flow != number_id


async def test_a_number_whose_flow_is_off_or_absent_gets_no_bot(live: LiveDesk) -> None:
    number_id = await run_flow(live, EXAMPLE)
    await live.relay.store.write(bot_store.set_enabled, number_id=number_id, enabled=False)
    ticket = await text(live, "hi")
    await text(live, "hi", to=UK_LONG_CODE)
    await asyncio.sleep(0.2)
    assert sent_to(live) == []
    assert await live.relay.store.read(bot_store.session_state, ticket.id) is None


async def test_a_saved_flow_is_used_by_the_next_text(live: LiveDesk) -> None:
    number_id = await run_flow(live, SHORT_FLOW)
    await text(live, "hi")
    await bot_said(live, 2)
    await live.relay.store.write(bot_store.save_flow, number_id=number_id,
                                 source=SHORT_FLOW.replace("billing will", "billing shall"))
    await text(live, "1")
    assert (await bot_said(live, 3))[2] == "Thanks, billing shall text you soon."


# --- on the store: the clock, short codes, a refused text, a failing bot ----------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The store's clock, set by the test: ``clock[0] = ms``."""
    now = [0]
    monkeypatch.setattr("core.store.now_ms", lambda: now[0])
    yield now


def ms(iso: str) -> int:
    import datetime as dt
    return int(dt.datetime.fromisoformat(iso).timestamp() * 1000)


HOURS_FLOW = """\
out_of_hours = "We're closed now; we open {next_opening}."
start = "main"

[hand_off]
text = "A person will answer shortly."
closed_text = "A person will answer when we open, {next_opening}."

[menus.main]
prompt = "Reply 1 for a person."
invalid = "Reply 1."

[[menus.main.options]]
key = "1"
hand_off = true
"""

LONDON_WEEKDAYS = {"time_zone": "Europe/London", "monday": "09:00-17:00",
                   "tuesday": "09:00-17:00", "wednesday": "09:00-17:00",
                   "thursday": "09:00-17:00", "friday": "09:00-17:00", "saturday": "closed",
                   "sunday": "closed",
                   "holidays": [{"date": "2026-12-25", "name": "Christmas Day"}]}

_phones = itertools.count(1)


async def texted(desk: Desk, body: str, phone: str) -> tuple[int, list[str]]:
    """Text the UK number; the ticket and what the bot queued on it, in order."""
    received = await desk.store.write(bot_writes.receive_and_answer,
                                      desk.text(body, from_=phone, to=desk.uk.e164))
    ticket_id = received.result.ticket.id
    entries = (await desk.store.read(queries.thread, ticket_id)).items
    return ticket_id, [e.body for e in entries if isinstance(e, Message) and e.by_bot]


async def hours_desk(desk: Desk, calendar: dict[str, Any]) -> None:
    await desk.store.write(bot_store.save_flow, number_id=desk.uk.id, source=HOURS_FLOW,
                           enabled=True)
    await desk.store.write(bot_store.save_hours, scope="group", scope_id=desk.billing.id,
                           calendar=calendar)  # not this ticket's group: no effect
    await desk.store.write(bot_store.save_hours, scope="number", scope_id=desk.uk.id,
                           calendar=calendar)


async def test_out_of_hours_across_the_autumn_dst_change_once_per_closed_period(
        desk: Desk, clock: list[int]) -> None:
    await hours_desk(desk, LONDON_WEEKDAYS)
    phone = "+447700900201"
    # Sunday 25 October 2026: the clocks went back at 02:00 BST. 10:00 GMT is 10:00 local.
    clock[0] = ms("2026-10-25T10:00:00+00:00")
    _, said = await texted(desk, "hello", phone)
    assert said == ["We're closed now; we open tomorrow at 9:00.", "Reply 1 for a person."]
    clock[0] = ms("2026-10-26T08:59:00+00:00")  # still the same closed period (GMT now)
    _, said = await texted(desk, "anyone?", phone)
    assert said[2:] == ["Reply 1.", "Reply 1 for a person."]  # no second notice
    clock[0] = ms("2026-10-26T09:00:00+00:00")  # Monday 9:00 GMT: open
    _, said = await texted(desk, "1", phone)
    assert said[4:] == ["A person will answer shortly."]
    # Friday evening is a new closed period: a new customer is told once, on the weekend.
    clock[0] = ms("2026-10-30T17:00:00+00:00")
    _, said = await texted(desk, "hi", "+447700900202")
    assert said[0] == "We're closed now; we open Monday at 9:00."


async def test_out_of_hours_across_the_spring_dst_change_and_a_holiday(
        desk: Desk, clock: list[int]) -> None:
    await hours_desk(desk, LONDON_WEEKDAYS)
    # Friday 27 March 2026 at 18:00 GMT; the clocks go forward on Sunday 29 at 01:00 GMT,
    # so Monday's 9:00 is 08:00 UTC.
    clock[0] = ms("2026-03-27T18:00:00+00:00")
    _, said = await texted(desk, "hello", "+447700900203")
    assert said[0] == "We're closed now; we open Monday at 9:00."
    clock[0] = ms("2026-03-30T08:00:00+00:00")  # 9:00 BST: open, no notice
    _, said = await texted(desk, "hello", "+447700900204")
    assert said == ["Reply 1 for a person."]
    # Christmas Day 2026 is a Friday, a holiday: the next opening is Monday 28 December.
    clock[0] = ms("2026-12-25T11:00:00+00:00")
    _, said = await texted(desk, "1", "+447700900205")
    assert said[0] == "We're closed now; we open Monday at 9:00."
    _, said = await texted(desk, "1", "+447700900205")
    assert said[1:] == ["Reply 1 for a person.",
                        "A person will answer when we open, Monday at 9:00."]


async def test_the_groups_hours_apply_when_the_number_has_none(desk: Desk,
                                                               clock: list[int]) -> None:
    await desk.store.write(bot_store.save_flow, number_id=desk.us.id, source=HOURS_FLOW,
                           enabled=True)  # US: its tickets go to Billing
    await desk.store.write(bot_store.save_hours, scope="group", scope_id=desk.billing.id,
                           calendar=LONDON_WEEKDAYS)
    clock[0] = ms("2026-10-31T12:00:00+00:00")  # Saturday
    received = await desk.store.write(bot_writes.receive_and_answer,
                                      desk.text("hello", from_="+12025550199"))
    entries = (await desk.store.read(queries.thread, received.result.ticket.id)).items
    assert next(e.body for e in entries if isinstance(e, Message) and e.by_bot) == \
        "We're closed now; we open Monday at 9:00."


async def test_a_short_code_or_a_sender_name_is_never_answered(desk: Desk) -> None:
    await desk.store.write(bot_store.save_flow, number_id=desk.us.id, source=SHORT_FLOW,
                           enabled=True)
    for sender in ("72345", "+18005550123"):  # a short code; a toll-free line (a business)
        received = await desk.store.write(bot_writes.receive_and_answer,
                                          desk.text("Your code is 1234", from_=sender))
        assert received.bot_queued == 0
        ticket_id = received.result.ticket.id
        await desk.store.write(bot_writes.receive_and_answer,
                               desk.text("Your code is 5678", from_=sender))
        entries = (await desk.store.read(queries.thread, ticket_id)).items
        assert not any(isinstance(e, Message) and e.by_bot for e in entries)
        notes = [e.body for e in entries if isinstance(e, Note)]
        assert notes == [bot_writes.NOT_A_PERSON_NOTE.format(phone=sender)]
    assert bot_writes.looks_like_a_person(CUSTOMER)
    assert bot_writes.looks_like_a_person("+447700900123")
    assert not bot_writes.looks_like_a_person("ACME")


async def test_a_bot_text_the_preflight_refuses_is_not_sent_and_a_note_says_why(
        desk: Desk) -> None:
    """Twilio suspended the account: the bot's text is refused as an agent's would be,
    and the agents read why."""
    await desk.store.write(writes.update_account, desk.account.id, status="suspended")
    await desk.store.write(bot_store.save_flow, number_id=desk.us.id, source=SHORT_FLOW,
                           enabled=True)
    received = await desk.store.write(bot_writes.receive_and_answer, desk.text("hi"))
    assert received.bot_queued == 0
    entries = (await desk.store.read(queries.thread, received.result.ticket.id)).items
    notes = [e.body for e in entries if isinstance(e, Note)]
    assert len(notes) == 2 and notes[0].startswith(
        "The bot did not send “Hi, this is Acme Support.”: ")
    assert not any(isinstance(e, Message) and e.by_bot for e in entries)


async def test_a_failing_bot_never_loses_the_customers_text(
        desk: Desk, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    await desk.store.write(bot_store.save_flow, number_id=desk.us.id, source=SHORT_FLOW,
                           enabled=True)

    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug in the bot")

    monkeypatch.setattr(bot_writes, "answer", broken)
    received = await desk.store.write(bot_writes.receive_and_answer, desk.text("hi"))
    assert received.bot_queued == 0 and not received.result.duplicate
    stored = await desk.store.read(queries.message_by_sid, received.result.message.twilio_sid)
    assert stored is not None and stored.body == "hi"
    assert "the bot failed on ticket" in caplog.text
    assert not any(e.kind == "message.created" and e.payload["message"].get("by_bot")
                   for e in desk.events)


async def test_a_retried_webhook_is_answered_once(desk: Desk) -> None:
    await desk.store.write(bot_store.save_flow, number_id=desk.us.id, source=SHORT_FLOW,
                           enabled=True)
    inbound = desk.text("hi")
    first = await desk.store.write(bot_writes.receive_and_answer, inbound)
    again = await desk.store.write(bot_writes.receive_and_answer, inbound)
    assert (first.bot_queued, again.bot_queued) == (2, 0)
    assert again.result.duplicate


async def test_a_held_text_is_not_answered(desk: Desk) -> None:
    await desk.store.write(bot_store.save_flow, number_id=desk.us.id, source=SHORT_FLOW,
                           enabled=True)
    await desk.store.write(writes.update_number, desk.us.id, enabled=False)
    received = await desk.store.write(bot_writes.receive_and_answer, desk.text("hi"))
    assert received.bot_queued == 0 and not hasattr(received.result, "ticket")


async def test_the_flow_cache_is_bounded_and_keyed_by_version(desk: Desk) -> None:
    """Each save is parsed once, on the next text; the flows in use stay, the least
    recently used go beyond the bound."""
    await desk.store.write(bot_store.save_flow, number_id=desk.us.id, source=SHORT_FLOW,
                           enabled=True)
    await desk.store.write(bot_writes.receive_and_answer, desk.text("hi"))
    for n in range(bot_writes._FLOW_CACHE_SIZE + 5):
        await desk.store.write(bot_store.save_flow, number_id=desk.uk.id, enabled=True,
                               source=SHORT_FLOW.replace("Hi,", f"Hi {n},"))
        await desk.store.write(bot_writes.receive_and_answer,
                               desk.text("hi", to=desk.uk.e164, from_=f"+4477009{n:05d}"))
        await desk.store.write(bot_writes.receive_and_answer, desk.text(f"still there {n}?"))
    assert len(bot_writes._flows) == bot_writes._FLOW_CACHE_SIZE
    versions = sorted(key[1] for key in bot_writes._flows if key[0] == desk.uk.id)
    assert versions == list(range(7, bot_writes._FLOW_CACHE_SIZE + 6))
    assert [key[:2] for key in bot_writes._flows if key[0] == desk.us.id] == [(desk.us.id, 1)]


@pytest.mark.parametrize("channel", ["sms", "email"])
async def test_a_person_answering_by_sms_or_email_takes_over_and_the_bot_stays_out(
        desk: Desk, channel: str) -> None:
    await desk.store.write(bot_store.save_flow, number_id=desk.us.id, source=SHORT_FLOW,
                           enabled=True)
    agent = await desk.store.write(writes.add_agent, name="Bo", role=Role.AGENT,
                                   token_hash="b" * 64)
    received = await desk.store.write(bot_writes.receive_and_answer, desk.text("hi"))
    ticket = received.result.ticket
    if channel == "sms":
        await desk.store.write(writes.queue_outbound, ticket_id=ticket.id, agent_id=agent.id,
                               body="Bo here.")
    else:
        await desk.store.write(writes.update_contact, ticket.contact_id, email="jo@example.com")
        await desk.store.write(email_writes.queue_email_reply, ticket_id=ticket.id,
                               agent_id=agent.id, body="Bo here, by email.", subject="",
                               reply_domain="support.example.com")
    state = await desk.store.read(bot_store.session_state, ticket.id)
    assert state is not None and Session.from_json(state).ended == "taken_over"
    again = await desk.store.write(bot_writes.receive_and_answer, desk.text("1"))
    assert again.bot_queued == 0  # nor routed: no change of the bot's on the ticket
    assert not any(e.kind == "ticket.updated" and e.payload.get("by_bot") for e in desk.events)


async def test_a_bot_turned_on_mid_conversation_leaves_a_person_s_ticket_alone(
        desk: Desk) -> None:
    first = await desk.store.write(bot_writes.receive_and_answer, desk.text("hi"))
    agent = await desk.store.write(writes.add_agent, name="Bo", role=Role.AGENT,
                                   token_hash="b" * 64)
    await desk.store.write(writes.queue_outbound, ticket_id=first.result.ticket.id,
                           agent_id=agent.id, body="Bo here.")
    await desk.store.write(bot_store.save_flow, number_id=desk.us.id, source=SHORT_FLOW,
                           enabled=True)
    again = await desk.store.write(bot_writes.receive_and_answer, desk.text("still there?"))
    assert again.bot_queued == 0
    other = await desk.store.write(bot_writes.receive_and_answer,
                                   desk.text("hi", from_="+12025550142"))
    assert other.bot_queued == 2  # a new conversation: the bot greets


# --- fuzz: whatever an admin pastes, save_bot_flow answers in words ------------------------


toml_like = st.text(max_size=400) | st.builds(
    lambda cut, insert: EXAMPLE[:cut] + insert + EXAMPLE[cut:],
    st.integers(0, len(EXAMPLE)), st.text(max_size=40))


@FUZZ
@given(source=toml_like, number_id=st.sampled_from([1, 2, 999]))
async def test_save_bot_flow_with_any_text_is_never_internal(
        admin: Socket, source: str, number_id: int) -> None:  # noqa: F811
    answer = await admin.command("save_bot_flow", {"number_id": number_id, "source": source})
    if answer["type"] == "error":
        assert answer["code"] in CLEAR_CODES, answer
    else:
        assert answer["result"]["source"] == source
        json.dumps(answer)
