"""Two relay processes on one PostgreSQL database: any relay serves Twilio and the agents.

Each test runs real ``smsdesk relay --database postgresql://...`` processes against a
throwaway database and the Twilio simulator (in this process): webhooks signed for the
public URL both relays share, agents on websockets, replies sent by whichever relay
leads the outbox.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from desk_harness import free_port, live_desk
from relay_harness import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    UK_LONG_CODE,
    US_TOLL_FREE,
    AgentClient,
    Harness,
    RelayProcess,
    harness_for,
    relay_on_loopback,
    relay_process,
    seed,
)

from core import queries, writes
from core.store import Store
from core.store_pg import LEAD_NAMESPACE
from core.writes import InboundText
from server import outbox, twilio_api
from server.config import Paths
from server.relay import running_relay
from server.simulator.runner import Simulator

CUSTOMER = "+12015550123"


@dataclass
class Relays:
    sim: Simulator
    url: str  # the database
    first: Harness  # started first: it leads the outbox
    second: Harness
    processes: list[RelayProcess]


def leader_pid(url: str) -> int | None:
    """The database session holding the outbox's lead, if any relay holds it."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objid = %s AND objsubid = 2",
            (LEAD_NAMESPACE, zlib.crc32(b"outbox"))).fetchone()
    return None if row is None else int(row[0])


