"""The inbox's relay client: its protocol logic alone, then against a real relay on loopback.

Drops are made deterministic with a TCP proxy between the client and the relay
that a test can stop (connection refused), cut (connection lost), mute (the
relay's answers vanish after it acted) or stall (a dead relay that keeps TCP open).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from relay_harness import Harness, relay_on_loopback

from core import queries
from server.config import Paths
from server.relay import running_relay
from tui.client import (
    Answered,
    CaughtUp,
    ClientProtocol,
    CommandError,
    ConnectionState,
    Deliver,
    Failed,
    Notice,
    Presence,
    Refused,
    RelayClient,
    Welcomed,
    seconds,
    ws_url,
)

S = ConnectionState
FAST = (0.02,)


# --- sans-I/O -------------------------------------------------------------------------


def _event(seq: int) -> dict[str, Any]:
    return {"type": "event", "seq": seq, "kind": "message.created", "ticket_id": 1,
            "payload": {}, "at": 0}


def test_events_are_delivered_once_in_seq_order_even_when_a_replay_overlaps() -> None:
    protocol = ClientProtocol(last_seq=2)
    frames = [_event(2), {"type": "events", "items": [_event(3), _event(4)]},
              {"type": "events", "items": [_event(4), _event(5)]}, _event(1)]
    seen = []
    for frame in frames:
        for output in protocol.receive(json.dumps(frame)):
            assert isinstance(output, Deliver)
            assert protocol.last_seq == output.event["seq"]  # advances as each is taken
            seen.append(output.event["seq"])
    assert seen == [3, 4, 5]
    assert protocol.last_seq == 5


def test_presence_batched_with_events_keeps_its_place() -> None:
    protocol = ClientProtocol(last_seq=0)
    presence = {"type": "presence", "agent": {"id": 1}, "ticket_id": None, "activity": None}
    frame = {"type": "events", "items": [_event(1), presence, _event(2)]}
    assert list(protocol.receive(json.dumps(frame))) == \
        [Deliver(_event(1)), Presence(presence), Deliver(_event(2))]
    assert protocol.last_seq == 2


def test_hello_carries_the_last_seq() -> None:
    protocol = ClientProtocol(last_seq=7)
    assert json.loads(protocol.hello("sd_x")) == {"type": "hello", "version": 1,
                                                   "token": "sd_x", "last_seq": 7}


def test_frames_become_decisions() -> None:
    protocol = ClientProtocol(last_seq=3)

    def one(frame: dict[str, Any] | str) -> Any:
        [output] = protocol.receive(frame if isinstance(frame, str) else json.dumps(frame))
        return output

    agent = {"id": 2, "name": "Bo"}
    assert one({"type": "welcome", "version": 1, "agent": agent, "latest_seq": 9}) == \
        Welcomed(agent, 9)
    assert one({"type": "caught_up", "seq": 9}) == CaughtUp(9)
    assert one({"type": "result", "id": "a-1", "result": 4}) == Answered("a-1", 4)
    assert one({"type": "error", "id": "a-2", "code": "not_found", "message": "gone"}) == \
        Failed("a-2", "not_found", "gone")
    assert one({"type": "error", "id": None, "code": "unauthorized",
                "message": "that token is not valid"}) == \
        Refused("unauthorized", "that token is not valid")
    assert one({"type": "error", "id": None, "code": "bad_version", "message": "v2"}) == \
        Refused("bad_version", "v2")
    assert isinstance(one({"type": "error", "id": None, "code": "bad_json", "message": "x"}),
                      Notice)
    seen_by = {"type": "presence", "agent": {"id": 1, "name": "Ada"}, "ticket_id": 7,
               "activity": "viewing"}
    assert one(seen_by) == Presence(seen_by)
    assert isinstance(one("not json"), Notice)
    assert isinstance(one({"type": "mystery"}), Notice)
    assert isinstance(one({"type": "event", "kind": "x"}), Notice)
    assert protocol.last_seq == 3


def test_a_relay_with_less_history_than_we_saw_rewinds_last_seq() -> None:
    protocol = ClientProtocol(last_seq=500)
    [output] = protocol.receive(json.dumps({"type": "welcome", "version": 1, "agent": {},
                                            "latest_seq": 12}))
    assert output == Welcomed({}, 12, rewound=True)
    assert protocol.last_seq == 12


@pytest.mark.parametrize(("given", "expected"), [
    ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/ws"),
    ("https://relay.example.com/", "wss://relay.example.com/ws"),
    ("wss://relay.example.com/ws", "wss://relay.example.com/ws"),
    ("ws://h:1/custom", "ws://h:1/custom"),
])
def test_ws_url(given: str, expected: str) -> None:
    assert ws_url(given) == expected


def test_seconds() -> None:
    assert [seconds(d) for d in (0.02, 0.5, 2, 2.14, 15, 120)] == \
        ["0.02 s", "0.5 s", "2 s", "2.1 s", "15 s", "120 s"]


# --- against a real relay -------------------------------------------------------------


class Proxy:
    """A loopback TCP hop between the client and the relay that a test controls."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.mute = False  # drop what the relay sends; what the client sends still goes
        self.stall = False  # forward nothing either way, keep the sockets open
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """New connections are refused, open ones are cut."""
        assert self._server is not None
        self._server.close()
        self.cut()
        await self._server.wait_closed()

    def cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            self._writers |= {writer, up_writer}
            await asyncio.gather(self._pump(reader, up_writer, down=False),
                                 self._pump(up_reader, writer, down=True))
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    *, down: bool) -> None:
        try:
            while data := await reader.read(65536):
                if self.stall or (down and self.mute):
                    continue
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()


