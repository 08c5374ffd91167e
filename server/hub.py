"""Fan-out of committed events to every connected agent.

Each connection has a bounded queue. Publishing never waits: a client whose
queue is full is too slow to keep up, so it is told to go away and resumes
from its last sequence number when it reconnects, rather than making the
relay hold an unbounded backlog for it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from core.models import Event

QUEUE_LIMIT = 2048


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)


class Hub:
    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def publish(self, events: list[Event]) -> None:
        """Called by the store after each commit, with that commit's events in order."""
        for subscriber in list(self._subscribers):
            if subscriber.overflowed.is_set():
                continue
            for event in events:
                try:
                    subscriber.queue.put_nowait(event)
                except asyncio.QueueFull:
                    subscriber.overflowed.set()
                    break

    def __len__(self) -> int:
        return len(self._subscribers)
