"""The chaos test (issue 11's "done means"): three relays on one PostgreSQL, one killed.

Three ``smsdesk relay`` processes share one database and one public URL (what Twilio
signs). Agents connect round-robin over them; signed webhooks are spread over them
(some MessageSids posted to two relays at once); agents reply to the tickets. At a
random moment (seeded: the seed is printed, ``SMSDESK_CHAOS_SEED`` replays it) one
relay is killed with SIGKILL. Its agents reconnect to the others and resume with a
``hello`` carrying their ``last_seq``, resending the commands left unanswered under
the same ids (the relay answers those from the recorded result). Webhooks that found
the dead relay are posted again to the next one, as a load balancer would.

Afterwards: every webhook answered 200 is stored exactly once; every agent got every
event of the log exactly once and in order; every acknowledged reply reached the
simulator exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from desk_harness import free_port
from relay_harness import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    US_TOLL_FREE,
    Harness,
    RelayProcess,
    harness_for,
    relay_process,
    seed,
)

from server.simulator.runner import Simulator

AGENTS = 50
WEBHOOKS = 36  # each a new customer, so a new ticket
TWICE_EVERY = 6  # every 6th MessageSid goes to two relays at once
REPLY_UNLESS = 3  # tickets whose id is a multiple of this get no reply (fewer sends to wait for)
DEADLINE = 45.0  # seconds for everything to settle after the kill


def _db(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


@dataclass
class ChaosAgent:
    """One agent's websocket, reconnecting to the next relay whenever its relay goes."""

    index: int
    token: str
    relays: list[str]
    seqs: list[int] = field(default_factory=list)  # every event seq received, in order
    last_seq: int = 0
    sessions: int = 0
    resent: int = 0  # commands sent again after a reconnect
    relay: int = 0
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)  # id: command frame
    acked: dict[str, str] = field(default_factory=dict)  # command id: reply body
    errors: list[dict[str, Any]] = field(default_factory=list)
    replied: set[int] = field(default_factory=set)
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.relay = self.index % len(self.relays)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            url = self.relays[self.relay].replace("http", "ws") + "/ws"
            try:
                async with websockets.connect(url, open_timeout=5, max_size=None) as socket:
                    await self._session(socket, stop)
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
                pass
            if not stop.is_set():  # its relay went: the next one, as a client would
                self.relay = (self.relay + 1) % len(self.relays)
                await asyncio.sleep(0.05)

    async def _session(self, socket: Any, stop: asyncio.Event) -> None:
        self.sessions += 1
        await socket.send(json.dumps({"type": "hello", "version": 1, "token": self.token,
                                      "last_seq": self.last_seq}))
        for frame in list(self.pending.values()):  # same ids: answered, not redone
            self.resent += 1
            await socket.send(json.dumps(frame))
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(socket.recv(), 0.2)
            except TimeoutError:
                continue
            message = json.loads(raw)
            items = message["items"] if message["type"] == "events" else [message]
            for item in items:
                await self._handle(socket, item)

    async def _handle(self, socket: Any, item: dict[str, Any]) -> None:
        kind = item["type"]
        if kind == "caught_up":
            self.caught_up.set()
        elif kind == "event":
            self.seqs.append(item["seq"])
            self.last_seq = item["seq"]
            await self._maybe_reply(socket, item)
        elif kind in ("result", "error") and item.get("id") in self.pending:
            frame = self.pending.pop(item["id"])
            if kind == "result":
                self.acked[item["id"]] = frame["args"]["body"]
            else:
                self.errors.append(item)

    async def _maybe_reply(self, socket: Any, event: dict[str, Any]) -> None:
        ticket_id = event["ticket_id"]
        if (event["kind"] != "ticket.created" or ticket_id % AGENTS != self.index
                or ticket_id % REPLY_UNLESS == 0 or ticket_id in self.replied):
            return
        self.replied.add(ticket_id)
        command_id = f"a{self.index}-t{ticket_id}"  # one agent token for all: ids unique
        frame = {"type": "command", "id": command_id, "name": "reply",
                 "args": {"ticket_id": ticket_id, "body": f"Reply to ticket {ticket_id}"}}
        self.pending[command_id] = frame
        await socket.send(json.dumps(frame))


