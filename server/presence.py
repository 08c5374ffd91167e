"""Who is looking at which ticket: told to the other agents, never stored.

Why: two agents answering the same customer at once send two different
replies that cannot be recalled. Showing "Ana is replying" on the ticket is
how a helpdesk prevents it. Presence is ephemeral state, not history, so it
does not go through the event log; a reconnecting agent is told the current
board after its replay.

Several relays on one PostgreSQL database: agents on different relays must
see each other too, so each change is also shared with the other relays
(``Store.share``: a NOTIFY, never stored) and each relay passes what it hears
to its own agents. A relay that starts asks the others for their boards; each
relay says it is alive every few seconds, and what a relay that went silent
(killed, cut off) had on the board is taken off it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from typing import Any

from core import protocol
from core.store import Store
from server.hub import Hub, Subscriber

logger = logging.getLogger(__name__)

BEAT_SECONDS = 5.0  # how often a relay says it is alive to the others
SILENT_BEATS = 3  # a relay not heard from for this many beats is taken as gone

Spot = tuple[dict[str, Any], int | None, str | None]  # (agent, ticket_id, activity)


class PresenceBoard:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._where: dict[Subscriber, Spot] = {}
        self._origin = secrets.token_hex(8)  # this board, among the relays' boards
        self._store: Store | None = None  # set by ``share_through``: other relays hear us
        self._remote: dict[tuple[str, int], Spot] = {}  # (relay, connection): spot
        self._heard: dict[str, float] = {}  # relay: when last heard (monotonic)

    def set(self, subscriber: Subscriber, agent: dict[str, Any], ticket_id: int | None,
            activity: str | None) -> None:
        """One connection now views, replies to, or (``ticket_id`` None) left a ticket."""
        if ticket_id is None:
            activity = None
        if self._where.get(subscriber) == (agent, ticket_id, activity):
            return
        self._where[subscriber] = (agent, ticket_id, activity)
        self._hub.broadcast(protocol.presence(agent, ticket_id, activity), skip=subscriber)
        self._share_spot(subscriber, (agent, ticket_id, activity))

    def leave(self, subscriber: Subscriber) -> None:
        """The connection closed: whatever it was looking at, it no longer is."""
        found = self._where.pop(subscriber, None)
        if found is not None and found[1] is not None:
            self._hub.broadcast(protocol.presence(found[0], None, None), skip=subscriber)
            self._share_spot(subscriber, (found[0], None, None))

    def current(self, skip: Subscriber) -> list[str]:
        """The board as messages, for a connection that just caught up."""
        spots = [spot for subscriber, spot in self._where.items() if subscriber is not skip]
        spots.extend(self._remote.values())
        return [protocol.presence(agent, ticket_id, activity)
                for agent, ticket_id, activity in spots if ticket_id is not None]

    # --- across relays --------------------------------------------------------------------

    def share_through(self, store: Store) -> None:
        """Tell the relays on ``store``'s database of changes here, and hear theirs.

        On a SQLite store nothing is shared: one relay serves the file.
        """
        self._store = store
        # Each time this relay starts hearing the others (at start, after the database
        # came back) it missed what they said before: it asks them for their boards.
        store.on_shared(self.heard, joined=lambda: self._share({"t": "ask"}))

    async def keep_alive(self) -> None:
        """Until cancelled: say this relay is alive; take silent relays' spots off the board."""
        while True:
            await asyncio.sleep(BEAT_SECONDS)
            self._share({"t": "beat"})
            self.forget_silent(time.monotonic() - SILENT_BEATS * BEAT_SECONDS)

    def forget_silent(self, heard_before: float) -> None:
        """Take off the board what relays not heard from since ``heard_before`` had on it."""
        for origin in [o for o, when in self._heard.items() if when < heard_before]:
            del self._heard[origin]
            for key in [k for k in self._remote if k[0] == origin]:
                self._set_remote(key, None)

    def heard(self, text: str) -> None:
        """A text another relay shared (a ``Store.on_shared`` listener)."""
        try:
            said = json.loads(text)
            if said.get("p") != 1:
                return  # not presence
            origin = str(said["o"])
            kind = said["t"]
        except (ValueError, KeyError, TypeError, AttributeError):
            logger.warning("ignored a malformed presence text from another relay")
            return
        if origin == self._origin:
            return
        self._heard[origin] = time.monotonic()
        if kind == "ask":
            for subscriber, spot in self._where.items():
                if spot[1] is not None:
                    self._share_spot(subscriber, spot)
        elif kind == "spot":
            try:
                key = (origin, int(said["c"]))
                agent = {"id": int(said["agent"]["id"]), "name": str(said["agent"]["name"])}
                ticket_id = None if said["ticket_id"] is None else int(said["ticket_id"])
                activity = None if ticket_id is None else str(said["activity"])
            except (ValueError, KeyError, TypeError):
                logger.warning("ignored a malformed presence text from another relay")
                return
            self._set_remote(key, (agent, ticket_id, activity) if ticket_id is not None else None)

    def _set_remote(self, key: tuple[str, int], spot: Spot | None) -> None:
        """A connection on another relay moved to ``spot`` (None: left its ticket)."""
        before = self._remote.get(key)
        if spot is None:
            if before is None:
                return
            del self._remote[key]
            self._hub.broadcast(protocol.presence(before[0], None, None))
            return
        if before == spot:
            return
        self._remote[key] = spot
        self._hub.broadcast(protocol.presence(*spot))

    def _share_spot(self, subscriber: Subscriber, spot: Spot) -> None:
        agent, ticket_id, activity = spot
        self._share({"t": "spot", "c": id(subscriber), "agent": agent, "ticket_id": ticket_id,
                     "activity": activity})

    def _share(self, said: dict[str, Any]) -> None:
        if self._store is not None:
            self._store.share(json.dumps({"p": 1, "o": self._origin, **said},
                                         separators=(",", ":")))
