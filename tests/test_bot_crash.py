"""kill -9 of the relay right after it answered a customer's text: the bot's reply, queued
in the transaction that stored the text, is sent exactly once after the restart.

``smsdesk relay`` runs as a process of its own (both backends). The test posts the
customer's text as Twilio would, signed, and kills the relay the moment it answers 200.
Its Twilio is the simulator, in this process: either unreachable in the first life (the
reply cannot have left) or reachable (it may be on its way when the relay dies); the
restarted relay sends what is queued, and looks up what was being sent before sending it
again. The simulator's list of sent messages has each of the bot's texts once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from desk_harness import free_port
from relay_harness import ACCOUNT_SID, AUTH_TOKEN, US_TOLL_FREE, harness_for, relay_process, seed
from test_bot_commands import FLOW, database  # noqa: F401

from core import bot_store, queries
from core.models import Message
from core.store import Store
from server.config import Paths
from server.simulator.runner import Simulator

PUBLIC = "https://relay.example.test"
PERSON = "+12025550177"
BOT_TEXTS = ["Hi, this is Acme Support.", "Reply 1 for billing, 2 for a person."]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator()
    await simulator.start(host="127.0.0.1", port=0)
    simulator.add_account(ACCOUNT_SID, AUTH_TOKEN, friendly_name="Acme")
    simulator.add_number(ACCOUNT_SID, US_TOLL_FREE, mms=True)
    try:
        yield simulator
    finally:
        await simulator.stop()


async def desk_with_a_bot(paths: Paths) -> tuple[str, str]:
    tokens = await seed(paths.store)
    async with await Store.open(paths.store) as store:
        number = next(n for n in await store.read(queries.numbers) if n.e164 == US_TOLL_FREE)
        await store.write(bot_store.save_flow, number_id=number.id, source=FLOW, enabled=True)
    return tokens


def sent_to_person(sim: Simulator) -> list[str]:
    return [m.body for m in sim.messages if m.direction != "inbound" and m.to == PERSON]


async def bot_entries(paths: Paths) -> list[Message]:
    async with await Store.open(paths.store) as store:
        page = await store.read(queries.list_tickets, queries.TicketFilter())
        assert len(page.items) == 1
        thread = await store.read(queries.thread, page.items[0].ticket.id)
    return [e for e in thread.items if isinstance(e, Message)]


@pytest.mark.parametrize("first_life", ["twilio unreachable", "twilio reachable"])
async def test_the_bots_reply_is_sent_exactly_once_after_a_kill_9(
        tmp_path: Path, database: str | None, sim: Simulator,  # noqa: F811
        first_life: str) -> None:
    home = tmp_path / "relay"
    paths = Paths(home, database)
    tokens = await desk_with_a_bot(paths)
    port = free_port()
    twilio = "http://127.0.0.1:9" if first_life == "twilio unreachable" else sim.url
    with relay_process(home, port, public_url=PUBLIC, database=database,
                       twilio=twilio) as relay:
        status, _ = await harness_for(relay, PUBLIC, *tokens).text("hello?", from_=PERSON)
        relay.process.kill()  # SIGKILL, the moment Twilio was answered
        relay.process.wait()
    assert status == 200
    entries = await bot_entries(paths)  # the text and the bot's answer: one transaction
    assert [(m.body, m.by_bot) for m in entries] == [
        ("hello?", False), (BOT_TEXTS[0], True), (BOT_TEXTS[1], True)]
    if first_life == "twilio unreachable":
        assert sent_to_person(sim) == []

    with relay_process(home, port, public_url=PUBLIC, database=database, twilio=sim.url):
        # A reply left "sending" is looked up first; on PostgreSQL after the takeover grace.
        deadline = time.monotonic() + 60
        while len(sent_to_person(sim)) < len(BOT_TEXTS):
            assert time.monotonic() < deadline, sent_to_person(sim)
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # time enough for a second send, if there were one
    # Each once. In their order too, unless the first was left "sending" at the kill: the
    # outbox then looks it up (on PostgreSQL after the takeover grace) while it sends the
    # next, as it does with agents' replies.
    assert sorted(sent_to_person(sim)) == sorted(BOT_TEXTS)
    sids = [m.twilio_sid for m in (await bot_entries(paths))[1:]]
    assert all(sids) and len(set(sids)) == 2
    assert sorted(sids) == sorted(m.sid for m in sim.messages if m.to == PERSON
                                  and m.direction != "inbound")
