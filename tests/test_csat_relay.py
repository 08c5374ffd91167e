"""CSAT over SMS on a real relay with the Twilio simulator, both backends.

A ticket resolved on a number with CSAT on sends the number's survey through the outbox,
once per resolution; the customer's rating (in its forms) is kept without reopening the
ticket or waking the bot; a follow-up asks for a comment and keeps it; anything else
reopens as usual. What the customer got is read from the simulator; what was kept, from
the store.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import US_TOLL_FREE, LiveDesk, live_desk
from test_bot_commands import database  # noqa: F401
from test_bot_flow import EXAMPLE
from test_bot_relay import GREETING, PROMPT, bot_said, run_flow, sent_to
from test_websocket_fuzz import Socket

from core import (
    bot_writes,
    csat_surveys,
    queries,
    reply_preflight,
    scenarios,
    ticket_fields,
    writes,
)
from core.activity import ticket_activity
from core.csat import DEFAULT_TEXT, Survey, SurveyState
from core.models import Message, MessageStatus, Ticket, TicketStatus
from core.writes import WriteContext

PERSON = "+12025550177"
FOLLOWUP = "Thanks! Anything we could have done better?"


@pytest.fixture(autouse=True)
def fresh_flow_cache() -> None:
    bot_writes._flows.clear()  # each test's database numbers its flows from 1 again


@pytest.fixture
async def live(tmp_path: Path, database: str | None) -> AsyncIterator[LiveDesk]:  # noqa: F811
    """The live desk with CSAT on for the US number (the survey's default text)."""
    async with live_desk(tmp_path, database) as desk:
        await desk.relay.store.write(writes.update_number, await us_id(desk), csat=True)
        await desk.relay.store.write(ticket_fields.create_field, label="Order number",
                                     kind="text")  # the example bot flow saves it
        yield desk


async def us_id(desk: LiveDesk) -> int:
    numbers = await desk.relay.store.read(queries.numbers)
    return next(n.id for n in numbers if n.e164 == US_TOLL_FREE)


async def text(desk: LiveDesk, body: str, *, from_: str = PERSON) -> Ticket:
    await desk.text(body, from_=from_)
    page = await desk.relay.store.read(queries.list_tickets, queries.TicketFilter())
    return next(row.ticket for row in page.items if row.ticket.customer_phone == from_)


async def resolve(desk: LiveDesk, ticket_id: int, *, bulk: bool = False,
                  status: str = "resolved") -> Ticket:
    return await desk.relay.store.write(writes.update_ticket, ticket_id, by=1, bulk=bulk,
                                        status=status)


async def ticket(desk: LiveDesk, ticket_id: int) -> Ticket:
    found = await desk.relay.store.read(queries.ticket, ticket_id)
    assert found is not None
    return found


async def surveys(desk: LiveDesk, ticket_id: int) -> list[Survey]:
    return await desk.relay.store.read(csat_surveys.surveys_of, ticket_id)


async def got(desk: LiveDesk, count: int, phone: str = PERSON) -> list[str]:
    return await bot_said(desk, count, phone)


async def history(desk: LiveDesk, ticket_id: int) -> list[str]:
    page = await desk.relay.store.read(ticket_activity, ticket_id)
    return [f"{item.who}: {item.what}" for item in page.items]


async def rated(desk: LiveDesk, body: str, *, from_: str = PERSON) -> Survey:
    """A new ticket from ``from_``, resolved, then ``body`` answered to its survey."""
    opened = await text(desk, "my parcel is late", from_=from_)
    await resolve(desk, opened.id)
    assert (await got(desk, 1, from_)) == [DEFAULT_TEXT]
    await text(desk, body, from_=from_)
    after = await ticket(desk, opened.id)
    assert after.status is TicketStatus.RESOLVED and after.unread  # agents still see it
    (survey,) = await surveys(desk, opened.id)
    return survey


# --- sending ------------------------------------------------------------------------------


async def test_a_resolve_sends_the_survey_once_and_each_resolution_its_own(
        live: LiveDesk) -> None:
    opened = await text(live, "where is my order?")
    await resolve(live, opened.id)
    assert await got(live, 1) == [DEFAULT_TEXT]
    (survey,) = await surveys(live, opened.id)
    assert survey.state is SurveyState.SENT and survey.number_id == await us_id(live)
    assert survey.expires_at - survey.sent_at == 3 * 86_400_000
    sent = await live.relay.store.read(queries.entry, survey.message_id)
    assert isinstance(sent, Message) and sent.purpose == "csat_survey"
    assert sent.author_agent_id is None and not sent.by_bot
    assert sent.status is MessageStatus.DELIVERED or sent.twilio_sid
    # Resolved again while resolved: nothing more.
    await resolve(live, opened.id)
    assert await got(live, 1) == [DEFAULT_TEXT]
    assert "The desk: sent the satisfaction survey" in await history(live, opened.id)
    # Reopened by an agent and resolved again: that resolution has its own survey; the
    # first expired unanswered.
    await resolve(live, opened.id, status="open")
    await resolve(live, opened.id)
    assert await got(live, 2) == [DEFAULT_TEXT, DEFAULT_TEXT]
    first, second = await surveys(live, opened.id)
    assert (first.state, second.state) == (SurveyState.EXPIRED, SurveyState.SENT)


async def test_no_survey_when_csat_is_off_opted_out_or_the_last_message_failed(
        live: LiveDesk) -> None:
    off = await text(live, "hi from the UK number", from_="+12025550101")
    await live.relay.store.write(writes.update_number, await us_id(live), csat=False)
    await resolve(live, off.id)
    await live.relay.store.write(writes.update_number, await us_id(live), csat=True)
    # STOP: the phone opted out of the number; judge_reply refuses, nothing is said.
    stopped = await text(live, "STOP", from_="+12025550102")
    await resolve(live, stopped.id)
    # The agent's last reply was undelivered: no survey after a failure.
    failing = "+12025550103"
    live.sim.state.knobs.fail_to[failing] = 30003
    failed = await text(live, "help", from_=failing)
    reply = await live.relay.store.write(reply_preflight.queue_checked, 1, failed.id,
                                         "We're on it", ())
    for _ in range(500):
        entry = await live.relay.store.read(queries.entry, reply.id)
        if isinstance(entry, Message) and entry.status is MessageStatus.UNDELIVERED:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the reply never failed")
    await resolve(live, failed.id)
    await asyncio.sleep(0.3)
    for phone in ("+12025550101", "+12025550102", failing):
        assert DEFAULT_TEXT not in sent_to(live, phone)
    for ticket_id in (off.id, stopped.id, failed.id):
        assert await surveys(live, ticket_id) == []


async def test_bulk_resolves_are_surveyed_only_when_the_number_says_so(live: LiveDesk) -> None:
    one = await text(live, "one", from_="+12025550111")
    two = await text(live, "two", from_="+12025550112")
    await resolve(live, one.id, bulk=True)
    await live.relay.store.write(writes.update_number, await us_id(live), csat_bulk=True)
    await resolve(live, two.id, bulk=True)
    assert await got(live, 1, "+12025550112") == [DEFAULT_TEXT]
    assert sent_to(live, "+12025550111") == [] and await surveys(live, one.id) == []


async def test_set_ticket_bulk_and_a_scenario_on_several_tickets_are_bulk(
        live: LiveDesk) -> None:
    phones = [f"+120255501{n:02d}" for n in range(20, 24)]
    tickets = [await text(live, "hello", from_=phone) for phone in phones]
    socket = await agent_socket(live)
    try:
        assert (await socket.command("set_ticket", {"ticket_id": tickets[0].id,
                                                    "status": "resolved",
                                                    "bulk": True}))["type"] == "result"
        assert (await socket.command("set_ticket", {"ticket_id": tickets[1].id,
                                                    "status": "resolved"}))["type"] == "result"
        scenario = await live.relay.store.write(
            scenarios.save_scenario, scenario_id=None, name="Done",
            actions=[{"set": "status", "value": "resolved"}])
        ran = await socket.command("run_scenario", {"scenario_id": scenario.id,
                                                    "ticket_ids": [t.id for t in tickets[2:]]})
        assert ran["type"] == "result" and len(ran["result"]["applied"]) == 2
        alone = await text(live, "again", from_=phones[2])  # reopened
        ran = await socket.command("run_scenario", {"scenario_id": scenario.id,
                                                    "ticket_ids": [alone.id]})
        assert ran["type"] == "result"
    finally:
        socket.task.cancel()
    assert await got(live, 1, phones[1]) == [DEFAULT_TEXT]
    assert await got(live, 1, phones[2]) == [DEFAULT_TEXT]  # the single-ticket run
    for phone in (phones[0], phones[3]):
        assert sent_to(live, phone) == []


async def agent_socket(desk: LiveDesk) -> Socket:
    socket = Socket(desk.relay)
    socket.frame(json.dumps({"type": "hello", "version": 1, "token": desk.admin_token,
                             "last_seq": None}))
    while (await socket.next())["type"] != "caught_up":
        pass
    return socket


# --- answers ------------------------------------------------------------------------------


async def test_a_rating_is_kept_without_reopening_and_the_bot_stays_quiet(
        live: LiveDesk) -> None:
    await run_flow(live, EXAMPLE)
    opened = await text(live, "Hello")
    assert await got(live, 2) == [GREETING, PROMPT]
    await resolve(live, opened.id)
    assert await got(live, 3) == [GREETING, PROMPT, DEFAULT_TEXT]
    await text(live, "5!")
    assert await got(live, 3) == [GREETING, PROMPT, DEFAULT_TEXT]
    assert len(sent_to(live, PERSON)) == 3  # the bot did not take "5!" for its menu
    after = await ticket(live, opened.id)
    assert after.status is TicketStatus.RESOLVED and after.unread
    (survey,) = await surveys(live, opened.id)
    assert (survey.rating, survey.state, survey.comment) == (5, SurveyState.RATED, None)
    page = await live.relay.store.read(queries.list_tickets, queries.TicketFilter())
    assert next(r for r in page.items if r.ticket.id == opened.id).csat_rating == 5
    mine = await live.relay.store.read(queries.contact_tickets, after.contact_id)
    assert [(t.ticket.id, t.csat_rating) for t in mine.items] == [(opened.id, 5)]
    assert "The customer: rated 5 by SMS" in await history(live, opened.id)


@pytest.mark.parametrize(("body", "rating"), [("five", 5), ("⭐⭐⭐⭐", 4), ("4/5", 4),
                                              ("3 stars", 3), (" 2 ", 2)])
async def test_a_rating_in_its_other_forms(live: LiveDesk, body: str, rating: int) -> None:
    survey = await rated(live, body)
    assert (survey.rating, survey.state) == (rating, SurveyState.RATED)


async def test_a_rating_with_words_keeps_them_as_the_comment(live: LiveDesk) -> None:
    survey = await rated(live, "5 - great service")
    assert (survey.rating, survey.comment, survey.state) == (5, "great service",
                                                             SurveyState.DONE)


async def test_the_follow_up_asks_once_and_keeps_the_comment(live: LiveDesk) -> None:
    await live.relay.store.write(writes.update_number, await us_id(live),
                                 csat_followup=FOLLOWUP)
    survey = await rated(live, "4")
    assert survey.state is SurveyState.ASKED_COMMENT and survey.rating == 4
    assert await got(live, 2) == [DEFAULT_TEXT, FOLLOWUP]
    await text(live, "Faster replies, please")
    (survey,) = await surveys(live, survey.ticket_id)
    assert (survey.rating, survey.comment, survey.state) == (4, "Faster replies, please",
                                                             SurveyState.DONE)
    assert (await ticket(live, survey.ticket_id)).status is TicketStatus.RESOLVED
    assert await got(live, 2) == [DEFAULT_TEXT, FOLLOWUP]  # asked once
    assert any("commented on the survey" in line
               for line in await history(live, survey.ticket_id))
    # The survey is done: the next text is the customer writing back.
    await text(live, "One more thing")
    assert (await ticket(live, survey.ticket_id)).status is TicketStatus.OPEN


async def test_any_other_text_reopens_and_the_survey_expires(live: LiveDesk) -> None:
    opened = await text(live, "hi")
    for sent, body in enumerate(("I have 2 questions", "4 items are missing",
                                 "2 - can you call me?"), start=1):
        await resolve(live, opened.id)
        assert await got(live, sent) == [DEFAULT_TEXT] * sent
        await text(live, body)
        assert (await ticket(live, opened.id)).status is TicketStatus.OPEN
        latest = (await surveys(live, opened.id))[-1]
        assert latest.state is SurveyState.EXPIRED and latest.rating is None


async def test_a_second_rating_replaces_the_first_in_the_history(live: LiveDesk) -> None:
    survey = await rated(live, "3")
    await text(live, "Actually 5")  # not a rating form: reopens
    assert (await ticket(live, survey.ticket_id)).status is TicketStatus.OPEN
    await resolve(live, survey.ticket_id)
    await got(live, 2)
    await text(live, "3")
    await text(live, "5")
    assert (await ticket(live, survey.ticket_id)).status is TicketStatus.RESOLVED
    first, second = await surveys(live, survey.ticket_id)
    assert (first.rating, first.state) == (3, SurveyState.DONE)
    assert (second.rating, second.state) == (5, SurveyState.RATED)
    lines = await history(live, survey.ticket_id)
    assert "The customer: rating 3 → 5" in lines
    assert lines.count("The customer: rated 3 by SMS") == 2
    assert await live.relay.store.read(csat_surveys.latest_rating, survey.ticket_id) == 5


async def test_after_the_window_a_rating_reopens_as_usual(live: LiveDesk) -> None:
    opened = await text(live, "hi")
    await resolve(live, opened.id)
    await got(live, 1)

    def window_passed(ctx: WriteContext) -> None:  # three days later, as the clock would say
        ctx.conn.execute("UPDATE csat_surveys SET expires_at = ? WHERE ticket_id = ?",
                         (ctx.now - 1, opened.id))

    await live.relay.store.write(window_passed)
    await text(live, "4")
    assert (await ticket(live, opened.id)).status is TicketStatus.OPEN
    (survey,) = await surveys(live, opened.id)
    assert (survey.rating, survey.state) == (None, SurveyState.EXPIRED)


async def test_ticket_csat_and_update_number_through_the_protocol(live: LiveDesk) -> None:
    socket = await agent_socket(live)
    try:
        number_id = await us_id(live)
        refused = await socket.command("update_number", {"number_id": number_id,
                                                         "csat_window_days": 31})
        assert refused["type"] == "error" and "1 to 30 days" in refused["message"]
        refused = await socket.command("update_number", {"number_id": number_id,
                                                         "csat_text": " "})
        assert refused["type"] == "error" and "1 to 1600" in refused["message"]
        saved = await socket.command("update_number", {
            "number_id": number_id, "csat_text": "Rate us 1-5", "csat_followup": FOLLOWUP,
            "csat_window_days": 7, "csat_bulk": True})
        number = saved["result"]
        assert (number["csat_text"], number["csat_followup"], number["csat_window_days"],
                number["csat_bulk"]) == ("Rate us 1-5", FOLLOWUP, 7, True)
        opened = await text(live, "hello")
        await resolve(live, opened.id)
        assert await got(live, 1) == ["Rate us 1-5"]
        await text(live, "★★★")
        answer = await socket.command("ticket_csat", {"ticket_id": opened.id})
        assert answer["type"] == "result", answer
        found: dict[str, Any] = answer["result"]
        assert found["rating"] == 3 and len(found["surveys"]) == 1
        assert found["surveys"][0]["state"] == "asked_comment"
        assert found["surveys"][0]["expires_at"] - found["surveys"][0]["sent_at"] == \
            7 * 86_400_000
        theirs = await socket.command("contact_tickets", {"contact_id": opened.contact_id})
        assert [item["csat_rating"] for item in theirs["result"]["items"]] == [3]
        missing = await socket.command("ticket_csat", {"ticket_id": 9999})
        assert missing["type"] == "error" and missing["code"] == "not_found"
    finally:
        socket.task.cancel()
