"""Time on tickets: one running timer per agent (kept on the relay), and time entries.

The timer lives in the store, not the inbox, so quitting the inbox loses
nothing: the next inbox asks for it and shows it ticking again. Stopping it
logs a time entry; starting one while another runs stops that one first (and
says so in the answer), since an agent works one ticket at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core import records
from core.db import Conn
from core.models import TimeEntry
from core.writes import (
    MAX_TIME_ENTRY_SECONDS,
    Forbidden,
    NotFound,
    StoreError,
    WriteContext,
    agent_by_id,
    check_seconds,
    log_time,
    ticket_by_id,
)


@dataclass(frozen=True, slots=True)
class Timer:
    agent_id: int
    ticket_id: int
    started_at: int


def running_timer(conn: Conn, agent_id: int) -> Timer | None:
    row = conn.execute("SELECT agent_id, ticket_id, started_at FROM running_timers"
                       " WHERE agent_id = ?", (agent_id,)).fetchone()
    return None if row is None else Timer(row[0], row[1], row[2])


def start_timer(ctx: WriteContext, *, agent_id: int, ticket_id: int) -> dict[str, Any]:
    """Start the agent's timer on a ticket; a timer running elsewhere is stopped and logged."""
    ticket = ticket_by_id(ctx.conn, ticket_id)
    if ticket.deleted:
        raise StoreError(f"ticket #{ticket_id} is in the Trash")
    running = running_timer(ctx.conn, agent_id)
    if running is not None and running.ticket_id == ticket_id:
        return {"timer": records.to_wire(running), "stopped": None}
    stopped = stop_timer(ctx, agent_id=agent_id) if running is not None else None
    timer = Timer(agent_id, ticket_id, ctx.now)
    ctx.conn.execute("INSERT INTO running_timers(agent_id, ticket_id, started_at)"
                     " VALUES (?, ?, ?)", (agent_id, ticket_id, ctx.now))
    ctx.emit("timer.started", ticket_id, {"timer": records.to_wire(timer)})
    return {"timer": records.to_wire(timer), "stopped": stopped}


def stop_timer(ctx: WriteContext, *, agent_id: int) -> dict[str, Any] | None:
    """Stop the agent's timer and log its time (at least a second); None if none ran."""
    running = running_timer(ctx.conn, agent_id)
    if running is None:
        return None
    ctx.conn.execute("DELETE FROM running_timers WHERE agent_id = ?", (agent_id,))
    seconds = min(max(1, (ctx.now - running.started_at) // 1000), MAX_TIME_ENTRY_SECONDS)
    entry = log_time(ctx, ticket_id=running.ticket_id, agent_id=agent_id, seconds=seconds,
                     note="timer")
    ctx.emit("timer.stopped", running.ticket_id,
             {"timer": records.to_wire(running), "time_entry": records.to_wire(entry)})
    return {"timer": records.to_wire(running), "time_entry": records.to_wire(entry)}


def _own_entry(ctx: WriteContext, entry_id: int, agent_id: int) -> TimeEntry:
    row = ctx.conn.execute("SELECT * FROM time_entries WHERE id = ?", (entry_id,)).fetchone()
    if row is None:
        raise NotFound(f"time entry {entry_id} does not exist")
    entry = records.time_entry_from_row(row)
    if entry.agent_id != agent_id and not agent_by_id(ctx.conn, agent_id).is_admin:
        raise Forbidden("only its agent (or an admin) may change a time entry")
    return entry


def update_time_entry(ctx: WriteContext, *, entry_id: int, agent_id: int,
                      seconds: int | None = None, note: str | None = None,
                      billable: bool | None = None) -> TimeEntry:
    """Edit an entry: one's own, or any for an admin."""
    entry = _own_entry(ctx, entry_id, agent_id)
    if seconds is not None:
        check_seconds(seconds)
    ctx.conn.execute(
        "UPDATE time_entries SET seconds = coalesce(?, seconds), note = coalesce(?, note),"
        " billable = coalesce(?, billable) WHERE id = ?",
        (seconds, note, None if billable is None else int(billable), entry_id))
    row = ctx.conn.execute("SELECT * FROM time_entries WHERE id = ?", (entry_id,)).fetchone()
    updated = records.time_entry_from_row(row)
    ctx.emit("time.updated", entry.ticket_id, {"time_entry": records.to_wire(updated)})
    return updated


def delete_time_entry(ctx: WriteContext, *, entry_id: int, agent_id: int) -> dict[str, Any]:
    entry = _own_entry(ctx, entry_id, agent_id)
    ctx.conn.execute("DELETE FROM time_entries WHERE id = ?", (entry_id,))
    ctx.emit("time.deleted", entry.ticket_id, {"time_entry": records.to_wire(entry)})
    return {"deleted": entry_id}


def time_of_ticket(conn: Conn, ticket_id: int) -> dict[str, Any]:
    """A ticket's entries, oldest first, with their total and its billable part."""
    rows = conn.execute("SELECT * FROM time_entries WHERE ticket_id = ? ORDER BY id",
                        (ticket_id,))
    entries = [records.time_entry_from_row(row) for row in rows]
    return {"entries": records.to_wire(entries),
            "total_seconds": sum(e.seconds for e in entries),
            "billable_seconds": sum(e.seconds for e in entries if e.billable)}
