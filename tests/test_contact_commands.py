"""The contact commands over the websocket, against a real relay and the simulator:
one person texting two business numbers is one contact with both tickets, edits are
checked on the relay and reach every agent live, and a resent edit is not redone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import UK_LONG_CODE, US_TOLL_FREE, LiveDesk, live_desk
from test_admin_commands import Refused, wire

from core import queries

JORDAN = "+15125550133"


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as live:
        yield live


async def _tickets_of_jordan(desk: LiveDesk) -> list[int]:
    await desk.text("Where is my parcel?", from_=JORDAN, to=US_TOLL_FREE)
    await desk.text("Hello from the other number", from_=JORDAN, to=UK_LONG_CODE)
    page = await desk.relay.store.read(queries.list_tickets)
    return [row.ticket.id for row in page.items]


async def test_two_business_numbers_one_contact_every_ticket_with_its_number(
    desk: LiveDesk,
) -> None:
    newest, oldest = await _tickets_of_jordan(desk)
    async with wire(desk, desk.agent_token) as agent:
        thread_owner = (await desk.relay.store.read(queries.ticket, newest)).contact_id
        assert (await desk.relay.store.read(queries.ticket, oldest)).contact_id == thread_owner
        await agent.call("set_ticket", ticket_id=oldest, status="closed")
        await agent.call("set_ticket", ticket_id=newest, deleted=True)
        page = await agent.call("contact_tickets", contact_id=thread_owner)
        assert [(i["ticket"]["id"], i["number"]) for i in page["items"]] == [
            (newest, UK_LONG_CODE), (oldest, US_TOLL_FREE)]
        assert page["items"][1]["ticket"]["status"] == "closed"  # closed and deleted ones too
        assert page["items"][0]["ticket"]["deleted"] is True
        first = await agent.call("contact_tickets", contact_id=thread_owner, limit=1)
        assert [i["ticket"]["id"] for i in first["items"]] == [newest]
        rest = await agent.call("contact_tickets", contact_id=thread_owner,
                                before=first["older"], limit=1)
        assert [i["ticket"]["id"] for i in rest["items"]] == [oldest] and rest["older"] is None
        with pytest.raises(Refused) as refused:
            await agent.call("contact_tickets", contact_id=thread_owner, before="nonsense")
        assert refused.value.code == "bad_args"
        with pytest.raises(Refused) as refused:
            await agent.call("get_contact", contact_id=9999)
        assert refused.value.code == "not_found"


async def test_an_edit_is_checked_reaches_every_agent_and_is_done_once(desk: LiveDesk) -> None:
    newest, _ = await _tickets_of_jordan(desk)
    contact_id = (await desk.relay.store.read(queries.ticket, newest)).contact_id
    async with wire(desk, desk.agent_token) as agent, wire(desk) as admin:
        with pytest.raises(Refused) as refused:
            await agent.call("update_contact", contact_id=contact_id, email="jordan@")
        assert refused.value.code == "refused" and "not a valid email" in refused.value.message
        unchanged = await agent.call("get_contact", contact_id=contact_id)
        assert unchanged["contact"]["email"] == "" and unchanged["contact"]["name"] == ""
        with pytest.raises(Refused) as refused:
            await agent.call("update_contact", contact_id=contact_id)
        assert refused.value.code == "bad_args"

        edited = await agent.call("update_contact", command_id="edit-1", contact_id=contact_id,
                                  name="  Jordan Reyes ", email="jordan@Example.COM",
                                  note="Prefers texts after 5pm")
        assert (edited["name"], edited["email"], edited["note"]) == (
            "Jordan Reyes", "jordan@example.com", "Prefers texts after 5pm")
        seen = await admin.event("contact.updated")
        assert seen["payload"]["contact"]["name"] == "Jordan Reyes"
        # Resent under the same id (a reconnect): answered from the record, not redone.
        await agent.call("update_contact", contact_id=contact_id, name="Jordan R.")
        again = await agent.call("update_contact", command_id="edit-1", contact_id=contact_id,
                                 name="  Jordan Reyes ", email="jordan@Example.COM",
                                 note="Prefers texts after 5pm")
        assert again == edited
        now = await admin.call("get_contact", contact_id=contact_id)
        assert now["contact"]["name"] == "Jordan R."
        found = await admin.call("list_tickets", text="jordan r")
        top = found["items"][0]
        assert (top["ticket"]["id"], top["matched"]) == (newest, ["name"])


HOME = "+15125550177"


async def _said(agent: Any, keyword: str) -> None:
    """Wait until the relay has applied a STOP or START (the wire replays older events)."""
    while (await agent.event("contact.updated"))["payload"].get("source") != keyword:
        pass


async def _sent_to(desk: LiveDesk, agent: Any, ticket_id: int, body: str) -> str:
    """Reply on a ticket, wait until Twilio (the simulator) has it, say where it went."""
    reply = await agent.call("reply", ticket_id=ticket_id, body=body)
    while not [m for m in desk.sim.messages if m.body == body]:
        await agent.event("message.updated")
    assert reply["body"] == body
    return next(m for m in desk.sim.messages if m.body == body).to


async def test_a_merge_moves_tickets_and_phones_once_and_replies_keep_their_phone(
    desk: LiveDesk,
) -> None:
    """Jordan texts from a work and a home phone (two contacts); an admin merges them. The
    tickets and phones follow, each phone keeps its STOP, a resend is not redone, an agent
    may not merge, and replies go to each ticket's own phone; the next text from either
    phone threads into the person's open ticket on that number."""
    await desk.text("From work", from_=JORDAN, to=US_TOLL_FREE)
    await desk.text("STOP", from_=HOME, to=UK_LONG_CODE)
    await desk.text("From home", from_=HOME, to=US_TOLL_FREE)
    page = await desk.relay.store.read(queries.list_tickets)
    by_phone = {row.contact_phone: row.ticket for row in page.items}
    work, home = by_phone[JORDAN], by_phone[HOME]
    assert work.contact_id != home.contact_id
    async with wire(desk, desk.agent_token) as agent, wire(desk) as admin:
        await admin.call("update_contact", contact_id=home.contact_id, name="Jordan at home",
                         email="jordan@example.com")
        await admin.call("update_contact", contact_id=work.contact_id, name="Jordan Reyes")
        with pytest.raises(Refused) as refused:
            await agent.call("merge_contacts", contact_id=work.contact_id,
                             merge_contact_id=home.contact_id)
        assert refused.value.code == "forbidden"
        with pytest.raises(Refused) as refused:
            await admin.call("merge_contacts", contact_id=work.contact_id,
                             merge_contact_id=work.contact_id)
        assert refused.value.code == "refused"
        merged = await admin.call("merge_contacts", command_id="merge-1",
                                  contact_id=work.contact_id, merge_contact_id=home.contact_id)
        seen = await agent.event("contact.merged")
        assert seen["payload"]["merged_id"] == home.contact_id
        assert seen["payload"]["contact"]["name"] == "Jordan Reyes"  # the kept one's
        assert seen["payload"]["contact"]["email"] == "jordan@example.com"  # was empty
        assert sorted(seen["payload"]["ticket_ids"]) == sorted(
            r.ticket.id for r in page.items if r.ticket.contact_id == home.contact_id)
        assert [(p["e164"], p["opted_out"]) for p in merged["phones"]] == [
            (JORDAN, False), (HOME, True)]
        again = await admin.call("merge_contacts", command_id="merge-1",
                                 contact_id=work.contact_id, merge_contact_id=home.contact_id)
        assert again == merged  # answered from the record, not redone (nor refused)
        with pytest.raises(Refused) as refused:
            await admin.call("get_contact", contact_id=home.contact_id)
        assert refused.value.code == "not_found"
        person = await agent.call("get_contact", contact_id=work.contact_id)
        assert [p["e164"] for p in person["phones"]] == [JORDAN, HOME]
        assert [(c["phone"], c["opted_out"]) for c in person["opt_out_history"]] == [
            (HOME, True)]
        tickets = await agent.call("contact_tickets", contact_id=work.contact_id)
        assert {i["ticket"]["id"] for i in tickets["items"]} >= {work.id, home.id}

        # STOP is per phone: the home phone's follows it into the merged contact, and the
        # work phone is still reachable. Each reply goes to its ticket's own phone.
        assert await _sent_to(desk, agent, work.id, "To your work phone") == JORDAN
        with pytest.raises(Refused) as refused:
            await agent.call("reply", ticket_id=home.id, body="Are you there?")
        assert "opted out" in refused.value.message
        await desk.text("START", from_=HOME, to=UK_LONG_CODE)
        await _said(agent, "keyword:START")
        assert await _sent_to(desk, agent, home.id, "To your home phone") == HOME

    # One person, one contact: the next text from the home phone on the US number threads
    # into the person's newest open ticket there, and replies follow to the home phone.
    await desk.text("Still there?", from_=HOME, to=US_TOLL_FREE)
    after = await desk.relay.store.read(queries.list_tickets)
    top = after.items[0]
    assert top.ticket.contact_id == work.contact_id and top.contact_phone == HOME
    assert len({r.ticket.contact_id for r in after.items}) == 1


