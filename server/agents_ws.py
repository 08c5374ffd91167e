"""One agent's websocket: authenticate, replay what they missed, then go live.

The subscription to live events starts before the replay is read, and live
events already sent by the replay are skipped by sequence number, so there is
no window in which an event can slip between the two.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from core import auth, protocol, queries
from core.models import Agent
from core.protocol import Command, Hello, ProtocolError
from core.records import to_wire
from core.store import Store
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

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Session:
    def __init__(self, receive: Receive, send: Send, *, hub: Hub, store: Store,
                 context: Callable[[Agent], commands.Context],
                 presence: PresenceBoard | None = None) -> None:
        self._receive, self._send = receive, send
        self._hub, self._store, self._context = hub, store, context
        self._presence = presence or PresenceBoard(hub)
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def send_text(self, text: str) -> None:
        async with self._lock:
            await self._send({"type": "websocket.send", "text": text})

    async def close(self, code: int, reason: str = "") -> None:
        async with self._lock:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})

    async def run(self) -> None:
        if (await self._receive())["type"] != "websocket.connect":
            return
        await self._send({"type": "websocket.accept"})
        hello = await self._hello()
        if hello is None:
            return
        ctx = self._context(hello[0])
        live: asyncio.Task[None] | None = None

        def kick() -> None:
            if live is not None:
                live.cancel()
            self._spawn(self.close(CLOSE_TOO_SLOW, "too slow; reconnect and resume"))

        subscriber = self._hub.subscribe(on_overflow=kick)
        try:
            last_sent = await self._replay(ctx, hello[1].last_seq)
            for text in self._presence.current(skip=subscriber):
                await self.send_text(text)
            live = asyncio.create_task(self._stream(subscriber, last_sent))
            try:
                await self._read_commands(ctx, subscriber)
            finally:
                live.cancel()
                for task in list(self._tasks):
                    task.cancel()
        finally:
            self._hub.unsubscribe(subscriber)
            self._presence.leave(subscriber)

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
        public = {k: v for k, v in to_wire(ctx.agent).items() if k != "token_hash"}
        await self.send_text(protocol.welcome(public, latest))
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

    async def _read_commands(self, ctx: commands.Context, subscriber: Subscriber) -> None:
        while True:
            message = await self._receive()
            if message["type"] != "websocket.receive":
                return
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
                await self._announce(ctx, subscriber, parsed)
                continue
            self._spawn(self._answer(ctx, parsed))

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
            await self.send_text(protocol.error(refused.code, str(refused), command.id))
        except Exception:
            logger.exception("command %s failed", command.name)
            await self.send_text(protocol.error("internal", "the relay failed to do that",
                                                command.id))
        else:
            await self.send_text(protocol.result(command.id, value))


__all__ = ["Session"]
