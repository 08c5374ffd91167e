"""STOP/START/HELP: the keyword rule, and what an inbound keyword does to a contact."""

from __future__ import annotations

import pytest
from conftest import CUSTOMER, Desk

from core import optout, queries, writes
from core.models import Contact
from core.optout import Keyword, keyword_in
from core.queries import TicketFilter


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", Keyword.OPT_OUT),
        ("stop", Keyword.OPT_OUT),
        (" Stop ", Keyword.OPT_OUT),
        ("\tSTOP\n", Keyword.OPT_OUT),
        ("Stop!", Keyword.OPT_OUT),
        ("stop.", Keyword.OPT_OUT),
        ("STOPALL", Keyword.OPT_OUT),
        ("stop all", Keyword.OPT_OUT),
        ("Stop   All", Keyword.OPT_OUT),
        ("UNSUBSCRIBE", Keyword.OPT_OUT),
        ("cancel", Keyword.OPT_OUT),
        ("End", Keyword.OPT_OUT),
        ("QUIT", Keyword.OPT_OUT),
        ("optout", Keyword.OPT_OUT),
        ("revoke", Keyword.OPT_OUT),
        ("START", Keyword.OPT_IN),
        ("yes", Keyword.OPT_IN),
        ("Unstop", Keyword.OPT_IN),
        ("HELP", Keyword.HELP),
        ("info", Keyword.HELP),
    ],
)
def test_keywords(body: str, expected: Keyword) -> None:
    assert keyword_in(body) is expected


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   ",
        "please stop texting me",
        "stopping by later",
        "STOP IT",
        "I want to cancel my order",
        "yes please",
        "help me",
        "S T O P",
        "STOP?",
        "\u200bSTOP",  # a zero-width space is not whitespace: not the bare keyword
    ],
)
def test_not_keywords(body: str) -> None:
    assert keyword_in(body) is None


async def _contact(desk: Desk) -> Contact:
    found = await desk.store.read(queries.contact_by_phone, CUSTOMER)
    assert found is not None
    return found


async def test_stop_opts_out_and_the_text_is_kept(desk: Desk) -> None:
    await desk.inbound("I need help with my bill")
    result = await desk.inbound("STOP")
    assert result.keyword is Keyword.OPT_OUT
    contact = await _contact(desk)
    assert contact.opted_out
    history = await desk.store.read(queries.opt_out_history, contact.id)
    assert [(h.opted_out, h.source, h.number_id) for h in history] == [
        (True, "keyword:STOP", desk.us.id)
    ]
    # the STOP itself is a message in the ticket like any other
    page = await desk.store.read(queries.thread, result.ticket.id)
    assert [e.body for e in page.items] == ["I need help with my bill", "STOP"]
    assert (await desk.ticket(result.ticket.id)).last_preview == "STOP"
    # the list row shows it, and every inbox hears it
    rows = (await desk.store.read(queries.list_tickets, TicketFilter())).items
    assert [r.contact_opted_out for r in rows] == [True]
    update = desk.events[-1]
    assert update.kind == "contact.updated"
    assert update.payload["contact"]["opted_out"] is True
    assert update.payload["source"] == "keyword:STOP"


async def test_start_clears_the_opt_out(desk: Desk) -> None:
    await desk.inbound("stop")
    result = await desk.inbound("Start")
    assert result.keyword is Keyword.OPT_IN
    contact = await _contact(desk)
    assert not contact.opted_out
    history = await desk.store.read(queries.opt_out_history, contact.id)
    assert [(h.opted_out, h.source) for h in history] == [
        (True, "keyword:STOP"),
        (False, "keyword:START"),
    ]
    page = await desk.store.read(queries.thread, result.ticket.id)
    assert [e.body for e in page.items] == ["stop", "Start"]


async def test_padded_keyword_is_audited_as_the_bare_word(desk: Desk) -> None:
    await desk.inbound(" Stop ")
    contact = await _contact(desk)
    history = await desk.store.read(queries.opt_out_history, contact.id)
    assert [h.source for h in history] == ["keyword:STOP"]


@pytest.mark.parametrize(("body", "source"), [("stop.", "keyword:STOP"),
                                              ("Stop   all!", "keyword:STOP ALL")])
async def test_punctuated_keyword_is_audited_as_the_keyword(
    desk: Desk, body: str, source: str
) -> None:
    await desk.inbound(body)
    contact = await _contact(desk)
    history = await desk.store.read(queries.opt_out_history, contact.id)
    assert [h.source for h in history] == [source]


async def test_repeated_stop_adds_no_audit_line(desk: Desk) -> None:
    await desk.inbound("STOP")
    await desk.inbound("STOP")
    contact = await _contact(desk)
    history = await desk.store.read(queries.opt_out_history, contact.id)
    assert len(history) == 1


