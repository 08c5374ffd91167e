"""The threading rule: which ticket an inbound text lands in.

First as the pure decision (``core.tickets.route_inbound``), then through a
real store, where the writer applies it inside its transaction.
"""

from __future__ import annotations

import asyncio

import pytest
from conftest import CUSTOMER, UK, US, Desk, customer

from core import queries, writes
from core.models import Channel, Media, Message, Ticket, TicketStatus
from core.store import Store
from core.tickets import Routing, route_inbound
from core.writes import InboundText

# --- the pure rule -------------------------------------------------------------------


def _ticket(status: TicketStatus, *, deleted: bool = False) -> Ticket:
    return Ticket(id=1, contact_id=1, number_id=1, status=status, deleted=deleted)


def test_no_ticket_yet_starts_a_new_one() -> None:
    assert route_inbound(None) is Routing.NEW


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (TicketStatus.OPEN, Routing.APPEND),
        (TicketStatus.PENDING, Routing.APPEND),
        (TicketStatus.RESOLVED, Routing.REOPEN),
        (TicketStatus.CLOSED, Routing.NEW),
    ],
)
def test_route_by_status(status: TicketStatus, expected: Routing) -> None:
    assert route_inbound(_ticket(status)) is expected


@pytest.mark.parametrize("status", list(TicketStatus))
def test_a_deleted_ticket_is_never_reused(status: TicketStatus) -> None:
    assert route_inbound(_ticket(status, deleted=True)) is Routing.NEW


# --- through the store ---------------------------------------------------------------


async def _thread_bodies(store: Store, ticket_id: int) -> list[str]:
    page = await store.read(queries.thread, ticket_id)
    return [entry.body for entry in page.items]


async def test_first_text_opens_a_ticket_in_the_numbers_default_group(desk: Desk) -> None:
    result = await desk.inbound("Hi, my invoice is wrong")
    assert not result.duplicate
    assert result.routing is Routing.NEW
    ticket = await desk.ticket(result.ticket.id)
    assert ticket == result.ticket
    assert ticket.status is TicketStatus.OPEN
    assert ticket.group_id == desk.billing.id
    assert ticket.number_id == desk.us.id
    assert ticket.unread
    assert ticket.subject == "Hi, my invoice is wrong"
    assert ticket.last_preview == "Hi, my invoice is wrong"
    contact = await desk.store.read(queries.contact_by_phone, CUSTOMER)
    assert contact is not None and contact.id == ticket.contact_id
    assert [e.kind for e in desk.events] == ["ticket.created"]
    assert desk.events[0].payload["contact"]["phone"] == CUSTOMER


async def test_new_ticket_on_a_number_without_default_group_is_ungrouped(desk: Desk) -> None:
    result = await desk.inbound("hello from London", to=UK)
    assert result.ticket.group_id is None
    assert (await desk.ticket(result.ticket.id)).group_id is None


async def test_second_text_appends_to_the_open_ticket(desk: Desk) -> None:
    first = await desk.inbound("first")
    second = await desk.inbound("second")
    assert second.routing is Routing.APPEND
    assert second.ticket.id == first.ticket.id
    assert await _thread_bodies(desk.store, first.ticket.id) == ["first", "second"]
    assert [e.kind for e in desk.events] == ["ticket.created", "message.created"]
    assert await desk.store.read(queries.count_tickets) == 1


async def test_pending_ticket_gets_the_text_and_opens_again(desk: Desk) -> None:
    first = await desk.inbound("first")
    await desk.update(first.ticket.id, status="pending")
    second = await desk.inbound("second")
    assert second.routing is Routing.APPEND
    assert second.ticket.id == first.ticket.id
    assert (await desk.ticket(first.ticket.id)).status is TicketStatus.OPEN


async def test_resolved_ticket_reopens(desk: Desk) -> None:
    first = await desk.inbound("first")
    await desk.update(first.ticket.id, status="resolved")
    again = await desk.inbound("actually it is still broken")
    assert again.routing is Routing.REOPEN
    assert again.ticket.id == first.ticket.id
    assert again.ticket.status is TicketStatus.OPEN
    stored = await desk.ticket(first.ticket.id)
    assert stored.status is TicketStatus.OPEN
    assert await _thread_bodies(desk.store, first.ticket.id) == [
        "first", "actually it is still broken",
    ]
    # the live event says "open" too, so every inbox moves the row out of "resolved"
    assert desk.events[-1].kind == "message.created"
    assert desk.events[-1].payload["ticket"]["status"] == "open"


async def test_closed_ticket_is_final_and_a_new_one_starts(desk: Desk) -> None:
    first = await desk.inbound("first")
    await desk.update(first.ticket.id, status="closed", group_id=desk.support.id)
    again = await desk.inbound("new problem")
    assert again.routing is Routing.NEW
    assert again.ticket.id != first.ticket.id
    assert again.ticket.contact_id == first.ticket.contact_id
    # the new ticket starts from the number's default, not the old ticket's group
    assert again.ticket.group_id == desk.billing.id
    assert again.ticket.subject == "new problem"
    old = await desk.ticket(first.ticket.id)
    assert old.status is TicketStatus.CLOSED
    assert await _thread_bodies(desk.store, first.ticket.id) == ["first"]
    assert await _thread_bodies(desk.store, again.ticket.id) == ["new problem"]
    # and a third text goes to the new ticket, not the closed one
    third = await desk.inbound("third")
    assert third.ticket.id == again.ticket.id


