"""Changes another process commits to the file reach the relay's listeners and its agents.

The admin CLI (``smsdesk account add``, ``agent add``, ``group add``) writes the
SQLite file directly while a relay runs; the relay must publish those events as if
it had written them: each once, in ``seq`` order, interleaved correctly with its own.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from relay_harness import Harness, relay_on_loopback

from core import auth, queries, writes
from core.models import Event, Role
from core.store import Store
from server.simulator.runner import Simulator

TORONTO = "+14165550199"


async def _smsdesk(home: Path, *args: str, twilio: str = "http://127.0.0.1:9") -> str:
    """Run the real ``smsdesk`` CLI in another process, on the relay's home."""
    env = {**os.environ, "SMSDESK_HOME": str(home), "SMSDESK_TWILIO_API_URL": twilio}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == 0, err.decode()
    return out.decode()


async def _event_of_kind(agent: object, kind: str) -> dict:
    while True:
        event = await agent.until("event")  # type: ignore[attr-defined]
        if event["kind"] == kind:
            return event


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Harness]:
    async with relay_on_loopback(tmp_path) as harness:
        yield harness


async def test_a_group_and_an_agent_added_by_the_cli_reach_an_open_inbox(
        relay: Harness, tmp_path: Path) -> None:
    async with relay.agent(token=relay.admin_token) as ada:
        await ada.until("caught_up")
        await _smsdesk(tmp_path, "group", "add", "Night shift")
        group = await _event_of_kind(ada, "group.updated")
        assert group["payload"]["group"]["name"] == "Night shift"
        await _smsdesk(tmp_path, "agent", "add", "Dee", "--group", "Night shift")
        agent = await _event_of_kind(ada, "agent.updated")
        assert agent["payload"]["agent"]["name"] == "Dee"
        assert "token_hash" not in agent["payload"]["agent"]
        assert agent["seq"] > group["seq"]
        # The relay's own next event follows them, and nothing came twice.
        await relay.text("after the CLI")
        own = await _event_of_kind(ada, "ticket.created")
        assert own["seq"] > agent["seq"]
    async with relay.agent(token=relay.admin_token, last_seq=group["seq"] - 1) as replay:
        seen = []
        while (message := await replay.receive())["type"] != "caught_up":
            if message["type"] == "event":
                seen.append(message["seq"])
        assert seen == sorted(set(seen))


async def test_a_number_connected_by_the_cli_reaches_an_open_inbox_and_takes_texts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = Simulator()
    await sim.start(host="127.0.0.1", port=0)
    try:
        async with relay_on_loopback(tmp_path) as relay:
            account = sim.add_account(friendly_name="Northwind")
            sim.add_number(account.sid, TORONTO, mms=False)
            async with relay.agent() as bo:
                await bo.until("caught_up")
                said = await _smsdesk(tmp_path, "account", "add", "--name", "Northwind",
                                      "--sid", account.sid, "--token", account.auth_token,
                                      twilio=sim.url)
                assert TORONTO in said
                connected = await _event_of_kind(bo, "account.updated")
                assert connected["payload"]["account"]["sid"] == account.sid
                assert account.auth_token not in str(connected)
                number = await _event_of_kind(bo, "number.updated")
                assert number["payload"]["number"]["e164"] == TORONTO
                # And a text to it, signed with the new account's token, is taken.
                params = {"MessageSid": relay.next_sid(), "AccountSid": account.sid,
                          "From": "+14165550100", "To": TORONTO, "Body": "hi Toronto"}
                status, _ = await relay.post("/twilio/inbound", params, signature=relay.signed(
                    "/twilio/inbound", params, token=account.auth_token))
                assert status == 200
                created = await _event_of_kind(bo, "ticket.created")
                assert created["payload"]["message"]["body"] == "hi Toronto"
    finally:
        await sim.stop()


async def test_another_writers_events_come_before_ours_in_seq_order(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite3"
    heard: list[Event] = []
    async with await Store.open(path) as ours, await Store.open(path) as theirs:
        ours.on_commit(heard.extend)
        await ours.write(writes.add_group, "A")
        await theirs.write(writes.add_group, "B")  # another connection, as the CLI's is
        await ours.write(writes.add_group, "C")  # at once: before any idle check
        await theirs.write(writes.add_agent, name="Dee", role=Role.AGENT,
                           token_hash=auth.hash_token(auth.new_token()))
        async with asyncio.timeout(5):
            while len(heard) < 4:  # the idle check finds the last one by itself
                await asyncio.sleep(0.05)
        await asyncio.sleep(3 * 0.5)  # more idle checks: nothing is told twice
    assert [e.payload.get("group", e.payload.get("agent"))["name"] for e in heard] == [
        "A", "B", "C", "Dee"]
    seqs = [e.seq for e in heard]
    assert seqs == sorted(set(seqs))
    async with await Store.open(path) as reopened:
        assert [e.seq for e in await reopened.read(queries.events_after, 0)] == seqs


async def test_a_token_rotated_by_another_process_stops_opening_the_relay(
        relay: Harness, tmp_path: Path) -> None:
    """The relay caches accounts by SID; a rotation it did not write must still reach it,
    or webhooks signed with the revoked token would keep being believed."""
    assert (await relay.text("signed with the first token"))[0] == 200  # now cached
    async with relay.agent(token=relay.admin_token) as ada:
        await ada.until("caught_up")
        async with await Store.open(tmp_path / "smsdesk.sqlite3") as cli:
            acme = (await cli.read(queries.accounts))[0]
            await cli.write(writes.update_account, acme.id, auth_token="e" * 32)
        await _event_of_kind(ada, "account.updated")  # the relay's listeners have run
    status, _ = await relay.text("signed with the revoked token")
    assert status == 403
    params = {"MessageSid": relay.next_sid(), "AccountSid": acme.sid, "From": "+12015550111",
              "To": "+18885550100", "Body": "signed with the new one"}
    status, _ = await relay.post("/twilio/inbound", params,
                                 signature=relay.signed("/twilio/inbound", params, "e" * 32))
    assert status == 200
