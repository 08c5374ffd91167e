"""A relay outlives its PostgreSQL server's restart: it reconnects and nothing is missed.

Each test starts a PostgreSQL cluster of its own (restarting the shared one would break
the other tests of this worker) and a real ``smsdesk relay`` process on it, with an agent
on its websocket. The server is then restarted (``pg_ctl restart -m fast``, as when it
is restarted or a standby is promoted behind the same address) or stopped for a while.
While it is down a webhook gets 503 promptly (Twilio then tries the fallback URL) and
``/healthz`` says so; once it is back, webhooks are stored, agents hear of them and
``/healthz`` is healthy again within seconds, with the outbox's lead taken back.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from desk_harness import free_port
from pg_cluster import PgCluster
from relay_harness import (
    CUSTOMER,
    US_TOLL_FREE,
    AgentClient,
    Harness,
    RelayProcess,
    harness_for,
    relay_process,
    seed,
)

from core import writes
from core.store import Store
from core.writes import InboundText
from server.app import READ_TIMEOUT

RECOVERY_SECONDS = 8  # "within a few seconds" of the server being back


@dataclass
class Restartable:
    cluster: PgCluster
    url: str  # the desk's database
    process: RelayProcess
    harness: Harness


@pytest.fixture
def own_cluster() -> AsyncIterator[PgCluster]:
    cluster = PgCluster.start()
    try:
        yield cluster  # type: ignore[misc]
    finally:
        cluster.stop()


@pytest.fixture
async def relay(tmp_path: Path, own_cluster: PgCluster) -> AsyncIterator[Restartable]:
    url = own_cluster.fresh_database()
    admin, agent = await seed(url)
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with relay_process(tmp_path / "relay", port, public_url=public, database=url) as process:
        yield Restartable(own_cluster, url, process, harness_for(process, public, admin, agent))


async def health(harness: Harness) -> tuple[int, dict[str, Any]]:
    status, body = await harness.get("/healthz")
    return status, json.loads(body)


async def eventually(check: Callable[[], Any], what: str,
                     timeout: float = RECOVERY_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.1)


async def ticket_created(agent: AgentClient, sid: str, timeout: float = 10) -> dict[str, Any]:
    while True:
        event = await agent.until("event", timeout=timeout)
        message = event["payload"].get("message", {})
        if event["kind"] in ("ticket.created", "message.created") and (
                message.get("twilio_sid") == sid):
            return event


async def stored_once(url: str, sid: str) -> bool:
    async with await Store.open(url) as store:
        count = await store.read(lambda conn: conn.execute(
            "SELECT count(*) FROM entries WHERE twilio_sid = ?", (sid,)).fetchone()[0])
    assert count <= 1, f"{sid} stored {count} times"
    return count == 1


async def webhook_until_stored(harness: Harness, sid: str, body: str) -> list[int]:
    """Send one signed webhook as Twilio would (again, with the same MessageSid, after a
    failure) until it is stored; every answer is 200 or 503, and prompt. Returns them."""
    answers: list[int] = []

    async def attempt() -> bool:
        started = time.monotonic()
        status, text = await harness.text(body, sid=sid)
        assert time.monotonic() - started < READ_TIMEOUT, "the webhook hung"
        assert status in (200, 503), (status, text)
        answers.append(status)
        return status == 200

    await eventually(attempt, f"webhook {sid} stored")
    return answers


async def test_after_a_restart_webhooks_agents_and_health_recover(relay: Restartable) -> None:
    harness = relay.harness

    async def leading() -> bool:
        status, now = await health(harness)
        return (status == 200 and now["database"] == "ok"
                and now["leads"] == ["mail-outbox", "outbox", "sla-watch"])

    await eventually(leading, "the relay leading the outbox")
    _, before = await health(harness)
    assert before["backend"] == "postgresql"
    async with harness.agent() as agent:
        await agent.until("caught_up")
        await asyncio.to_thread(relay.cluster.restart)

        sid = harness.next_sid()
        answers = await webhook_until_stored(harness, sid, "Still there after the restart?")
        assert answers[-1] == 200
        event = await ticket_created(agent, sid)
        assert event["payload"]["message"]["body"] == "Still there after the restart?"
        assert await stored_once(relay.url, sid)

        await eventually(leading, "/healthz ok, leading the outbox again")
        _, after = await health(harness)
        assert after["relay"] == before["relay"] and after["seq"] > before["seq"]


async def test_while_the_database_is_down_webhooks_get_503_and_health_says_so(
        relay: Restartable) -> None:
    harness = relay.harness

    async def healthy() -> bool:
        status, now = await health(harness)
        return status == 200 and now["ok"] is True \
            and now["leads"] == ["mail-outbox", "outbox", "sla-watch"]

    await eventually(healthy, "the relay leading the outbox")
    async with harness.agent() as agent:
        await agent.until("caught_up")
        first = harness.next_sid()
        assert (await harness.text("before the outage", sid=first))[0] == 200
        ticket_id = int((await ticket_created(agent, first))["ticket_id"])

        await asyncio.to_thread(relay.cluster.halt)
        try:
            started = time.monotonic()
            down_sid = harness.next_sid()
            status, text = await harness.text("during the outage", sid=down_sid)
            assert (status, time.monotonic() - started < READ_TIMEOUT) == (503, True), text

            status, down = await health(harness)
            assert status == 503 and down["ok"] is False and down["database"] != "ok"
            assert down["seq"] is None and down["backend"] == "postgresql"

            async def lead_lost() -> bool:
                return (await health(harness))[1]["leads"] == []

            await eventually(lead_lost, "the outbox's lead reported lost")
            # An agent's command gets an error answer; its websocket stays open.
            refused = await agent.command("reply", command_id="r1", ticket_id=ticket_id,
                                          body="Resent once the database is back")
            assert (refused["type"], refused["code"]) == ("error", "unavailable"), refused
        finally:
            await asyncio.to_thread(relay.cluster.resume)

        # Committed by another process before this relay listens again: caught up from
        # the event log, not from a notification.
        async with await Store.open(relay.url) as other:
            elsewhere = "SM" + "e" * 32
            await other.write(writes.record_inbound, InboundText(
                sid=elsewhere, to=US_TOLL_FREE, from_=CUSTOMER, body="from elsewhere"))
        assert (await ticket_created(agent, elsewhere, timeout=RECOVERY_SECONDS))[
            "payload"]["message"]["body"] == "from elsewhere"

        await webhook_until_stored(harness, down_sid, "during the outage")
        await ticket_created(agent, down_sid)

        async def resend() -> dict[str, Any] | None:
            """An idle connection still found dead may answer "unavailable" once more; the
            agent's client resends with the same id, which is never done twice."""
            answer = await agent.command("reply", command_id="r1", ticket_id=ticket_id,
                                         body="Resent once the database is back")
            if answer["type"] == "error":
                assert answer["code"] == "unavailable", answer
                return None
            return answer

        resent = await eventually(resend, "the resent command answered")
        assert resent["type"] == "result", resent
        await eventually(healthy, "/healthz ok, leading the outbox again")