async def test_phones_are_added_in_any_format_checked_and_thread_to_the_person(
    desk: LiveDesk,
) -> None:
    """An agent gives Jordan a home phone (typed nationally): a text from it then threads
    into Jordan's open ticket on that number. A phone already someone else's is refused
    with their name; bad numbers and removals that would lose something are refused."""
    await desk.text("From work", from_=JORDAN, to=US_TOLL_FREE)
    await desk.text("Hi, I'm Sam", from_="+15125550188", to=US_TOLL_FREE)
    page = await desk.relay.store.read(queries.list_tickets)
    jordan = next(r.ticket for r in page.items if r.contact_phone == JORDAN)
    sam = next(r.ticket for r in page.items if r.contact_phone != JORDAN)
    async with wire(desk, desk.agent_token) as agent, wire(desk) as admin:
        await agent.call("update_contact", contact_id=sam.contact_id, name="Sam Kim")
        added = await agent.call("add_contact_phone", command_id="p-1",
                                 contact_id=jordan.contact_id, phone="(512) 555-0177")
        assert [p["e164"] for p in added["phones"]] == [JORDAN, HOME]
        seen = await admin.event("contact.updated")  # Sam's name, then Jordan's phones
        seen = await admin.event("contact.updated")
        assert [p["e164"] for p in seen["payload"]["phones"]] == [JORDAN, HOME]
        again = await agent.call("add_contact_phone", command_id="p-1",
                                 contact_id=jordan.contact_id, phone="(512) 555-0177")
        assert again == added  # a resend is answered, not refused as a duplicate
        for typed, why in (("512 555 0188", "Sam Kim's phone"), ("12", "not a valid"),
                           ("x" * 41, "at most 40"), ("5125550177", "already one of")):
            with pytest.raises(Refused) as refused:
                await agent.call("add_contact_phone", contact_id=jordan.contact_id,
                                 phone=typed)
            assert refused.value.code == "refused" and why in refused.value.message, typed
        with pytest.raises(Refused) as refused:
            await agent.call("remove_contact_phone", contact_id=sam.contact_id,
                             phone="+15125550188")
        assert "at least one phone" in refused.value.message

    await desk.text("From home now", from_=HOME, to=US_TOLL_FREE)
    ticket = await desk.relay.store.read(queries.ticket, jordan.id)
    assert ticket.customer_phone == HOME and ticket.last_preview == "From home now"
    async with wire(desk, desk.agent_token) as agent:
        await desk.text("STOP", from_=HOME, to=US_TOLL_FREE)
        await _said(agent, "keyword:STOP")
        with pytest.raises(Refused) as refused:
            await agent.call("remove_contact_phone", command_id="r-1",
                             contact_id=jordan.contact_id, phone=HOME)
        assert "STOP" in refused.value.message
        await desk.text("START", from_=HOME, to=US_TOLL_FREE)
        await _said(agent, "keyword:START")
        # The first phone goes: the other becomes the contact's first.
        left = await agent.call("remove_contact_phone", command_id="r-2",
                                contact_id=jordan.contact_id, phone=JORDAN)
        assert [p["e164"] for p in left["phones"]] == [HOME]
        person = await agent.call("get_contact", command_id="r-3", contact_id=jordan.contact_id)
        assert person["contact"]["phone"] == HOME
