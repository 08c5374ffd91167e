"""One agent's websocket: authenticate, replay what they missed, then go live.

The subscription to live events starts before the replay is read, and live
events already sent by the replay are skipped by sequence number, so there is
no window in which an event can slip between the two.

An admin's change to an agent reaches that agent's open sessions as soon as it
commits (``AgentSessions``): a disabled agent's sessions are closed with a
reason, and a demoted one's next command is judged by the new role.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from core import auth, protocol, queries, writes
from core.models import Agent, Event, Role
from core.protocol import Command, Hello, ProtocolError
from core.records import to_wire
from core.store import DatabaseUnavailable, Store
from server import commands
from server.hub import Hub, Subscriber, event_text
from server.presence import PresenceBoard

logger = logging.getLogger(__name__)

HELLO_TIMEOUT = 10
REPLAY_WINDOW = 1000
MAX_EVENTS_PER_FRAME = 100
CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_SLOW = 4008
CLOSE_PROTOCOL = 4400
CLOSE_DISABLED = 4403
DISABLED_REASON = "an admin disabled this agent; ask them to enable it again"

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class AgentSessions:
    """The open sessions of each agent, told of every committed change to that agent."""

    def __init__(self) -> None:
        self._by_agent: dict[int, set[Session]] = {}

    def add(self, agent_id: int, session: Session) -> None:
        self._by_agent.setdefault(agent_id, set()).add(session)

    def discard(self, agent_id: int, session: Session) -> None:
        sessions = self._by_agent.get(agent_id, set())
        sessions.discard(session)
        if not sessions:
            self._by_agent.pop(agent_id, None)

    def apply(self, events: list[Event]) -> None:
        """A store commit listener: pass each agent's changes to its open sessions."""
        for event in events:
            if event.kind != "agent.updated":
                continue
            changed = event.payload["agent"]
            for session in list(self._by_agent.get(changed["id"], ())):
                session.agent_changed(changed)