async def test_a_retried_stop_webhook_is_recorded_once(desk: Desk) -> None:
    await desk.inbound("STOP", sid="SMstop")
    await desk.inbound("START", sid="SMstart")
    again = await desk.inbound("STOP", sid="SMstop")  # Twilio retries the first webhook
    assert again.duplicate
    contact = await _contact(desk)
    assert not contact.opted_out
    history = await desk.store.read(queries.opt_out_history, contact.id)
    assert len(history) == 2


@pytest.mark.parametrize("body", ["please stop texting me", "stopping by later", "HELP"])
async def test_other_texts_change_nothing(desk: Desk, body: str) -> None:
    result = await desk.inbound(body)
    assert result.keyword is (Keyword.HELP if body == "HELP" else None)
    contact = await _contact(desk)
    assert not contact.opted_out
    assert await desk.store.read(queries.opt_out_history, contact.id) == []


async def test_opt_out_is_per_business_number_as_twilio_applies_it(desk: Desk) -> None:
    """A STOP to one of the desk's numbers blocks that number, not the others (Twilio's
    Advanced Opt-Out is per sender); a second STOP to the other number blocks it too."""
    await desk.inbound("STOP", to=desk.us.e164)
    result = await desk.inbound("hello", to=desk.uk.e164)
    contact = await _contact(desk)
    assert contact.opted_out  # from at least one number
    blocked = await desk.store.read(optout.opted_out_number_ids, contact.phone)
    assert blocked == [desk.us.id]
    assert not await desk.store.read(optout.opted_out_from, contact.phone, desk.uk.id)
    rows = (await desk.store.read(queries.list_tickets, TicketFilter())).items
    row = next(r for r in rows if r.ticket.id == result.ticket.id)
    assert not row.contact_opted_out and row.contact_opted_out_number_ids == (desk.us.id,)
    await desk.inbound("STOP", to=desk.uk.e164)  # logged, though the contact was opted out
    assert await desk.store.read(optout.opted_out_number_ids, contact.phone) == sorted(
        [desk.us.id, desk.uk.id])
    await desk.inbound("START", to=desk.us.e164)
    assert await desk.store.read(optout.opted_out_number_ids, contact.phone) == [desk.uk.id]
    assert (await _contact(desk)).opted_out
    await desk.inbound("START", to=desk.uk.e164)
    assert not (await _contact(desk)).opted_out


async def test_agent_opt_out_is_audited(desk: Desk) -> None:
    await desk.inbound("hello")
    contact = await _contact(desk)
    await desk.store.write(
        writes.set_opt_out, contact.id, opted_out=True, source="agent:alice"
    )
    await desk.store.write(writes.set_opt_out, contact.id, opted_out=True, source="agent:bob")
    await desk.store.write(
        writes.set_opt_out, contact.id, opted_out=False, source="agent:carol",
        number_id=desk.us.id,
    )
    history = await desk.store.read(queries.opt_out_history, contact.id)
    assert [(h.opted_out, h.source, h.number_id) for h in history] == [
        (True, "agent:alice", None),
        (False, "agent:carol", desk.us.id),
    ]
    assert history[0].at <= history[1].at


async def test_opt_out_is_per_phone_and_number_for_a_person_with_two_phones(desk: Desk) -> None:
    """A STOP from one of a person's phones to one number blocks that pair only: their other
    phone is still reachable from that number, and the first from the desk's other number."""
    from core import contacts

    home, work = CUSTOMER, "+12025550177"
    await desk.inbound("hello", from_=home, to=desk.us.e164)
    person = await _contact(desk)
    await desk.store.write(contacts.add_phone, person.id, work)
    await desk.inbound("STOP", from_=home, to=desk.us.e164)
    assert await desk.store.read(optout.opted_out_number_ids, home) == [desk.us.id]
    assert await desk.store.read(optout.opted_out_number_ids, work) == []
    phones = {p.e164: p for p in await desk.store.read(contacts.phones_of, person.id)}
    assert phones[home].opted_out and phones[home].opted_out_number_ids == (desk.us.id,)
    assert not phones[work].opted_out and phones[work].opted_out_number_ids == ()
    at_work = await desk.store.read(writes.contact_at_phone, person.id, work, desk.us.id)
    at_home = await desk.store.read(writes.contact_at_phone, person.id, home, desk.us.id)
    home_uk = await desk.store.read(writes.contact_at_phone, person.id, home, desk.uk.id)
    assert (at_home.opted_out, at_work.opted_out, home_uk.opted_out) == (True, False, False)
