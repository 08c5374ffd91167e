"""Replies whose status callbacks were lost: the outbox's leader asks Twilio how they went.

Against the simulator, whose ``lose_status_callbacks`` knob loses every callback (Twilio
calls a StatusCallback once and does not retry), on both backends: first the poller
alone on a store, then a whole relay, where a callback arriving after the poll must not
move a final status back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Desk
from desk_harness import live_desk

from core import queries, writes
from core.models import Message, MessageStatus, SenderType
from server import outbox_status, twilio_api
from server.outbox import Outbox, RateLimiter
from server.outbox_status import StatusPoller, StatusPolling
from server.simulator.runner import Simulator

FAST = {kind: 1000.0 for kind in SenderType}
REACHABLE = "+12025550101"
UNREACHABLE = "+12025550102"


@pytest.fixture
async def sim(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Simulator]:
    """The simulator holding the desk's account and numbers, losing every status callback."""
    simulator = Simulator()
    await simulator.start(host="127.0.0.1", port=0)
    monkeypatch.setenv("SMSDESK_TWILIO_API_URL", simulator.url)
    simulator.add_account(desk.account.sid, desk.account.auth_token, friendly_name="Acme")
    simulator.add_number(desk.account.sid, desk.us.e164, mms=True)
    simulator.add_number(desk.account.sid, desk.uk.e164, mms=False)
    simulator.state.knobs.lose_status_callbacks = True
    simulator.state.knobs.fail_to[UNREACHABLE] = 30003
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SIDs the poller asks Twilio about, in order."""
    sids: list[str] = []
    fetch = twilio_api.fetch_message

    def counted(sid: str, token: str, message_sid: str) -> twilio_api.SentInfo:
        sids.append(message_sid)
        return fetch(sid, token, message_sid)

    monkeypatch.setattr(twilio_api, "fetch_message", counted)
    yield sids


async def handed(desk: Desk, customer: str, body: str) -> Message:
    """A reply to ``customer``, sent through the outbox: Twilio has it, with a SID."""
    ticket = (await desk.inbound("hello", from_=customer)).ticket
    reply = await desk.store.write(writes.queue_outbound, ticket_id=ticket.id, agent_id=None,
                                   body=body)
    outbox = Outbox(store=desk.store, public_url=lambda: "http://127.0.0.1:9",
                    media_url=lambda item: "")
    await outbox.work_once(RateLimiter(FAST))
    sent = await desk.store.read(queries.entry, reply.id)
    assert isinstance(sent, Message) and sent.twilio_sid, sent
    return sent


async def stored(desk: Desk, message: Message) -> Message:
    found = await desk.store.read(queries.entry, message.id)
    assert isinstance(found, Message)
    return found


def quickly(**changes: Any) -> StatusPolling:
    return StatusPolling(**{"every": 0.2, "quiet": 0.0, **changes})


async def test_the_outcome_of_a_reply_whose_callbacks_were_lost_is_learned(
        desk: Desk, sim: Simulator) -> None:
    delivered = await handed(desk, REACHABLE, "Your order shipped.")
    undelivered = await handed(desk, UNREACHABLE, "Your order shipped too.")
    await sim.settle()
    lost = [call for call in sim.webhooks if call.kind == "status"]
    assert len(lost) == 4 and all(call.status is None and call.error for call in lost)
    assert (await stored(desk, delivered)).status is MessageStatus.SENDING  # nothing told us
    before = len(desk.events)

    assert await StatusPoller(desk.store, quickly()).poll_once() == 2

    now = await stored(desk, delivered), await stored(desk, undelivered)
    assert [(m.status, m.error_code) for m in now] == [
        (MessageStatus.DELIVERED, None), (MessageStatus.UNDELIVERED, 30003)]
    told = [(e.payload["message"]["id"], e.payload["message"]["status"])
            for e in desk.events[before:] if e.kind == "message.updated"]
    assert told == [(delivered.id, "delivered"), (undelivered.id, "undelivered")]
    failed = next(e for e in desk.events[before:]
                  if e.payload["message"]["id"] == undelivered.id)
    assert failed.payload["error"]["code"] == 30003  # explained to the agent, as a callback is


async def test_a_reply_is_asked_about_only_once_its_status_has_stood_still(
        desk: Desk, sim: Simulator, asked: list[str]) -> None:
    await handed(desk, REACHABLE, "Soon.")
    await sim.settle()
    assert await StatusPoller(desk.store, quickly(quiet=60.0)).poll_once() == 0
    assert asked == []


async def test_a_backlog_is_asked_about_a_batch_at_a_time_oldest_first_in_turns(
        desk: Desk, sim: Simulator, asked: list[str]) -> None:
    sim.state.knobs.delivery_delay = 3600.0  # still queued at Twilio: nothing settles
    replies = [await handed(desk, f"+1202555020{n}", f"reply {n}") for n in range(3)]
    sids = [reply.twilio_sid for reply in replies]
    poller = StatusPoller(desk.store, quickly(batch=2))
    assert [await poller.poll_once() for _ in range(3)] == [2, 1, 2]
    assert asked == [sids[0], sids[1], sids[2], sids[0], sids[1]]
    assert [(await stored(desk, r)).status for r in replies] == [MessageStatus.SENDING] * 3


async def test_a_reply_twilio_no_longer_has_is_left_as_it_is_and_not_asked_again(
        desk: Desk, sim: Simulator, asked: list[str]) -> None:
    ticket = (await desk.inbound("hello", from_=REACHABLE)).ticket
    reply = await desk.store.write(writes.queue_outbound, ticket_id=ticket.id, agent_id=None,
                                   body="gone")
    await desk.store.write(writes.mark_sending, reply.id)
    unknown = "SM" + "f" * 32
    await desk.store.write(writes.attach_sid, reply.id, sid=unknown, status=MessageStatus.SENT)
    poller = StatusPoller(desk.store, quickly())
    assert await poller.poll_once() == 1
    assert await poller.poll_once() == 0
    assert asked == [unknown]
    assert (await stored(desk, reply)).status is MessageStatus.SENT


async def test_replies_older_than_twilios_in_flight_state_are_not_asked_about(
        desk: Desk, sim: Simulator, asked: list[str]) -> None:
    sim.state.knobs.delivery_delay = 3600.0
    await handed(desk, REACHABLE, "long ago")
    await asyncio.sleep(0.3)
    assert await StatusPoller(desk.store, quickly(in_flight=0.2)).poll_once() == 0
    assert asked == []


@pytest.fixture
def database(store_backend: str, request: pytest.FixtureRequest) -> str | None:
    """Where a whole relay keeps its store: its SQLite file (None), or a PostgreSQL URL."""
    return None if store_backend == "sqlite" else str(request.getfixturevalue("pg_url"))


async def until_status(store: Any, message_id: int, *wanted: MessageStatus,
                       timeout: float = 10.0) -> Message:
    async with asyncio.timeout(timeout):
        while True:
            found = await store.read(queries.entry, message_id)
            if isinstance(found, Message) and found.status in wanted:
                return found
            await asyncio.sleep(0.05)


async def test_a_relay_learns_how_replies_went_and_a_late_callback_changes_nothing(
        tmp_path: Path, database: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_status, "EVERY_SECONDS", 0.2)
    monkeypatch.setattr(outbox_status, "QUIET_SECONDS", 0.3)
    async with live_desk(tmp_path, database) as desk:
        desk.sim.state.knobs.lose_status_callbacks = True
        desk.sim.state.knobs.fail_to[UNREACHABLE] = 30003
        store = desk.relay.store
        replies = []
        for customer in (REACHABLE, UNREACHABLE):
            await desk.text("Where is my order?", from_=customer)
            ticket = next(row.ticket for row in (await store.read(
                queries.list_tickets, queries.TicketFilter())).items
                if row.ticket.customer_phone == customer)
            replies.append(await store.write(writes.queue_outbound, ticket_id=ticket.id,
                                             agent_id=None, body=f"On its way, {customer}."))
        delivered = await until_status(store, replies[0].id, MessageStatus.DELIVERED)
        undelivered = await until_status(store, replies[1].id, MessageStatus.UNDELIVERED)
        assert undelivered.error_code == 30003
        lost = [call for call in desk.sim.webhooks if call.kind == "status"]
        assert lost and all(call.status is None for call in lost)  # all learned by asking

        desk.sim.state.knobs.lose_status_callbacks = False
        for message in (delivered, undelivered):
            at_twilio = desk.sim.state.messages[str(message.twilio_sid)]
            late = await desk.sim.post_webhook(
                "status", f"{desk.relay.public_url}/twilio/status",
                desk.sim.status_params(at_twilio, "sent"), at_twilio_token(desk.sim, at_twilio))
            assert late.status == 200, late
        assert (await until_status(store, delivered.id, MessageStatus.DELIVERED)).status \
            is MessageStatus.DELIVERED
        kept = await until_status(store, undelivered.id, MessageStatus.UNDELIVERED)
        assert (kept.status, kept.error_code) == (MessageStatus.UNDELIVERED, 30003)


def at_twilio_token(sim: Simulator, message: Any) -> str:
    return sim.state.accounts[message.account_sid].auth_token