# --- the store itself, on the shared cluster: connections ended under it ----------------

def _end_sessions(url: str, *, application: str = "") -> int:
    """End every other session on ``url``'s database (as a restart would); how many."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()
    return int(row[0]) if row else 0


def _sleep_then_fail(ctx: writes.WriteContext) -> None:
    ctx.conn.execute("SELECT pg_sleep(10)")


async def test_a_read_on_a_lost_connection_runs_again_on_a_new_one(pg_url: str) -> None:
    """After a restart every idle reader is dead; no read may fail for it (reads are safe
    to run again), or a health check would fail once per reader."""
    async with await Store.open(pg_url) as store:
        assert await store.read(lambda conn: conn.execute("SELECT 1").fetchone()[0]) == 1
        assert await asyncio.to_thread(_end_sessions, pg_url) >= 3
        for _ in range(4):  # each reader finds its connection lost, and reads again
            assert await store.read(lambda conn: conn.execute("SELECT 2").fetchone()[0]) == 2


async def test_a_write_whose_connection_is_lost_is_in_doubt_and_the_next_one_works(
        pg_url: str) -> None:
    from core.store import WriteInDoubt

    async with await Store.open(pg_url) as store:
        group = await store.write(writes.add_group, "Before")
        writing = asyncio.create_task(store.write(_sleep_then_fail))
        await asyncio.sleep(0.5)  # the write is under way, in pg_sleep
        await asyncio.to_thread(_end_sessions, pg_url)
        with pytest.raises(WriteInDoubt):
            await writing

        async def writes_again() -> Any:
            try:
                return await store.write(writes.add_group, "After")
            except WriteInDoubt:
                raise
            except Exception:
                return None

        after = await eventually(writes_again, "writes work again")
        assert after.id > group.id