class Recorder:
    """What the client handed over, and a way to wait for it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.states: list[tuple[ConnectionState, str]] = []
        self.presence: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self._changed.set()

    def on_presence(self, presence: dict[str, Any]) -> None:
        self.presence.append(presence)
        self._changed.set()

    def on_state(self, state: ConnectionState, detail: str) -> None:
        self.states.append((state, detail))
        self._changed.set()

    @property
    def seqs(self) -> list[int]:
        return [e["seq"] for e in self.events]

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]

    async def until(self, check: Callable[[], bool], timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                self._changed.clear()
                await self._changed.wait()

    async def until_state(self, state: ConnectionState, timeout: float = 5) -> None:
        await self.until(lambda: bool(self.states) and self.states[-1][0] is state, timeout)


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Harness]:
    async with relay_on_loopback(tmp_path) as harness:
        yield harness


@pytest.fixture
async def proxy(relay: Harness) -> AsyncIterator[Proxy]:
    hop = Proxy(int(relay.url.rsplit(":", 1)[1]))
    await hop.listen()
    try:
        yield hop
    finally:
        await hop.aclose()


class Running:
    """A client whose run() is a task, closed at the end of the test."""

    def __init__(self, client: RelayClient, seen: Recorder) -> None:
        self.client, self.seen = client, seen
        self.task = asyncio.create_task(client.run())


@pytest.fixture
async def start() -> AsyncIterator[Callable[..., Running]]:
    started: list[Running] = []

    def make(url: str, token: str, **options: Any) -> Running:
        seen = Recorder()
        # last_seq 0 (the whole log) unless a test says otherwise: most watch history.
        options = {"last_seq": 0, "backoff": FAST, "jitter": 0, "open_timeout": 2,
                   "on_event": seen.on_event,
                   "on_state": seen.on_state, "on_presence": seen.on_presence, **options}
        client = RelayClient(url, token, **options)
        started.append(Running(client, seen))
        return started[-1]

    yield make
    for running in started:
        await running.client.close()
        await asyncio.wait_for(running.task, 5)


async def _stored(harness: Harness, kind: str) -> int:
    events = await harness.relay.store.read(queries.events_after, 0)
    return sum(e.kind == kind for e in events)


async def test_connects_and_goes_live(relay: Harness, start: Callable[..., Running]) -> None:
    running = start(relay.url, relay.agent_token)
    await running.client.wait_live(5)
    assert [s for s, _ in running.seen.states] == [S.CONNECTING, S.REPLAYING, S.LIVE]
    assert running.seen.states[-1][1] == "connected as Bo"
    assert running.client.agent is not None and running.client.agent["name"] == "Bo"
    assert "token_hash" not in running.client.agent


async def test_replays_events_after_last_seq(relay: Harness,
                                             start: Callable[..., Running]) -> None:
    for body in ("one", "two", "three"):
        await relay.text(body)
    everything = start(relay.url, relay.agent_token, last_seq=0)
    await everything.client.wait_live(5)
    seqs = everything.seen.seqs
    assert len(seqs) >= 3 and seqs == sorted(set(seqs))
    assert everything.client.last_seq == seqs[-1]

    later = start(relay.url, relay.agent_token, last_seq=seqs[0])
    await later.client.wait_live(5)
    assert later.seen.seqs == seqs[1:]


async def test_a_fresh_client_gets_no_history_then_everything_new(
        relay: Harness, start: Callable[..., Running]) -> None:
    """An inbox starting afresh loads its lists by command; replaying the log would be waste."""
    for body in ("one", "two"):
        await relay.text(body)
    fresh = start(relay.url, relay.agent_token, last_seq=None)
    await fresh.client.wait_live(5)
    assert fresh.seen.seqs == []
    history = fresh.client.last_seq
    assert history > 0  # it resumes from the relay's latest after a drop
    await relay.text("three")
    await fresh.seen.until(lambda: bool(fresh.seen.seqs))
    assert fresh.seen.seqs[0] > history


async def test_a_live_text_arrives_as_an_event(relay: Harness,
                                               start: Callable[..., Running]) -> None:
    running = start(relay.url, relay.agent_token)
    await running.client.wait_live(5)
    await relay.text("hi")
    await running.seen.until(lambda: bool(running.seen.kinds("ticket.created")))
    [created] = running.seen.kinds("ticket.created")
    assert created["payload"]["message"]["body"] == "hi"
    assert running.client.last_seq == running.seen.seqs[-1]


async def test_commands_return_results(relay: Harness, start: Callable[..., Running]) -> None:
    await relay.text("Where is my order?")
    running = start(relay.url, relay.agent_token)
    await running.client.wait_live(5)
    page = await running.client.command("list_tickets", status=["open"], timeout=5)
    assert [t["last_preview"] for t in (row["ticket"] for row in page["items"])] == \
        ["Where is my order?"]
    assert await running.client.command("count_tickets", timeout=5) == 1


async def test_command_errors_raise_command_error(relay: Harness,
                                                  start: Callable[..., Running]) -> None:
    await relay.text("hello")
    running = start(relay.url, relay.agent_token)
    await running.client.wait_live(5)
    ticket_id = running.seen.kinds("ticket.created")[0]["ticket_id"]
    with pytest.raises(CommandError) as bad_cursor:
        await running.client.command("get_thread", ticket_id=ticket_id, before="nonsense",
                                     timeout=5)
    assert bad_cursor.value.code == "bad_args"
    assert str(bad_cursor.value) == bad_cursor.value.message
    with pytest.raises(CommandError) as missing:
        await running.client.command("get_thread", ticket_id=99999, timeout=5)
    assert missing.value.code == "not_found"
    assert "99999" in str(missing.value)
    with pytest.raises(CommandError) as wrong_type:  # checked by the relay's protocol layer
        await running.client.command("add_note", ticket_id="7", body="x", timeout=5)
    assert wrong_type.value.code == "bad_args"
    assert running.client.state is S.LIVE


async def test_a_bad_token_is_refused_without_retrying(relay: Harness,
                                                       start: Callable[..., Running]) -> None:
    running = start(relay.url, "sd_not-a-real-token")
    await asyncio.wait_for(running.task, 5)  # run() returns by itself
    assert running.seen.states == [
        (S.CONNECTING, f"connecting to {relay.url.removeprefix('http://')}"),
        (S.REFUSED, "relay refused the token: that token is not valid"),
    ]
    with pytest.raises(CommandError) as error:
        await running.client.command("count_tickets")
    assert error.value.code == "refused"
    with pytest.raises(ConnectionError):
        await running.client.wait_live(1)


async def test_backoff_follows_the_delays_and_resets_once_live(
        relay: Harness, proxy: Proxy, start: Callable[..., Running]) -> None:
    await proxy.stop()
    running = start(proxy.url, relay.agent_token, backoff=(0.01, 0.02, 0.03))
    offline = lambda: [d for s, d in running.seen.states if s is S.OFFLINE]  # noqa: E731
    await running.seen.until(lambda: len(offline()) >= 4)
    assert offline()[:4] == [f"reconnecting in {d} s (connection refused)"
                             for d in ("0.01", "0.02", "0.03", "0.03")]
    await proxy.listen()
    await running.client.wait_live(5)
    count = len(offline())
    proxy.cut()
    await running.seen.until(lambda: len(offline()) > count)
    assert offline()[count].startswith("reconnecting in 0.01 s (")


async def test_reconnects_and_resumes_across_a_relay_restart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        start: Callable[..., Running]) -> None:
    async with relay_on_loopback(tmp_path) as first:
        port = int(first.url.rsplit(":", 1)[1])
        running = start(first.url, first.agent_token)
        await running.client.wait_live(5)
        await first.text("before the restart")
        await running.seen.until(lambda: len(running.seen.events) >= 1)
    await running.seen.until_state(S.OFFLINE)

    monkeypatch.setenv("SMSDESK_TWILIO_API_URL", "http://127.0.0.1:9")
    async with running_relay(Paths(tmp_path), public_url="https://relay.example.test",
                             host="127.0.0.1", port=port) as (relay, _server):
        second = Harness(relay, first.url, first.admin_token, first.agent_token, first._sids)
        for body in ("after one", "after two", "after three"):
            await second.text(body)
        stored = await relay.store.read(queries.events_after, 0)
        await running.seen.until(lambda: running.client.last_seq == stored[-1].seq)
        assert running.seen.seqs == [e.seq for e in stored]
        assert running.client.state is S.LIVE
        bodies = [e["payload"]["message"]["body"] for e in running.seen.events
                  if e["kind"] in ("ticket.created", "message.created")]
        assert bodies == ["before the restart", "after one", "after two", "after three"]
        await running.client.close()


async def test_texts_while_disconnected_are_replayed_exactly_once_in_order(
        relay: Harness, proxy: Proxy, start: Callable[..., Running]) -> None:
    running = start(proxy.url, relay.agent_token)
    await running.client.wait_live(5)
    await relay.text("first")
    await running.seen.until(lambda: len(running.seen.events) >= 1)
    await proxy.stop()
    await running.seen.until_state(S.OFFLINE)
    for body in ("while down 1", "while down 2", "while down 3"):
        await relay.text(body)
    await proxy.listen()
    await running.client.wait_live(5)
    await relay.text("after")
    stored = await relay.relay.store.read(queries.events_after, 0)
    await running.seen.until(lambda: running.client.last_seq == stored[-1].seq)
    assert running.seen.seqs == [e.seq for e in stored]


async def test_a_command_issued_offline_is_sent_once_after_reconnecting(
        relay: Harness, proxy: Proxy, start: Callable[..., Running]) -> None:
    await relay.text("hello")
    running = start(proxy.url, relay.agent_token)
    await running.client.wait_live(5)
    ticket_id = running.seen.kinds("ticket.created")[0]["ticket_id"]
    await proxy.stop()
    await running.seen.until_state(S.OFFLINE)
    note = asyncio.create_task(running.client.command("add_note", ticket_id=ticket_id,
                                                      body="call back at 5"))
    await asyncio.sleep(0.1)  # a few refused attempts
    assert not note.done()
    await proxy.listen()
    answer = await asyncio.wait_for(note, 5)
    assert answer["body"] == "call back at 5"
    await running.seen.until(lambda: bool(running.seen.kinds("note.created")))
    assert await _stored(relay, "note.created") == 1
    assert [e["payload"]["note"]["id"] for e in running.seen.kinds("note.created")] == \
        [answer["id"]]


async def test_an_unanswered_command_is_resent_with_its_id_and_done_once(
        relay: Harness, proxy: Proxy, start: Callable[..., Running]) -> None:
    await relay.text("hello")
    running = start(proxy.url, relay.agent_token)
    await running.client.wait_live(5)
    ticket_id = running.seen.kinds("ticket.created")[0]["ticket_id"]
    async with relay.agent() as observer:
        await observer.until("caught_up")
        proxy.mute = True  # the relay acts, its answer never reaches the client
        note = asyncio.create_task(running.client.command("add_note", ticket_id=ticket_id,
                                                          body="only once"))
        done = await observer.until("event")
        assert done["kind"] == "note.created"
    assert not note.done()
    proxy.cut()
    proxy.mute = False
    answer = await asyncio.wait_for(note, 5)  # answered from the relay's record
    assert answer["id"] == done["payload"]["note"]["id"]
    assert await _stored(relay, "note.created") == 1
    await running.seen.until(lambda: running.client.last_seq == done["seq"])
    assert len(running.seen.kinds("note.created")) == 1
    assert sum(s is S.LIVE for s, _ in running.seen.states) == 2


async def test_a_timed_out_command_is_withdrawn_if_not_sent(
        relay: Harness, proxy: Proxy, start: Callable[..., Running]) -> None:
    await relay.text("hello")
    running = start(proxy.url, relay.agent_token)
    await running.client.wait_live(5)
    ticket_id = running.seen.kinds("ticket.created")[0]["ticket_id"]
    await proxy.stop()
    await running.seen.until_state(S.OFFLINE)
    with pytest.raises(TimeoutError):
        await running.client.command("add_note", ticket_id=ticket_id, body="never",
                                     timeout=0.05)
    await proxy.listen()
    await running.client.wait_live(5)
    assert await running.client.command("count_tickets", timeout=5) == 1  # a round trip
    assert await _stored(relay, "note.created") == 0


async def test_a_dead_relay_is_noticed_by_the_heartbeat(
        relay: Harness, proxy: Proxy, start: Callable[..., Running]) -> None:
    running = start(proxy.url, relay.agent_token, ping_interval=0.1, ping_timeout=0.1,
                    open_timeout=0.3)
    await running.client.wait_live(5)
    proxy.stall = True
    await running.seen.until_state(S.OFFLINE, timeout=3)
    assert running.seen.states[-1][1].endswith("(the relay stopped answering)")
    proxy.stall = False
    await running.client.wait_live(5)


async def test_a_failing_callback_does_not_stop_the_client(
        relay: Harness, start: Callable[..., Running], caplog: pytest.LogCaptureFixture) -> None:
    seen: list[int] = []

    def fragile(event: dict[str, Any]) -> None:
        seen.append(event["seq"])
        if len(seen) == 1:
            raise RuntimeError("boom")

    running = start(relay.url, relay.agent_token, on_event=fragile)
    await running.client.wait_live(5)
    await relay.text("one")
    await relay.text("two")
    stored = await relay.relay.store.read(queries.events_after, 0)
    async with asyncio.timeout(5):
        while running.client.last_seq < stored[-1].seq:
            await asyncio.sleep(0.01)
    assert seen == [e.seq for e in stored]
    assert running.client.state is S.LIVE
    assert "callback failed" in caplog.text


async def test_close_fails_waiting_commands_and_ends_run(
        relay: Harness, proxy: Proxy, start: Callable[..., Running]) -> None:
    await proxy.stop()
    running = start(proxy.url, relay.agent_token)
    await running.seen.until_state(S.OFFLINE)
    waiting = asyncio.create_task(running.client.command("count_tickets"))
    await asyncio.sleep(0)
    await running.client.close()
    await asyncio.wait_for(running.task, 1)
    with pytest.raises(CommandError) as error:
        await waiting
    assert error.value.code == "closed"
    assert running.seen.states[-1] == (S.CLOSED, "disconnected")
    with pytest.raises(CommandError):
        await running.client.command("count_tickets")


async def test_close_while_live_ends_run_promptly(relay: Harness,
                                                  start: Callable[..., Running]) -> None:
    running = start(relay.url, relay.agent_token)
    await running.client.wait_live(5)
    await asyncio.wait_for(running.client.close(), 1)
    assert running.task.done()
    assert running.client.state is S.CLOSED


async def test_a_retry_with_the_same_command_id_gets_the_first_answer(
        relay: Harness, proxy: Proxy, start: Callable[..., Running]) -> None:
    await relay.text("hello")
    running = start(proxy.url, relay.agent_token)
    await running.client.wait_live(5)
    ticket_id = running.seen.kinds("ticket.created")[0]["ticket_id"]
    proxy.mute = True
    with pytest.raises(TimeoutError):
        await running.client.command("add_note", ticket_id=ticket_id, body="maybe",
                                     command_id="note-1", timeout=0.3)
    proxy.cut()
    proxy.mute = False
    await running.client.wait_live(5)
    again = await running.client.command("add_note", ticket_id=ticket_id, body="maybe",
                                         command_id="note-1", timeout=5)
    assert again["body"] == "maybe"
    assert await _stored(relay, "note.created") == 1


async def test_presence_reaches_other_agents_and_is_said_again_after_a_reconnect(
        relay: Harness, proxy: Proxy, start: Callable[..., Running]) -> None:
    await relay.text("hello")
    watcher = start(relay.url, relay.admin_token)
    await watcher.client.wait_live(5)
    ticket_id = watcher.seen.kinds("ticket.created")[0]["ticket_id"]
    agent = start(proxy.url, relay.agent_token)
    agent.client.announce(ticket_id, "replying")  # before it is connected: said once live
    await agent.client.wait_live(5)
    with pytest.raises(ValueError):
        agent.client.announce(ticket_id, "dancing")

    def told() -> list[tuple[int | None, str | None]]:
        return [(p["ticket_id"], p["activity"]) for p in watcher.seen.presence
                if p["agent"]["name"] == "Bo"]

    await watcher.seen.until(lambda: told() == [(ticket_id, "replying")])
    proxy.cut()  # the relay forgets Bo's presence and says so; Bo reconnects and says it again
    await watcher.seen.until(lambda: len(told()) >= 3)
    assert told() == [(ticket_id, "replying"), (None, None), (ticket_id, "replying")]
    agent.client.announce(None)
    await watcher.seen.until(lambda: len(told()) >= 4)
    assert told()[-1] == (None, None)


def test_every_command_that_changes_nothing_is_not_work_to_the_inbox() -> None:
    """Quitting asks only about work: a read still in flight (say, at startup, on a loaded
    machine) must never make ctrl+q ask "wait for the relay?"."""
    from server.commands import answered_as_they_come
    from tui.client import NOT_WORK

    assert answered_as_they_come() <= NOT_WORK
