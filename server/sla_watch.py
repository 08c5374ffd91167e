"""The SLA watch: tells the inboxes when a ticket nears its due, and when it breaches it.

Every 30 seconds the relay leading "sla-watch" (one relay on a shared database, like the
outbox) looks at the tickets whose first response or resolution falls due soon or fell
due lately, by the partial indexes on the two due columns, and emits `sla.nearing` (the
due is within 30 minutes, or 10 % of the target, whichever is longer) and `sla.breached`
(the due passed, so the ticket is overdue) for the inbox's toasts.

Once per ticket per due: what was announced is the event log itself, read by the ticket's
events index, in the same transaction as the new events are written, so neither a crash
nor a change of leader repeats or loses one. The leader keeps what it announced in memory
as well, so a pass costs one index range per column and nothing per announced ticket. A
due moved (a priority change, a resumed clock) is a new due and is announced again.
Breaches older than a week (a relay down that long) are not announced: stale toasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from core import sla, sla_writes
from core import store as store_clock  # the store's clock: the one the dues were set by
from core.db import Conn
from core.models import Priority
from core.store import Lead, Store
from core.writes import WriteContext

logger = logging.getLogger(__name__)

WATCH_EVERY_S = 30.0
LOOKBACK_MS = 7 * 86_400_000
NEARING, BREACHED = "sla.nearing", "sla.breached"
WHICH = ("first_response", "resolution")

Key = tuple[int, str, int, str]  # (ticket id, which due, the due, event kind)


@dataclass(frozen=True, slots=True)
class DueTicket:
    ticket_id: int
    which: str  # first_response | resolution
    due: int
    priority: Priority
    agent_id: int | None
    group_id: int | None
    subject: str


def dues_near(conn: Conn, now: int, ahead_ms: int) -> list[DueTicket]:
    """Live tickets with a due from a week ago to `ahead_ms` from now, oldest due first."""
    rows: list[DueTicket] = []
    for which in WHICH:
        column = f"{which}_due"  # one of two names, never a client's
        rows.extend(
            DueTicket(row[0], which, row[1], Priority(row[2]), row[3], row[4], row[5])
            for row in conn.execute(
                f"SELECT id, {column}, priority, agent_id, group_id, subject FROM tickets"
                f" WHERE {column} IS NOT NULL AND deleted = 0 AND {column} > ?"
                f" AND {column} <= ?", (now - LOOKBACK_MS, now + ahead_ms)))
    return sorted(rows, key=lambda due: (due.due, due.ticket_id, due.which))


def kind_at(due: DueTicket, target: sla.Target, now: int) -> str | None:
    """What there is to say of a due at `now`: breached, nearing, or nothing yet."""
    if due.due < now:
        return BREACHED
    target_ms = getattr(target, due.which)
    if target_ms is not None and sla.nearing_from(due.due, target_ms) <= now:
        return NEARING
    return None


def _ahead_ms(targets: dict[Priority, sla.Target]) -> int:
    """How far ahead a due can be and already count as nearing."""
    longest = max((ms for target in targets.values() for ms in (target.first_response,
                   target.resolution) if ms is not None), default=0)
    return -sla.nearing_from(0, longest)


def _in_event_log(conn: Conn, key: Key) -> bool:
    ticket_id, which, due, kind = key
    for (payload,) in conn.execute(
            "SELECT payload FROM events WHERE ticket_id = ? AND kind = ? ORDER BY seq DESC"
            " LIMIT 50", (ticket_id, kind)):
        said = json.loads(payload)
        if said.get("which") == which and said.get("due") == due:
            return True
    return False


def announce(ctx: WriteContext, announced: AbstractSet[Key]) -> list[Key]:
    """One pass, in one transaction: emit what is newly nearing or breached as of the
    transaction's clock.

    Returns every key now known to be announced (new, or found in the event log), for the
    caller to remember once the transaction is committed."""
    now = ctx.now
    targets = sla_writes.targets(ctx.conn)
    known: list[Key] = []
    for due in dues_near(ctx.conn, now, _ahead_ms(targets)):
        kind = kind_at(due, targets[due.priority], now)
        if kind is None:
            continue
        key: Key = (due.ticket_id, due.which, due.due, kind)
        if key in announced:
            continue
        known.append(key)
        if _in_event_log(ctx.conn, key):
            continue
        ctx.emit(kind, due.ticket_id, _payload(due, targets[due.priority], now))
    return known


def _payload(due: DueTicket, target: sla.Target, now: int) -> dict[str, Any]:
    return {"ticket_id": due.ticket_id, "which": due.which, "due": due.due,
            "in_ms": due.due - now, "target": getattr(target, due.which),
            "priority": due.priority.value, "agent_id": due.agent_id,
            "group_id": due.group_id, "subject": due.subject}


@dataclass
class SlaWatch:
    """The leader's loop; `announced` outlives a lead (a key is a fact, whoever said it)."""

    store: Store
    every_s: float = WATCH_EVERY_S
    announced: set[Key] = field(default_factory=set)

    async def run(self) -> None:
        """Watch until cancelled, whenever this relay leads "sla-watch"."""
        while True:
            async with self.store.leadership("sla-watch") as lead:
                await self._watch_while(lead)
            logger.warning("no longer watching SLA dues: waiting to lead the watch again")

    async def _watch_while(self, lead: Lead) -> None:
        while not lead.lost.is_set():
            try:
                await self.watch_once()
            except Exception:  # the database away for a moment: try again next pass
                logger.exception("could not check SLA dues")
            with contextlib.suppress(TimeoutError):  # a pass every so often, or lead lost
                await asyncio.wait_for(lead.lost.wait(), timeout=self.every_s)

    async def watch_once(self) -> int:
        """One pass; returns how many dues it announced or found announced."""
        known = await self.store.write(announce, frozenset(self.announced))
        self.announced.update(known)
        oldest = store_clock.now_ms() - LOOKBACK_MS
        self.announced = {key for key in self.announced if key[2] > oldest}
        return len(known)