async def test_deleted_ticket_is_never_reused(desk: Desk) -> None:
    first = await desk.inbound("first")
    await desk.update(first.ticket.id, deleted=True)
    again = await desk.inbound("are you there?")
    assert again.routing is Routing.NEW
    assert again.ticket.id != first.ticket.id
    assert (await desk.ticket(first.ticket.id)).deleted
    assert await _thread_bodies(desk.store, first.ticket.id) == ["first"]


async def test_same_contact_on_another_number_gets_a_separate_ticket(desk: Desk) -> None:
    us = await desk.inbound("to the US number", to=US)
    uk = await desk.inbound("to the UK number", to=UK)
    assert uk.routing is Routing.NEW
    assert uk.ticket.id != us.ticket.id
    assert uk.ticket.contact_id == us.ticket.contact_id
    assert uk.ticket.number_id == desk.uk.id
    # each number keeps threading on its own ticket
    us_again = await desk.inbound("US again", to=US)
    uk_again = await desk.inbound("UK again", to=UK)
    assert us_again.ticket.id == us.ticket.id
    assert uk_again.ticket.id == uk.ticket.id


async def test_other_contacts_on_the_same_number_are_separate(desk: Desk) -> None:
    a = await desk.inbound("from a", from_=customer(1))
    b = await desk.inbound("from b", from_=customer(2))
    assert a.ticket.id != b.ticket.id
    assert a.ticket.contact_id != b.ticket.contact_id


async def test_every_inbound_marks_the_ticket_unread(desk: Desk) -> None:
    first = await desk.inbound("first")
    await desk.update(first.ticket.id, unread=False)
    assert not (await desk.ticket(first.ticket.id)).unread
    again = await desk.inbound("second")
    assert again.ticket.unread
    assert (await desk.ticket(first.ticket.id)).unread


async def test_subject_comes_from_the_first_text_only(desk: Desk) -> None:
    long_text = "  My   order\nnever arrived " + "and I have been waiting for weeks " * 3
    first = await desk.inbound(long_text)
    subject = first.ticket.subject
    assert subject.startswith("My order never arrived and")
    assert len(subject) == 60 and subject.endswith("…")
    await desk.inbound("any update?")
    assert (await desk.ticket(first.ticket.id)).subject == subject


async def test_preview_follows_the_latest_text(desk: Desk) -> None:
    first = await desk.inbound("first message")
    assert (await desk.ticket(first.ticket.id)).last_preview == "first message"
    before = (await desk.ticket(first.ticket.id)).last_message_at
    await desk.inbound("second\n  message   with  spaces")
    ticket = await desk.ticket(first.ticket.id)
    assert ticket.last_preview == "second message with spaces"
    assert ticket.last_message_at >= before


async def test_picture_only_text(desk: Desk) -> None:
    photo = Media(content_type="image/jpeg", size=1234, sha256="ab" * 32, filename="a.jpg")
    result = await desk.inbound("", media=(photo,))
    assert result.ticket.subject == "(no text)"
    assert result.ticket.last_preview == "[1 attachment]"
    assert result.message.channel is Channel.MMS
    page = await desk.store.read(queries.thread, result.ticket.id)
    stored = page.items[0]
    assert isinstance(stored, Message)
    assert stored.media == (photo,)
    assert stored.channel is Channel.MMS


async def test_texts_in_the_same_batch_share_one_new_ticket(desk: Desk) -> None:
    # A brand-new contact sends three texts at once: they are committed in one
    # batch, and the later jobs must see the contact and ticket the first made.
    results = await asyncio.gather(*(desk.inbound(f"part {i}") for i in range(3)))
    assert [r.routing for r in results] == [Routing.NEW, Routing.APPEND, Routing.APPEND]
    assert len({r.ticket.id for r in results}) == 1
    assert await desk.store.read(queries.count_tickets) == 1
    assert await _thread_bodies(desk.store, results[0].ticket.id) == ["part 0", "part 1", "part 2"]


async def test_new_tickets_follow_a_changed_default_group(desk: Desk) -> None:
    await desk.inbound("warms the writer's number cache", from_=customer(1))
    await desk.store.write(
        writes.update_number, desk.us.id, default_group_id=desk.support.id
    )
    result = await desk.inbound("after the change", from_=customer(2))
    assert result.ticket.group_id == desk.support.id


async def test_number_cache_does_not_keep_a_rolled_back_change(desk: Desk) -> None:
    def change_then_fail(ctx: writes.WriteContext, text: InboundText) -> None:
        writes.update_number(ctx, desk.us.id, default_group_id=desk.support.id)
        writes.record_inbound(ctx, text)  # caches the number with the new default group
        raise RuntimeError("the job fails after all")

    with pytest.raises(RuntimeError):
        await desk.store.write(change_then_fail, desk.text("rolled back", from_=customer(1)))
    number = await desk.store.read(queries.number_by_e164, US)
    assert number is not None and number.default_group_id == desk.billing.id
    result = await desk.inbound("a new ticket", from_=customer(2))
    assert result.ticket.group_id == desk.billing.id  # what the committed number says
