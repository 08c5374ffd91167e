"""Ticket fields on the relay: admins define them, values are checked against them,
resolving needs the required ones, and each ticket's changes read back as its history."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from relay_harness import Harness, relay_on_loopback

from core import queries
from core.fields import definitions


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Harness]:
    async with relay_on_loopback(tmp_path) as harness:
        yield harness


async def _tickets(relay: Harness, count: int = 1) -> list[int]:
    for n in range(count):
        await relay.text(f"hello {n}", from_=f"+1202555010{n}")
    page = await relay.relay.store.read(queries.list_tickets)
    return sorted(row.ticket.id for row in page.items)


def _result(frame: dict[str, Any]) -> Any:
    assert frame["type"] == "result", frame
    return frame["result"]


async def _define(ada: Any) -> dict[str, Any]:
    """Order number (text, required) and Reason (dropdown, required); Notes (paragraph)."""
    order = _result(await ada.command("create_field", label="Order number", kind="text",
                                      required_to_resolve=True))
    reason = _result(await ada.command("create_field", label="Reason", kind="dropdown",
                                       choices=["Refund", "Lost parcel"],
                                       required_to_resolve=True))
    notes = _result(await ada.command("create_field", label="Notes", kind="paragraph"))
    return {"order": order, "reason": reason, "notes": notes}


async def test_admins_define_fields_in_order_and_a_resend_is_not_redone(relay: Harness) -> None:
    async with relay.agent(relay.admin_token) as ada, relay.agent() as bo:
        await ada.until("caught_up")
        await bo.until("caught_up")
        made = _result(await ada.command("create_field", command_id="f1", label="Order  number",
                                         kind="text"))
        assert made["key"] == "order_number" and made["label"] == "Order number"
        again = _result(await ada.command("create_field", command_id="f1", label="Order number",
                                          kind="text"))
        assert again == made
        event = await bo.until("event")
        assert event["kind"] == "field.updated"
        assert [f["key"] for f in event["payload"]["fields"]] == ["order_number"]
        date = _result(await ada.command("create_field", label="Due", kind="date"))
        moved = _result(await ada.command("move_field", field_id=date["id"], to=0))
        assert [f["label"] for f in moved] == ["Due", "Order number"]
        assert [f["label"] for f in _result(await bo.command("list_fields"))] == \
            ["Due", "Order number"]

        refused = await bo.command("create_field", label="Sneaky", kind="text")
        assert refused["type"] == "error" and refused["code"] == "forbidden"
        twin = await ada.command("create_field", label="order NUMBER", kind="text")
        assert "already a field called order NUMBER" in twin["message"]
        assert twin["field"] == "label"
        no_choices = await ada.command("create_field", label="Reason", kind="dropdown")
        assert no_choices["message"] == "a dropdown needs at least one choice"
        assert no_choices["field"] == "choices"
        bad_kind = await ada.command("create_field", label="Colour", kind="colour")
        assert bad_kind["type"] == "error" and "not 'colour'" in bad_kind["message"]
        nothing = await ada.command("update_field", field_id=made["id"])
        assert nothing["code"] == "bad_args"
        missing = await ada.command("update_field", field_id=999, label="x")
        assert missing["code"] == "not_found"
    assert len(await relay.relay.store.read(definitions)) == 2


async def test_values_are_checked_against_the_definitions_and_merged(relay: Harness) -> None:
    (ticket,) = await _tickets(relay)
    async with relay.agent(relay.admin_token) as ada, relay.agent() as bo:
        await ada.until("caught_up")
        await bo.until("caught_up")
        defs = await _define(ada)
        count = _result(await ada.command("create_field", label="Parcels", kind="number"))
        bad = await bo.command("set_ticket", ticket_id=ticket, status="pending",
                               custom_fields={"order_number": "A1", "parcels": "two"})
        assert bad["type"] == "error" and bad["field"] == "parcels"
        assert bad["message"] == "Parcels must be a whole number, like 42"
        stored = (await relay.relay.store.read(queries.ticket, ticket))
        assert stored.custom_fields == {} and stored.status.value == "open"  # nothing changed
        unknown = await bo.command("set_ticket", ticket_id=ticket, custom_fields={"nope": 1})
        assert unknown["field"] == "nope"
        ok = _result(await bo.command("set_ticket", ticket_id=ticket,
                                      custom_fields={"order_number": "A1", "parcels": 2,
                                                     "reason": "Refund"}))
        assert ok["custom_fields"] == {"order_number": "A1", "parcels": 2, "reason": "Refund"}
        # Only the keys given change; an empty value clears one.
        ok = _result(await bo.command("set_ticket", ticket_id=ticket,
                                      custom_fields={"parcels": ""}))
        assert ok["custom_fields"] == {"order_number": "A1", "reason": "Refund"}
        # A dropdown's choices change: the old value stays on the ticket.
        _result(await ada.command("update_field", field_id=defs["reason"]["id"],
                                  choices=["Damaged"]))
        _result(await ada.command("update_field", field_id=count["id"], retired=True))
        kept = await relay.relay.store.read(queries.ticket, ticket)
        assert kept.custom_fields["reason"] == "Refund"
        retired = await bo.command("set_ticket", ticket_id=ticket, custom_fields={"parcels": 3})
        assert "Parcels is retired" in retired["message"]


async def test_resolving_needs_the_required_fields_named_one_ticket_at_a_time(
        relay: Harness) -> None:
    first, second = await _tickets(relay, 2)
    async with relay.agent(relay.admin_token) as ada, relay.agent() as bo:
        await ada.until("caught_up")
        await bo.until("caught_up")
        defs = await _define(ada)
        refused = await bo.command("set_ticket", ticket_id=first, status="resolved")
        assert refused["message"] == f"Can't resolve #{first}: fill in Order number and " \
                                     "Reason first"
        assert refused["field"] == "order_number"
        closed = await bo.command("set_ticket", ticket_id=first, status="closed",
                                  custom_fields={"order_number": "A1"})
        assert closed["message"] == f"Can't close #{first}: fill in Reason first"
        assert (await relay.relay.store.read(queries.ticket, first)).custom_fields == {}
        # Filled in the same command: resolved.
        done = _result(await bo.command("set_ticket", ticket_id=first, status="resolved",
                                        custom_fields={"order_number": "A1",
                                                       "reason": "Refund"}))
        assert done["status"] == "resolved"
        # A bulk resolve is a set_ticket per ticket: the one without its fields says why.
        again = await bo.command("set_ticket", ticket_id=first, status="resolved")
        assert again["type"] == "result"
        other = await bo.command("set_ticket", ticket_id=second, status="resolved")
        assert other["message"].startswith(f"Can't resolve #{second}")
        # A retired field is never required; not required any more: resolvable.
        await ada.command("update_field", field_id=defs["order"]["id"], retired=True)
        await ada.command("update_field", field_id=defs["reason"]["id"],
                          required_to_resolve=False)
        assert _result(await bo.command("set_ticket", ticket_id=second,
                                        status="resolved"))["status"] == "resolved"


async def test_the_activity_history_tells_who_changed_what_newest_first(relay: Harness) -> None:
    (ticket,) = await _tickets(relay)
    async with relay.agent(relay.admin_token) as ada, relay.agent() as bo:
        await ada.until("caught_up")
        await bo.until("caught_up")
        await _define(ada)
        await bo.command("set_ticket", ticket_id=ticket, status="pending")
        await bo.command("set_ticket", ticket_id=ticket, status="pending")  # no change
        await bo.command("mark_read", ticket_id=ticket)
        await ada.command("set_ticket", ticket_id=ticket, tags=["vip"])
        await bo.command("set_ticket", ticket_id=ticket, custom_fields={"order_number": "A1",
                                                                        "notes": "long\ntext"})
        await bo.command("set_ticket", ticket_id=ticket, custom_fields={"order_number": "B2"})
        await bo.command("log_time", ticket_id=ticket, seconds=900)
        await ada.command("add_note", ticket_id=ticket, body="called them")
        history = _result(await bo.command("ticket_activity", ticket_id=ticket))
        said = [f"{item['who']} {item['what']}" for item in history["items"]]
        assert said == [
            "Ada added a note",
            "Bo logged 15m",
            "Bo set Order number to B2 (was A1)",
            "Bo changed Notes",
            "Bo set Order number to A1",
            "Ada added tag vip",
            "Bo set status Open → Pending",
            "+12025550100 texted in: ticket opened",
        ]
        assert history["older"] is None
        first = _result(await bo.command("ticket_activity", ticket_id=ticket, limit=2))
        assert [i["what"] for i in first["items"]] == ["added a note", "logged 15m"]
        rest = _result(await bo.command("ticket_activity", ticket_id=ticket,
                                        before=first["older"], limit=50))
        assert [f"{i['who']} {i['what']}" for i in rest["items"]] == said[2:]
        bad = await bo.command("ticket_activity", ticket_id=ticket, limit=0)
        assert bad["code"] == "bad_args"
        gone = await bo.command("ticket_activity", ticket_id=999)
        assert gone["code"] == "not_found"


async def test_events_written_before_the_history_existed_are_told_as_well_as_they_can_be(
        relay: Harness) -> None:
    (ticket,) = await _tickets(relay)

    def old_style(conn: Any) -> None:
        conn.execute("INSERT INTO events(at, kind, ticket_id, payload) VALUES (1, "
                     "'ticket.updated', ?, ?)",
                     (ticket, json.dumps({"ticket": {"id": ticket, "status": "resolved",
                                                     "tags": ["a"]},
                                          "changed": ["status", "tags"]})))

    await relay.relay.store.write(lambda w: old_style(w.conn))
    async with relay.agent() as bo:
        await bo.until("caught_up")
        history = _result(await bo.command("ticket_activity", ticket_id=ticket))
        assert [f"{i['who']} {i['what']}" for i in history["items"]][:2] == \
            ["Someone set status to Resolved", "Someone set tags to a"]


async def test_ticket_facts_are_the_first_agent_reply_and_the_last_customer_text(
        relay: Harness) -> None:
    (ticket,) = await _tickets(relay)
    async with relay.agent() as bo:
        await bo.until("caught_up")
        facts = _result(await bo.command("ticket_facts", ticket_id=ticket))
        assert facts["first_response_at"] is None and facts["last_customer_at"] is not None
        await bo.command("add_note", ticket_id=ticket, body="a note is no response")
        assert _result(await bo.command("ticket_facts",
                                        ticket_id=ticket))["first_response_at"] is None
        replied = _result(await bo.command("reply", ticket_id=ticket, body="On it!"))
        await relay.text("thanks", from_="+12025550100")
        await bo.command("reply", ticket_id=ticket, body="You're welcome")
        facts = _result(await bo.command("ticket_facts", ticket_id=ticket))
        assert facts["first_response_at"] == replied["created_at"]
        thread = await relay.relay.store.read(queries.thread, ticket)
        last_in = max(e.created_at for e in thread.items
                      if getattr(e, "direction", None) == "inbound")
        assert facts["last_customer_at"] == last_in
        gone = await bo.command("ticket_facts", ticket_id=999)
        assert gone["code"] == "not_found"
