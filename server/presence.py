"""Who is looking at which ticket: told to the other agents, never stored.

Why: two agents answering the same customer at once send two different
replies that cannot be recalled. Showing "Ana is replying" on the ticket is
how a helpdesk prevents it. Presence is ephemeral state, not history, so it
does not go through the event log; a reconnecting agent is told the current
board after its replay.
"""

from __future__ import annotations

from typing import Any

from core import protocol
from server.hub import Hub, Subscriber


class PresenceBoard:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._where: dict[Subscriber, tuple[dict[str, Any], int | None, str | None]] = {}

    def set(self, subscriber: Subscriber, agent: dict[str, Any], ticket_id: int | None,
            activity: str | None) -> None:
        """One connection now views, replies to, or (``ticket_id`` None) left a ticket."""
        if ticket_id is None:
            activity = None
        if self._where.get(subscriber) == (agent, ticket_id, activity):
            return
        self._where[subscriber] = (agent, ticket_id, activity)
        self._hub.broadcast(protocol.presence(agent, ticket_id, activity), skip=subscriber)

    def leave(self, subscriber: Subscriber) -> None:
        """The connection closed: whatever it was looking at, it no longer is."""
        found = self._where.pop(subscriber, None)
        if found is not None and found[1] is not None:
            self._hub.broadcast(protocol.presence(found[0], None, None), skip=subscriber)

    def current(self, skip: Subscriber) -> list[str]:
        """The board as messages, for a connection that just caught up."""
        return [protocol.presence(agent, ticket_id, activity)
                for subscriber, (agent, ticket_id, activity) in self._where.items()
                if subscriber is not skip and ticket_id is not None]
