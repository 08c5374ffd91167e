"""Fan-out of committed events to every connected agent.

Each event is encoded to its wire text once, however many agents are
connected. Each connection has a bounded queue; publishing never waits. A
client whose queue is full is too slow to keep up: it is told to go away and
resumes from its last sequence number when it reconnects, rather than making
the relay hold an unbounded backlog for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from core import protocol
from core.models import Event

QUEUE_LIMIT = 2048


@dataclass(eq=False)
class Subscriber:
    """One connection's backlog: ``(seq, wire text)`` pairs not yet sent.

    A plain list and one wake-up rather than an ``asyncio.Queue``: with 50
    agents, the queue's per-item bookkeeping was a tenth of the relay's time.
    """

    on_overflow: Callable[[], None] = lambda: None
    pending: list[tuple[int, str]] = field(default_factory=list)
    overflowed: bool = False
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, items: list[tuple[int, str]]) -> bool:
        """Add a commit's events; False (and nothing added) if that would overflow."""
        if len(self.pending) + len(items) > QUEUE_LIMIT:
            return False
        self.pending.extend(items)
        self._ready.set()
        return True

    async def take(self, limit: int) -> list[tuple[int, str]]:
        """Wait for at least one event, then return up to ``limit`` of them, oldest first."""
        while not self.pending:
            self._ready.clear()
            await self._ready.wait()
        taken = self.pending[:limit]
        del self.pending[:limit]
        return taken


def event_text(event: Event) -> str:
    return protocol.event(event.seq, event.kind, event.ticket_id, event.payload, event.at)


class Hub:
    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()

    def subscribe(self, on_overflow: Callable[[], None] = lambda: None) -> Subscriber:
        subscriber = Subscriber(on_overflow)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def publish(self, events: list[Event]) -> None:
        """Called by the store after each commit, with that commit's events in order."""
        if not self._subscribers:
            return
        texts = [(event.seq, event_text(event)) for event in events]
        for subscriber in list(self._subscribers):
            if subscriber.overflowed:
                continue
            if not subscriber.offer(texts):
                subscriber.overflowed = True
                subscriber.on_overflow()

    def broadcast(self, text: str, *, skip: Subscriber | None = None) -> None:
        """An ephemeral message (no ``seq``: sent as 0) to every subscriber but ``skip``."""
        for subscriber in list(self._subscribers):
            if subscriber is skip or subscriber.overflowed:
                continue
            if not subscriber.offer([(0, text)]):
                subscriber.overflowed = True
                subscriber.on_overflow()

    def __len__(self) -> int:
        return len(self._subscribers)