@dataclass
class Webhooks:
    """Signed inbound texts, each posted until a relay answers (a load balancer's retry)."""

    harnesses: list[Harness]
    answered: dict[str, list[int]] = field(default_factory=dict)  # sid: statuses

    async def post(self, k: int, first: int) -> None:
        sid = f"SM{k + 1:032x}"
        params = {"from_": f"+1201555{k:04d}", "sid": sid}
        await self._until_answered(f"text {k}", params, first)

    async def twice(self, k: int, first: int) -> None:
        sid = f"SM{k + 1:032x}"
        params = {"from_": f"+1201555{k:04d}", "sid": sid}
        await asyncio.gather(self._until_answered(f"text {k}", params, first),
                             self._until_answered(f"text {k}", params, first + 1))

    async def _until_answered(self, body: str, params: dict[str, str], first: int) -> None:
        for attempt in range(len(self.harnesses) * 2):
            harness = self.harnesses[(first + attempt) % len(self.harnesses)]
            try:
                status, _ = await harness.text(body, **params)
            except OSError:  # refused, or reset by the dying relay: try the next one
                continue
            self.answered.setdefault(params["sid"], []).append(status)
            if status == 200:
                return


@contextmanager
def three_relays(tmp_path: Path, url: str, sim: Simulator) -> Iterator[list[RelayProcess]]:
    ports = [free_port() for _ in range(3)]
    public = f"http://127.0.0.1:{ports[0]}"
    with ExitStack() as stack:
        yield [stack.enter_context(relay_process(tmp_path / f"relay{n}", port,
                                                 public_url=public, database=url,
                                                 twilio=sim.url))
               for n, port in enumerate(ports)]


async def eventually(condition: Callable[[], bool], what: str, deadline: float) -> None:
    """Poll ``condition`` (bounded): synchronisation without sleeping a guessed time."""
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_chaos_three_relays_one_killed_nothing_lost_nothing_twice(
        tmp_path: Path, pg_url: str) -> None:
    chaos_seed = int(os.environ.get("SMSDESK_CHAOS_SEED") or random.randrange(2**32))
    print(f"chaos seed: {chaos_seed} (SMSDESK_CHAOS_SEED={chaos_seed} replays it)")
    rng = random.Random(chaos_seed)
    victim, kill_after = rng.randrange(3), rng.uniform(0.2, 2.5)
    started = time.monotonic()
    sim = Simulator()
    await sim.start(host="127.0.0.1", port=0)
    sim.add_account(ACCOUNT_SID, AUTH_TOKEN, friendly_name="Acme")
    sim.add_number(ACCOUNT_SID, US_TOLL_FREE, mms=True)
    admin, _ = await seed(pg_url)
    try:
        with three_relays(tmp_path, pg_url, sim) as processes:
            public = processes[0].url
            harnesses = [harness_for(p, public, admin, admin) for p in processes]
            agents = [ChaosAgent(i, admin, [p.url for p in processes]) for i in range(AGENTS)]
            stop = asyncio.Event()
            running = [asyncio.create_task(agent.run(stop)) for agent in agents]
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(agent.caught_up.wait() for agent in agents)), 30)
                print(f"{AGENTS} agents connected after {time.monotonic() - started:.1f} s;"
                      f" killing relay {victim} after {kill_after:.2f} s")
                webhooks = Webhooks(harnesses)
                await asyncio.gather(_traffic(webhooks), _kill(processes[victim], kill_after))
                await _settle(pg_url, sim, agents, time.monotonic() + DEADLINE)
            finally:
                stop.set()
                await asyncio.gather(*running, return_exceptions=True)
            _check(pg_url, sim, agents, webhooks, victim)
    finally:
        await sim.stop()
    print(f"chaos test took {time.monotonic() - started:.1f} s")


