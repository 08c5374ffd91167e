"""A customer who texted in can always be answered: Twilio, not phone metadata, judges."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import phonenumbers
import pytest
from relay_harness import UK_LONG_CODE, Harness, relay_on_loopback

from server import demo
from server.simulator.customers import DEMO_CUSTOMERS

DRAMA_RANGE = "+447700900321"  # libphonenumber calls Ofcom's drama range invalid


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Harness]:
    async with relay_on_loopback(tmp_path) as harness:
        yield harness


async def test_the_relay_sends_a_reply_to_a_number_twilio_delivered(relay: Harness) -> None:
    await relay.text("where is my parcel?", to=UK_LONG_CODE, from_=DRAMA_RANGE)
    async with relay.agent() as agent:
        await agent.until("caught_up")
        rows = (await agent.command("list_tickets"))["result"]["items"]
        ticket_id = next(r["ticket"]["id"] for r in rows if r["contact_phone"] == DRAMA_RANGE)
        reply = await agent.command("reply", ticket_id=ticket_id, body="On its way back to us.")
        assert reply.get("result", {}).get("status") == "queued", reply


def test_every_demo_customer_has_a_number_the_metadata_calls_valid() -> None:
    phones = {*demo.NAMED, demo.CARLOS, demo.EMMA, *(c.phone for c in DEMO_CUSTOMERS)}
    invalid = sorted(p for p in phones
                     if not phonenumbers.is_valid_number(phonenumbers.parse(p)))
    assert invalid == []
