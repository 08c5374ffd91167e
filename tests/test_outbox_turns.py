"""Each sender's rate holds when another outbox takes over: its limiter starts from the store.

A long code may send one text a second. An outbox that has just taken the lead (another
relay on PostgreSQL) or just started (a restart, on either backend) has seen none of the
sends before it; seeded from the store, its first send from a number the previous outbox
had just used still waits its turn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Desk
from test_outbox_status import FAST, sim  # noqa: F401 (the simulator fixture)

from core import queries, store_pg, writes
from core.models import Message, SenderType
from core.store import Store
from core.writes import InboundText
from server import twilio_api
from server.outbox import Outbox, RateLimiter
from server.simulator.runner import Simulator

SLOW_LONG_CODES = {**FAST, SenderType.LONG_CODE: 0.5}  # two seconds apart: plain to see
CUSTOMER = "+447700900123"


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[float, str]]]:
    """(monotonic time, From) of every call that hands a message to Twilio."""
    calls: list[tuple[float, str]] = []
    send = twilio_api.send_message

    def timed(*args: Any, **kwargs: Any) -> twilio_api.SentInfo:
        calls.append((time.monotonic(), kwargs["from_"]))
        return send(*args, **kwargs)

    monkeypatch.setattr(twilio_api, "send_message", timed)
    yield calls


def outbox_on(store: Store, rates: dict[SenderType, float] = SLOW_LONG_CODES) -> Outbox:
    return Outbox(store=store, public_url=lambda: "http://127.0.0.1:9",
                  media_url=lambda item: "", rates=dict(rates))


async def test_a_restarted_outbox_waits_its_turn_after_the_last_send(
        desk: Desk, sim: Simulator, sends: list[tuple[float, str]]) -> None:  # noqa: F811
    ticket = (await desk.inbound("hello", from_=CUSTOMER, to=desk.uk.e164)).ticket
    for body in ("first", "second"):
        await desk.store.write(writes.queue_outbound, ticket_id=ticket.id, agent_id=None,
                               body=body)
        restarted = outbox_on(desk.store)  # a new process each time: a fresh limiter
        limiter = RateLimiter(restarted.rates)
        await restarted.seed_turns(limiter)
        await restarted.work_once(limiter)
    assert [sender for _, sender in sends] == [desk.uk.e164] * 2
    assert sends[1][0] - sends[0][0] >= 1 / SLOW_LONG_CODES[SenderType.LONG_CODE]


async def test_a_sender_others_have_not_used_lately_sends_at_once(
        desk: Desk, sim: Simulator, sends: list[tuple[float, str]]) -> None:  # noqa: F811
    uk_ticket = (await desk.inbound("hello", from_=CUSTOMER, to=desk.uk.e164)).ticket
    await desk.store.write(writes.queue_outbound, ticket_id=uk_ticket.id, agent_id=None,
                           body="from the UK")
    glacial = {**FAST, SenderType.LONG_CODE: 0.1}  # ten seconds: no doubt, even under load
    await outbox_on(desk.store, glacial).work_once(RateLimiter(glacial))
    us_ticket = (await desk.inbound("hello", from_="+12025550199", to=desk.us.e164)).ticket
    await desk.store.write(writes.queue_outbound, ticket_id=us_ticket.id, agent_id=None,
                           body="from the US")
    restarted = outbox_on(desk.store, glacial)
    limiter = RateLimiter(restarted.rates)
    await restarted.seed_turns(limiter)
    await restarted.work_once(limiter)
    assert [sender for _, sender in sends] == [desk.uk.e164, desk.us.e164]
    assert sends[1][0] - sends[0][0] < 5.0  # the US number did not wait the UK one's turn


async def until_handed(store: Store, message_id: int, timeout: float = 10.0) -> Message:
    async with asyncio.timeout(timeout):
        while True:
            found = await store.read(queries.entry, message_id)
            if isinstance(found, Message) and found.twilio_sid:
                return found
            await asyncio.sleep(0.02)


async def test_a_relay_taking_over_the_outbox_waits_the_old_leaders_turn(
        pg_url: str, sends: list[tuple[float, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_pg, "LEAD_RETRY_SECONDS", 0.05)  # a takeover within a turn
    simulator = Simulator()
    await simulator.start(host="127.0.0.1", port=0)
    monkeypatch.setenv("SMSDESK_TWILIO_API_URL", simulator.url)
    at_twilio = simulator.add_account(friendly_name="Acme")
    simulator.add_number(at_twilio.sid, "+447400900456", mms=False)
    try:
        async with await Store.open(pg_url) as one, await Store.open(pg_url) as two:
            account = await one.write(writes.add_account, name="Acme", sid=at_twilio.sid,
                                      auth_token=at_twilio.auth_token)
            await one.write(writes.save_number, account_id=account.id, e164="+447400900456",
                            mms=False, sender_type=SenderType.LONG_CODE, country="GB")
            ticket = (await one.write(writes.record_inbound, InboundText(
                sid="SM" + "1" * 32, to="+447400900456", from_=CUSTOMER, body="hi"))).ticket
            first = await one.write(writes.queue_outbound, ticket_id=ticket.id, agent_id=None,
                                    body="first")
            old, new = outbox_on(one), outbox_on(two)
            one.on_commit(old.notice)  # as a relay wires them: woken by any relay's replies
            two.on_commit(new.notice)
            leading = asyncio.create_task(old.run())
            await until_handed(one, first.id)
            waiting = asyncio.create_task(new.run())
            leading.cancel()  # the first relay stops: its session, and its lead, end
            await asyncio.gather(leading, return_exceptions=True)
            second = await two.write(writes.queue_outbound, ticket_id=ticket.id,
                                     agent_id=None, body="second")
            try:
                await until_handed(two, second.id)
            finally:
                waiting.cancel()
                await asyncio.gather(waiting, return_exceptions=True)
    finally:
        await simulator.stop()
    assert [sender for _, sender in sends] == ["+447400900456"] * 2
    assert sends[1][0] - sends[0][0] >= 1 / SLOW_LONG_CODES[SenderType.LONG_CODE]