async def _traffic(webhooks: Webhooks) -> None:
    """The webhooks, paced over about two seconds so the kill lands among them."""
    posts = []
    for k in range(WEBHOOKS):
        first = k % len(webhooks.harnesses)
        posts.append(asyncio.create_task(
            webhooks.twice(k, first) if k % TWICE_EVERY == 0 else webhooks.post(k, first)))
        await asyncio.sleep(0.06)  # pacing only; nothing waits on it
    await asyncio.gather(*posts)


async def _kill(process: RelayProcess, after: float) -> None:
    await asyncio.sleep(after)  # the random moment (pacing, not synchronisation)
    os.kill(process.process.pid, signal.SIGKILL)
    await asyncio.to_thread(process.process.wait, 10)


async def _settle(url: str, sim: Simulator, agents: list[ChaosAgent], deadline: float) -> None:
    """Every reply acknowledged and sent, then every agent at the log's end, twice over."""
    await eventually(lambda: all(not a.pending for a in agents), "every reply answered",
                     deadline)
    bodies = {body for a in agents for body in a.acked.values()}
    await eventually(lambda: bodies <= {m.body for m in sim.messages}, "every reply sent",
                     deadline)
    steady = 0
    while steady < 2:  # the log stopped growing and every agent has its end
        latest = (await asyncio.to_thread(_db, url, "SELECT max(seq) FROM events"))[0][0]
        await eventually(lambda: all(a.last_seq >= latest for a in agents),  # noqa: B023
                         f"every agent at seq {latest}", deadline)
        await asyncio.sleep(0.5)
        again = (await asyncio.to_thread(_db, url, "SELECT max(seq) FROM events"))[0][0]
        steady = steady + 1 if again == latest else 0


def _check(url: str, sim: Simulator, agents: list[ChaosAgent], webhooks: Webhooks,
           victim: int) -> None:
    stored = Counter(dict(_db(url, "SELECT twilio_sid, count(*) FROM entries"
                                   " WHERE direction = 'inbound' GROUP BY twilio_sid")))
    ok = [sid for sid, statuses in webhooks.answered.items() if 200 in statuses]
    assert {sid: stored[sid] for sid in ok} == dict.fromkeys(ok, 1)
    assert all(count == 1 for count in stored.values()), stored
    assert len(ok) == WEBHOOKS, webhooks.answered
    created = _db(url, "SELECT count(*) FROM events WHERE kind = 'ticket.created'")[0][0]
    assert created == WEBHOOKS  # a MessageSid at two relays made one ticket, one event

    log = [row[0] for row in _db(url, "SELECT seq FROM events ORDER BY seq")]
    for agent in agents:
        assert agent.seqs == log, (agent.index, _diff(agent.seqs, log))
    moved = [a.index for a in agents if a.sessions > 1]
    assert moved and all(i % 3 == victim for i in moved), (victim, moved)

    assert [e for a in agents for e in a.errors] == []
    acked = [body for a in agents for body in a.acked.values()]
    sent = Counter(m.body for m in sim.messages if m.body.startswith("Reply to ticket"))
    assert {body: sent[body] for body in acked} == dict.fromkeys(acked, 1)
    assert all(count == 1 for count in sent.values()), sent
    print(f"{len(ok)} webhooks, {len(log)} events, {len(acked)} replies,"
          f" {len(moved)} agents moved off relay {victim},"
          f" {sum(a.resent for a in agents)} replies resent after a reconnect")


def _diff(got: list[int], want: list[int]) -> str:
    twice = [seq for seq, n in Counter(got).items() if n > 1]
    missing = sorted(set(want) - set(got))
    disordered = any(b <= a for a, b in itertools.pairwise(got))
    return f"twice={twice[:10]} missing={missing[:10]} out_of_order={disordered}"
