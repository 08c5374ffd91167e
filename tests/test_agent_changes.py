"""An admin's change to an agent takes effect on that agent's open sessions at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from relay_harness import AgentClient, Harness, relay_on_loopback

from core import queries, writes
from core.models import MessageStatus, Role
from server import commands
from server.agents_ws import CLOSE_DISABLED, Session
from server.outbox import Outbox, RateLimiter
from tui.client import ConnectionState, RelayClient


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Harness]:
    async with relay_on_loopback(tmp_path) as harness:
        yield harness


async def _agent_id(relay: Harness, name: str) -> int:
    agents = await relay.relay.store.read(queries.agents)
    return next(agent.id for agent in agents if agent.name == name)


async def _closed(client: AgentClient) -> websockets.ConnectionClosed:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await client.receive()
    return closed.value


async def test_a_disabled_agent_is_closed_with_a_reason_and_cannot_return(
        relay: Harness) -> None:
    await relay.text("Where is my order?")
    bo_id = await _agent_id(relay, "Bo")
    async with relay.agent(token=relay.admin_token) as ada, relay.agent() as bo:
        await ada.until("caught_up")
        await bo.until("caught_up")
        ticket = (await bo.command("list_tickets"))["result"]["items"][0]["ticket"]
        done = await ada.command("update_agent", agent_id=bo_id, disabled=True)
        assert done["result"]["disabled"] is True
        told = await bo.until("error")
        assert told["code"] == "disabled" and "disabled" in told["message"]
        closed = await _closed(bo)
        assert closed.rcvd is not None and closed.rcvd.code == CLOSE_DISABLED
        assert "admin disabled" in closed.rcvd.reason
    # Nothing Bo sent after the disable was acted on, and the token no longer opens a session.
    thread = await relay.relay.store.read(queries.thread, ticket["id"])
    assert [entry.body for entry in thread.items] == ["Where is my order?"]
    async with relay.agent() as again:
        assert (await again.receive())["code"] == "unauthorized"


async def test_a_demoted_admin_is_refused_admin_commands_from_then_on(relay: Harness) -> None:
    async with relay.agent(token=relay.admin_token) as ada:
        await ada.until("caught_up")
        cy = await ada.command("add_agent", name="Cy", role="admin")
        cy_id, cy_token = cy["result"]["agent"]["id"], cy["result"]["token"]
        async with relay.agent(token=cy_token) as cy_session:
            await cy_session.until("caught_up")
            assert "result" in await cy_session.command("add_group", name="Before")
            await ada.command("update_agent", agent_id=cy_id, role="agent")
            await cy_session.until("event")  # the agent.updated event: the change is in
            refused = await cy_session.command("add_group", name="After")
            assert refused["code"] == "forbidden"
            assert (await cy_session.command("list_accounts"))["code"] == "forbidden"
            assert "result" in await cy_session.command("list_tickets")  # still an agent
    names = {group.name for group in await relay.relay.store.read(queries.groups)}
    assert "Before" in names and "After" not in names


async def test_a_command_written_after_the_disable_commits_is_refused(relay: Harness) -> None:
    """The session learns of the change a moment after it commits; the write never misses it."""
    store = relay.relay.store
    ada = next(a for a in await store.read(queries.agents) if a.name == "Ada")
    ctx = commands.Context(store=store, agent=ada, media=relay.relay.media)
    stale_bo = next(a for a in await store.read(queries.agents) if a.name == "Bo")
    await store.write(writes.update_agent, ada.id, role=Role.AGENT)  # demoted meanwhile
    with pytest.raises(commands.CommandRefused) as refused:
        await commands.run(ctx, commands.Command(id="g1", name="add_group",
                                                 args={"name": "Late"}))
    assert refused.value.code == "forbidden"
    await store.write(writes.update_agent, stale_bo.id, disabled=True)
    await relay.text("hello")
    ticket_id = (await store.read(queries.list_tickets, queries.TicketFilter())).items[0]
    bo_ctx = commands.Context(store=store, agent=stale_bo, media=relay.relay.media)
    with pytest.raises(commands.CommandRefused):
        await commands.run(bo_ctx, commands.Command(
            id="r1", name="reply", args={"ticket_id": ticket_id.ticket.id, "body": "late"}))
    assert await store.read(queries.outbox) == []
    assert {g.name for g in await store.read(queries.groups)} == {"Billing"}


async def test_the_inbox_client_shows_why_and_stops_reconnecting(relay: Harness) -> None:
    states: list[tuple[ConnectionState, str]] = []
    client = RelayClient(relay.url, relay.agent_token, backoff=(0.01,), jitter=0,
                         open_timeout=2, on_state=lambda s, d: states.append((s, d)))
    running = asyncio.create_task(client.run())
    try:
        await client.wait_live(5)
        await relay.relay.store.write(writes.update_agent, await _agent_id(relay, "Bo"),
                                      disabled=True)
        await asyncio.wait_for(running, 5)  # run() ends by itself: no reconnect loop
    finally:
        await client.close()
    assert client.state is ConnectionState.REFUSED
    assert "admin disabled this agent" in client.detail
    assert [s for s, _ in states].count(ConnectionState.CONNECTING) == 1


async def test_a_disable_between_hello_and_joining_is_not_missed(relay: Harness) -> None:
    """Disabled after the hello's check but before the session listens: closed anyway."""
    bo_id = await _agent_id(relay, "Bo")
    store = relay.relay.store
    checked = store.read

    async def read_then_disable(fn: Any, *args: Any, **kwargs: Any) -> Any:
        found = await checked(fn, *args, **kwargs)
        if fn is queries.agent_by_token_hash:
            await store.write(writes.update_agent, bo_id, disabled=True)
        return found

    store.read = read_then_disable  # type: ignore[method-assign]
    try:
        async with relay.agent() as bo:
            closed = await _closed(bo)
    finally:
        del store.read
    assert closed.rcvd is not None and closed.rcvd.code == CLOSE_DISABLED



