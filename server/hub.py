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
    on_overflow: Callable[[], None] = lambda: None
    queue: asyncio.Queue[tuple[int, str]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT)
    )
    overflowed: bool = False


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
            for item in texts:
                try:
                    subscriber.queue.put_nowait(item)
                except asyncio.QueueFull:
                    subscriber.overflowed = True
                    subscriber.on_overflow()
                    break

    def __len__(self) -> int:
        return len(self._subscribers)