async def eventually(condition: Callable[[], Any], what: str, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(condition)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def relays(tmp_path: Path, pg_url: str) -> AsyncIterator[Relays]:
    sim = Simulator()
    await sim.start(host="127.0.0.1", port=0)
    sim.add_account(ACCOUNT_SID, AUTH_TOKEN, friendly_name="Acme")
    sim.add_number(ACCOUNT_SID, US_TOLL_FREE, mms=True)
    sim.add_number(ACCOUNT_SID, UK_LONG_CODE, mms=False)
    admin, agent = await seed(pg_url)
    ports = [free_port(), free_port()]
    public = f"http://127.0.0.1:{ports[0]}"  # what Twilio signs: the same for every relay
    try:
        with relay_process(tmp_path / "one", ports[0], public_url=public, database=pg_url,
                           twilio=sim.url) as one:
            await eventually(lambda: leader_pid(pg_url), "the first relay to lead")
            with relay_process(tmp_path / "two", ports[1], public_url=public,
                               database=pg_url, twilio=sim.url) as two:
                yield Relays(sim, pg_url, harness_for(one, public, admin, agent),
                             harness_for(two, public, admin, agent), [one, two])
    finally:
        await sim.stop()


async def _event(agent: AgentClient, kind: str, timeout: float = 10,
                 **match: object) -> dict[str, Any]:
    while True:
        event = await agent.until("event", timeout=timeout)
        if event["kind"] != kind:
            continue
        message = event["payload"].get("message", {})
        if all(message.get(k) == v for k, v in match.items()):
            return event


def _sent(sim: Simulator, body: str) -> list[Any]:
    return [m for m in sim.messages if m.body == body and m.to == CUSTOMER]


async def test_a_webhook_to_one_relay_reaches_an_agent_on_the_other(relays: Relays) -> None:
    async with relays.second.agent() as agent:
        await agent.until("caught_up")
        sid = relays.first.next_sid()
        status, _ = await relays.first.text("Where is my parcel?", sid=sid)
        assert status == 200
        created = await _event(agent, "ticket.created", twilio_sid=sid)
        assert created["payload"]["message"]["body"] == "Where is my parcel?"


async def test_one_message_sid_at_both_relays_at_once_is_stored_once(relays: Relays) -> None:
    sid = "SM" + "5" * 32
    answers = await asyncio.gather(
        *(harness.text("sent twice", sid=sid) for harness in
          (relays.first, relays.second, relays.first, relays.second)))
    assert [status for status, _ in answers] == [200] * 4
    async with await Store.open(relays.url) as store:
        count = await store.read(lambda conn: conn.execute(
            "SELECT count(*) FROM entries WHERE twilio_sid = ?", (sid,)).fetchone()[0])
        events = await store.read(lambda conn: conn.execute(
            "SELECT count(*) FROM events WHERE kind IN ('ticket.created', 'message.created')"
        ).fetchone()[0])
    assert (count, events) == (1, 1)


async def _ticket_on_second(relays: Relays, agent: AgentClient, body: str) -> int:
    sid = relays.second.next_sid()
    assert (await relays.second.text(body, sid=sid))[0] == 200
    return int((await _event(agent, "ticket.created", twilio_sid=sid))["ticket_id"])


async def test_a_reply_through_the_other_relay_is_sent_once_by_the_leader(
        relays: Relays) -> None:
    async with relays.second.agent() as agent:
        await agent.until("caught_up")
        ticket_id = await _ticket_on_second(relays, agent, "hello?")
        reply = await agent.command("reply", ticket_id=ticket_id, body="Sent once, please.")
        message_id = reply["result"]["id"]
        updated = await _event(agent, "message.updated", id=message_id, status="delivered")
        assert updated["payload"]["message"]["twilio_sid"]
    await asyncio.sleep(1.5)  # a second sender would have sent by now
    assert len(_sent(relays.sim, "Sent once, please.")) == 1


async def test_an_attachment_uploaded_at_one_relay_is_served_by_every_relay(
        relays: Relays) -> None:
    """Media live in the database: the relay that sends (the leader) and any other can
    serve the signed URL Twilio fetches, whichever relay the agent uploaded through."""
    import base64

    from server.simulator.customers import demo_png

    image = demo_png()
    async with relays.second.agent() as agent:
        await agent.until("caught_up")
        ticket_id = await _ticket_on_second(relays, agent, "can you send the form?")
        upload = await agent.command("upload_media", content_type="image/png",
                                     data=base64.b64encode(image).decode(), filename="form.png")
        reply = await agent.command("reply", ticket_id=ticket_id, body="Here is the form",
                                    media=[upload["result"]])
        assert reply["type"] == "result", reply
        await _event(agent, "message.updated", id=reply["result"]["id"], status="delivered")
    sent = _sent(relays.sim, "Here is the form")
    assert len(sent) == 1
    path = "/media/" + sent[0].media[0].url.split("/media/", 1)[1]
    for harness in (relays.first, relays.second):
        assert (await harness.get(path)) == (200, image)
        assert (await harness.get(path[:-4] + "0000"))[0] == 404  # still signed


async def test_when_the_leader_is_killed_the_other_relay_sends_its_queued_reply_once(
        relays: Relays) -> None:
    leader = relays.processes[0].process
    async with relays.second.agent() as agent:
        await agent.until("caught_up")
        ticket_id = await _ticket_on_second(relays, agent, "anyone there?")
        before = leader_pid(relays.url)
        os.kill(leader.pid, signal.SIGSTOP)  # the leader can no longer send anything
        try:
            reply = await agent.command("reply", ticket_id=ticket_id, body="Taken over.")
            assert reply["type"] == "result", reply
            await asyncio.sleep(2)
            assert _sent(relays.sim, "Taken over.") == []  # only the leader sends
        finally:
            leader.send_signal(signal.SIGKILL)
            leader.wait(timeout=10)
        while True:  # Twilio's callbacks go to the dead relay's URL: no "delivered" here
            updated = await _event(agent, "message.updated", timeout=20,
                                   id=reply["result"]["id"])
            if updated["payload"]["message"]["twilio_sid"]:
                break
    assert leader_pid(relays.url) not in (None, before)
    await asyncio.sleep(1.5)
    assert len(_sent(relays.sim, "Taken over.")) == 1


async def test_presence_crosses_relays(relays: Relays) -> None:
    async with relays.second.agent() as bo:
        await bo.until("caught_up")
        ticket_id = await _ticket_on_second(relays, bo, "who is looking?")
        async with relays.first.agent(relays.first.admin_token) as ada:
            await ada.until("caught_up")
            done = await ada.command("presence", activity="replying", ticket_id=ticket_id)
            assert done["type"] == "result", done
            seen = await bo.until("presence")
            assert (seen["agent"]["name"], seen["ticket_id"], seen["activity"]) == (
                "Ada", ticket_id, "replying")
            # An agent who connects to the other relay afterwards is told the board too.
            async with relays.second.agent(relays.second.agent_token) as late:
                await late.until("caught_up")
                told = await late.until("presence")
                assert (told["agent"]["name"], told["ticket_id"]) == ("Ada", ticket_id)
        left = await bo.until("presence")
        assert (left["agent"]["name"], left["ticket_id"], left["activity"]) == (
            "Ada", None, None)


async def test_a_relay_started_later_is_told_the_board(relays: Relays, tmp_path: Path,
                                                       pg_url: str) -> None:
    async with relays.first.agent(relays.first.admin_token) as ada:
        await ada.until("caught_up")
        ticket_id = await _ticket_on_second(relays, ada, "late relay")
        assert (await ada.command("presence", activity="viewing",
                                  ticket_id=ticket_id))["type"] == "result"
        port = free_port()
        with relay_process(tmp_path / "three", port, public_url=relays.first.relay.public_url,
                           database=pg_url, twilio=relays.sim.url) as three:
            third = harness_for(three, relays.first.relay.public_url,
                                relays.first.admin_token, relays.first.agent_token)

            async def told() -> dict[str, Any]:
                while True:
                    async with third.agent() as bo:
                        await bo.until("caught_up")
                        try:
                            return await bo.until("presence", timeout=0.5)
                        except TimeoutError:
                            continue

            seen = await asyncio.wait_for(told(), 15)
            assert (seen["agent"]["name"], seen["ticket_id"], seen["activity"]) == (
                "Ada", ticket_id, "viewing")


async def test_a_reply_left_in_doubt_is_looked_up_after_the_grace_not_resent(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relay died after Twilio accepted a send and before the SID was written: the
    relay that leads next waits out the grace (the old call could still be under way),
    then finds the message at Twilio and records it, without sending it again."""
    monkeypatch.setattr(outbox, "TAKEOVER_GRACE", 1.5)
    sim = Simulator()
    await sim.start(host="127.0.0.1", port=0)
    monkeypatch.setenv("SMSDESK_TWILIO_API_URL", sim.url)
    sim.add_account(ACCOUNT_SID, AUTH_TOKEN, friendly_name="Acme")
    sim.add_number(ACCOUNT_SID, US_TOLL_FREE, mms=True)
    try:
        await seed(pg_url)
        async with await Store.open(pg_url) as store:
            inbound = await store.write(writes.record_inbound, InboundText(
                sid="SM" + "7" * 32, to=US_TOLL_FREE, from_=CUSTOMER, body="anyone?"))
            reply = await store.write(writes.queue_outbound, ticket_id=inbound.ticket.id,
                                      agent_id=None, body="In doubt.")
            await store.write(writes.mark_sending, reply.id)
        await asyncio.to_thread(twilio_api.send_message, ACCOUNT_SID, AUTH_TOKEN, to=CUSTOMER,
                                from_=US_TOLL_FREE, body="In doubt.", media_urls=[],
                                status_callback="http://127.0.0.1:9/twilio/status")
        started = time.monotonic()
        async with running_relay(Paths(tmp_path, pg_url), public_url=None, host="127.0.0.1",
                                 port=0) as (relay, _):

            async def recorded() -> float:
                while not getattr(await relay.store.read(queries.entry, reply.id),
                                  "twilio_sid", None):
                    await asyncio.sleep(0.05)
                return time.monotonic() - started

            assert await asyncio.wait_for(recorded(), 10) >= 1.5  # not before the grace
        assert len(_sent(sim, "In doubt.")) == 1
    finally:
        await sim.stop()


async def test_the_in_process_harness_runs_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    async with relay_on_loopback(tmp_path, database=pg_url) as relay:
        assert relay.relay.store.backend.name == "postgresql"
        async with relay.agent() as agent:
            await agent.until("caught_up")
            sid = relay.next_sid()
            assert (await relay.text("in process", sid=sid))[0] == 200
            await _event(agent, "ticket.created", twilio_sid=sid)
    assert not (tmp_path / "smsdesk.sqlite3").exists()


async def test_the_live_desk_runs_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    async with live_desk(tmp_path, database=pg_url) as desk:
        assert desk.relay.store.url == pg_url
        sent = await desk.text("through the simulator")
        assert await desk.relay.store.read(queries.message_by_sid, sent.sid) is not None