async def test_an_answer_finishing_after_the_close_is_dropped_not_raised(
        relay: Harness) -> None:
    """uvicorn refuses a send after the close; a command in flight at the disable must not
    end in an unhandled exception (a traceback in the relay's log)."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        if sent and sent[-1]["type"] == "websocket.close":
            raise RuntimeError("Unexpected ASGI message 'websocket.send' after the close")
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.disconnect"}

    session = Session(receive, send, hub=relay.relay.hub, store=relay.relay.store,
                      context=lambda agent: commands.Context(
                          store=relay.relay.store, agent=agent,
                          media=relay.relay.media))
    await session.close(CLOSE_DISABLED, "disabled")
    await session.send_text('{"type":"result","id":"late","result":null}')
    await session.close(CLOSE_DISABLED, "disabled")
    assert [m["type"] for m in sent] == ["websocket.close"]


async def test_a_reply_queued_before_the_disable_is_not_sent_after_it(
        relay: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    sends: list[str] = []
    monkeypatch.setattr("server.twilio_api.send_message",
                        lambda *args, **kwargs: sends.append(kwargs["body"]))
    await relay.text("Can I cancel?")
    store = relay.relay.store
    bo = next(a for a in await store.read(queries.agents) if a.name == "Bo")
    ticket = (await store.read(queries.list_tickets, queries.TicketFilter())).items[0].ticket


    def queue_then_disable(ctx: writes.WriteContext) -> writes.Message:
        # One transaction, so the relay's own outbox cannot send it in between.
        queued = writes.queue_outbound(ctx, ticket_id=ticket.id, agent_id=bo.id,
                                       body="Sure, refunding you double")
        writes.update_agent(ctx, bo.id, disabled=True)
        return queued

    queued = await store.write(queue_then_disable)
    outbox = Outbox(store=store, public_url=lambda: relay.relay.public_url,
                    media_url=relay.relay.media_url)
    await outbox.work_once(RateLimiter({}))
    assert sends == []
    stored = await store.read(writes.entry_by_id, queued.id)
    assert stored.status is MessageStatus.FAILED
