"""kill -9 of the relay right after it resolved a ticket, or took a rating: the survey,
queued in the resolve's own transaction, is sent exactly once after the restart; the
rating, kept in the text's transaction, is there and the ticket stayed resolved.

``smsdesk relay`` runs as a process of its own (both backends), as in test_bot_crash.py:
its Twilio is the simulator in this process, unreachable in the first life (the survey
cannot have left) or reachable (it may be on its way when the relay dies).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from desk_harness import free_port
from relay_harness import US_TOLL_FREE, harness_for, relay_process, seed
from test_bot_commands import database  # noqa: F401
from test_bot_crash import sim  # noqa: F401

from core import csat_surveys, queries, writes
from core.csat import DEFAULT_TEXT, SurveyState
from core.models import Message, TicketStatus
from core.store import Store
from server.config import Paths
from server.simulator.runner import Simulator

PUBLIC = "https://relay.example.test"
PERSON = "+12025550177"


def surveys_sent(twilio: Simulator) -> list[str]:
    return [m.body for m in twilio.messages if m.direction != "inbound" and m.to == PERSON]


async def only_ticket(paths: Paths) -> tuple[int, TicketStatus, list[Message]]:
    async with await Store.open(paths.store) as store:
        page = await store.read(queries.list_tickets, queries.TicketFilter())
        assert len(page.items) == 1
        ticket = page.items[0].ticket
        thread = await store.read(queries.thread, ticket.id)
    return ticket.id, ticket.status, [e for e in thread.items if isinstance(e, Message)]


@pytest.mark.parametrize("first_life", ["twilio unreachable", "twilio reachable"])
async def test_the_survey_is_sent_exactly_once_after_a_kill_9_at_the_resolve(
        tmp_path: Path, database: str | None, sim: Simulator,  # noqa: F811
        first_life: str) -> None:
    home = tmp_path / "relay"
    paths = Paths(home, database)
    admin, agent = await seed(paths.store)
    async with await Store.open(paths.store) as store:
        number = next(n for n in await store.read(queries.numbers) if n.e164 == US_TOLL_FREE)
        await store.write(writes.update_number, number.id, csat=True)
    port = free_port()
    twilio = "http://127.0.0.1:9" if first_life == "twilio unreachable" else sim.url
    with relay_process(home, port, public_url=PUBLIC, database=database,
                       twilio=twilio) as relay:
        harness = harness_for(relay, PUBLIC, admin, agent)
        status, _ = await harness.text("my parcel is late", from_=PERSON)
        assert status == 200
        ticket_id, _, _ = await only_ticket(paths)
        async with harness.agent(admin) as client:
            answer = await client.command("set_ticket", ticket_id=ticket_id, status="resolved")
            relay.process.kill()  # SIGKILL, the moment the agent was answered
            relay.process.wait()
    assert answer["type"] == "result", answer
    _, status_now, messages = await only_ticket(paths)  # the resolve and the survey: one
    assert status_now is TicketStatus.RESOLVED
    assert [(m.body, m.purpose) for m in messages] == [
        ("my parcel is late", None), (DEFAULT_TEXT, "csat_survey")]
    if first_life == "twilio unreachable":
        assert surveys_sent(sim) == []

    with relay_process(home, port, public_url=PUBLIC, database=database, twilio=sim.url) \
            as relay:
        deadline = time.monotonic() + 60
        while not surveys_sent(sim):
            assert time.monotonic() < deadline, relay.output()
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # time enough for a second send, if there were one
        assert surveys_sent(sim) == [DEFAULT_TEXT]
        # The rating, killed right after Twilio was answered: kept, and still resolved.
        harness = harness_for(relay, PUBLIC, admin, agent)
        status, _ = await harness.text("5!", from_=PERSON, sid="SM" + "5" * 32)
        relay.process.kill()
        relay.process.wait()
    assert status == 200
    _, status_now, messages = await only_ticket(paths)
    assert status_now is TicketStatus.RESOLVED and messages[-1].body == "5!"
    async with await Store.open(paths.store) as store:
        (survey,) = await store.read(csat_surveys.surveys_of, ticket_id)
    assert (survey.rating, survey.state) == (5, SurveyState.RATED)