class Session:
    def __init__(self, receive: Receive, send: Send, *, hub: Hub, store: Store,
                 context: Callable[[Agent], commands.Context],
                 presence: PresenceBoard | None = None,
                 sessions: AgentSessions | None = None) -> None:
        self._receive, self._send = receive, send
        self._hub, self._store, self._context = hub, store, context
        self._presence = presence or PresenceBoard(hub)
        self._sessions = sessions or AgentSessions()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._live: asyncio.Task[None] | None = None
        self._ended = False  # no more commands taken, no more events streamed
        self._closed = False  # the close frame is sent: nothing more can be
        self._ctx: commands.Context  # set once the hello names the agent

    async def send_text(self, text: str) -> None:
        async with self._lock:
            if self._closed:  # an answer finishing after the close: nobody to tell
                return
            await self._send({"type": "websocket.send", "text": text})

    async def close(self, code: int, reason: str = "") -> None:
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            await self._send({"type": "websocket.close", "code": code, "reason": reason})

    async def run(self) -> None:
        if (await self._receive())["type"] != "websocket.connect":
            return
        await self._send({"type": "websocket.accept"})
        hello = await self._hello()
        if hello is None:
            return
        self._ctx = self._context(hello[0])
        agent_id = hello[0].id
        subscriber = self._hub.subscribe(
            on_overflow=lambda: self._end(CLOSE_TOO_SLOW, "too slow; reconnect and resume"))
        self._sessions.add(agent_id, self)
        try:
            # A change committed between the hello's read and joining ``AgentSessions``
            # reached no listener of ours: read the agent once more now we are in.
            self.agent_changed(_public(await self._store.read(writes.agent_by_id, agent_id)))
            if self._ended:
                await asyncio.gather(*self._tasks)  # the close it just started
                return
            last_sent = await self._replay(self._ctx, hello[1].last_seq)
            for text in self._presence.current(skip=subscriber):
                await self.send_text(text)
            self._live = asyncio.create_task(self._stream(subscriber, last_sent))
            if self._ended:  # ended during the replay: nothing more to stream
                self._live.cancel()
            try:
                await self._read_commands(subscriber)
            finally:
                self._live.cancel()
                for task in list(self._tasks):
                    task.cancel()
        finally:
            self._sessions.discard(agent_id, self)
            self._hub.unsubscribe(subscriber)
            self._presence.leave(subscriber)

    def agent_changed(self, agent: dict[str, Any]) -> None:
        """An admin changed this session's agent: disabled ends it, the rest apply from now."""
        if self._ended:
            return
        if agent["disabled"]:
            self._end(CLOSE_DISABLED, DISABLED_REASON, error_code="disabled")
            return
        current = self._ctx.agent
        fresh = dataclasses.replace(current, name=agent["name"], role=Role(agent["role"]),
                                    group_ids=tuple(agent["group_ids"]))
        self._ctx = dataclasses.replace(self._ctx, agent=fresh)

    def _end(self, code: int, reason: str, *, error_code: str | None = None) -> None:
        """Stop streaming and taking commands, and close with ``code`` and ``reason``."""
        self._ended = True
        if self._live is not None:
            self._live.cancel()

        async def tell_and_close() -> None:
            if error_code is not None:
                await self.send_text(protocol.error(error_code, reason))
            await self.close(code, reason)

        self._spawn(tell_and_close())

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _hello(self) -> tuple[Agent, Hello] | None:
        try:
            message = await asyncio.wait_for(self._receive(), HELLO_TIMEOUT)
        except TimeoutError:
            await self.close(CLOSE_PROTOCOL, "no hello")
            return None
        if message["type"] != "websocket.receive":
            return None
        try:
            hello = protocol.parse_client_message(message.get("text") or message.get("bytes", b""))
        except ProtocolError as problem:
            await self.send_text(protocol.error_from(problem))
            await self.close(CLOSE_PROTOCOL, problem.code)
            return None
        if not isinstance(hello, Hello):
            await self.send_text(protocol.error("bad_message", "say hello first"))
            await self.close(CLOSE_PROTOCOL, "no hello")
            return None
        agent = await self._store.read(queries.agent_by_token_hash, auth.hash_token(hello.token))
        if agent is None or agent.disabled:
            await self.send_text(protocol.error("unauthorized", "that token is not valid"))
            await self.close(CLOSE_UNAUTHORIZED, "unauthorized")
            return None
        return agent, hello

    async def _replay(self, ctx: commands.Context, after: int | None) -> int:
        latest = await ctx.store.read(queries.latest_seq)
        await self.send_text(protocol.welcome(_public(ctx.agent), latest))
        # A client ahead of the log saw another database (it was restored or
        # replaced): skipping live events up to its number would lose them.
        # A fresh client (no last_seq) loads what it shows with commands: it
        # wants what happens from now on, not a replay of the whole history.
        last = latest if after is None else min(after, latest)
        while True:
            events = await ctx.store.read(queries.events_after, last, limit=REPLAY_WINDOW)
            for event in events:
                await self.send_text(event_text(event))
                last = event.seq
            if len(events) < REPLAY_WINDOW:
                break
        await self.send_text(protocol.caught_up(last))
        return last

    async def _stream(self, subscriber: Subscriber, last_sent: int) -> None:
        """Live events, skipping any the replay already sent (by sequence number).

        Events that are already waiting go out together in one ``events`` frame:
        with many agents, one send per agent per event is most of the relay's work.
        """
        while True:
            waiting = await subscriber.take(MAX_EVENTS_PER_FRAME)
            # seq 0: ephemeral (presence), always sent, never moves the sequence.
            texts = [text for seq, text in waiting if seq == 0 or seq > last_sent]
            last_sent = max(last_sent, waiting[-1][0], *(seq for seq, _ in waiting))
            if not texts:
                continue
            await self.send_text(texts[0] if len(texts) == 1 else protocol.events(texts))

    async def _read_commands(self, subscriber: Subscriber) -> None:
        while True:
            message = await self._receive()
            if message["type"] != "websocket.receive":
                return
            if self._ended:  # closing: whatever the client still sends is not acted on
                continue
            try:
                parsed = protocol.parse_client_message(
                    message.get("text") or message.get("bytes", b"")
                )
            except ProtocolError as problem:
                await self.send_text(protocol.error_from(problem))
                continue
            if not isinstance(parsed, Command):
                await self.send_text(protocol.error("bad_message", "already said hello"))
                continue
            if parsed.name == "presence":
                await self._announce(self._ctx, subscriber, parsed)
                continue
            self._spawn(self._answer(self._ctx, parsed))

    async def _announce(self, ctx: commands.Context, subscriber: Subscriber,
                        command: Command) -> None:
        activity = command.args["activity"]
        if activity not in protocol.PRESENCE_ACTIVITIES:
            await self.send_text(protocol.error(
                "bad_args", f"activity is one of {', '.join(protocol.PRESENCE_ACTIVITIES)}",
                command.id))
            return
        agent = {"id": ctx.agent.id, "name": ctx.agent.name}
        self._presence.set(subscriber, agent, command.args.get("ticket_id"), activity)
        await self.send_text(protocol.result(command.id, {"ok": True}))

    async def _answer(self, ctx: commands.Context, command: Command) -> None:
        try:
            value = await commands.run(ctx, command)
        except commands.CommandRefused as refused:
            await self.send_text(protocol.error(refused.code, str(refused), command.id,
                                                refused.field))
        except DatabaseUnavailable as away:  # restarting or failing over: worth a resend
            logger.warning("command %s: %s", command.name, away)
            await self.send_text(protocol.error(
                "unavailable", "the database is not answering just now; nothing was done"
                " unless the same command, resent, says so", command.id))
        except Exception:
            logger.exception("command %s failed", command.name)
            await self.send_text(protocol.error("internal", "the relay failed to do that",
                                                command.id))
        else:
            await self.send_text(protocol.result(command.id, value))


def _public(agent: Agent) -> dict[str, Any]:
    return {k: v for k, v in to_wire(agent).items() if k != "token_hash"}


__all__ = ["AgentSessions", "Session"]
