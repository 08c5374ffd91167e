"""The Trash: deleting tickets, restoring them as they were, and purging them for good.

Deleting only flips a flag (and notes when), so a restore brings a ticket back
with its status, agent, group, tags and thread untouched. Purging removes
everything the ticket held: its messages and notes (and with them their
full-text entries and media references), its time entries, and the ticket
itself; the event log keeps its sequence (clients resume by it) but loses
the purged tickets' words, and so do the remembered command results that spoke of
them, so no body outlives the purge there either. Their media files go after the
commit (server/media_sweep.py), once nothing else names them.
"""

from __future__ import annotations

from collections.abc import Iterable

from core import records
from core.db import Conn
from core.writes import StoreError, WriteContext, ticket_by_id

RETENTION_SETTING = "trash_retention_days"
DAY_MS = 86_400_000
MAX_RETENTION_DAYS = 3650
MAX_TICKETS_PER_COMMAND = 1000
# Replies the outbox still holds: their ticket waits in the Trash until Twilio has them.
_IN_FLIGHT = ("queued", "sending")
_PURGED_PAYLOAD = '{"purged":true}'
#: What a remembered command result becomes once a ticket it spoke of is purged.
PURGED_RESULT = '{"purged_ticket":true}'


def _distinct(ticket_ids: Iterable[int]) -> list[int]:
    ids = sorted(set(ticket_ids))
    if not ids:
        raise StoreError("name at least one ticket")
    if len(ids) > MAX_TICKETS_PER_COMMAND:
        raise StoreError(f"at most {MAX_TICKETS_PER_COMMAND} tickets at once")
    return ids


def delete_tickets(ctx: WriteContext, ticket_ids: Iterable[int],
                   by: int | None = None) -> list[int]:
    """Move tickets to the Trash (``by``: the agent, shown there); return those that moved
    (already there: left as they are)."""
    return _set_deleted(ctx, _distinct(ticket_ids), deleted=True, by=by)


def restore_tickets(ctx: WriteContext, ticket_ids: Iterable[int]) -> list[int]:
    """Bring tickets back from the Trash exactly as they were deleted."""
    return _set_deleted(ctx, _distinct(ticket_ids), deleted=False)


def _set_deleted(ctx: WriteContext, ids: list[int], *, deleted: bool,
                 by: int | None = None) -> list[int]:
    tickets = [ticket_by_id(ctx.conn, ticket_id) for ticket_id in ids]  # all exist, or none move
    moved = [ticket.id for ticket in tickets if ticket.deleted != deleted]
    for ticket_id in moved:
        # Only the flag, when and by whom: status, agent, tags, unread and updated_at stay.
        ctx.conn.execute(
            "UPDATE tickets SET deleted = ?, deleted_at = ?, deleted_by = ? WHERE id = ?",
            (int(deleted), ctx.now if deleted else None, by if deleted else None, ticket_id))
        ticket = ticket_by_id(ctx.conn, ticket_id)
        ctx.emit("ticket.updated", ticket_id,
                 {"ticket": records.to_wire(ticket), "changed": ["deleted"]})
    return moved


def empty_trash(ctx: WriteContext) -> list[int]:
    """Purge every ticket in the Trash (an admin's decision, confirmed in the inbox)."""
    return _purge(ctx, _trash_where(ctx.conn, "1 = 1"))


def purge_expired(ctx: WriteContext, *, now: int | None = None) -> list[int]:
    """Purge the tickets kept in the Trash longer than the admin's retention (if one is set)."""
    days = retention_days(ctx.conn)
    if days is None:
        return []
    cutoff = (ctx.now if now is None else now) - days * DAY_MS
    return _purge(ctx, _trash_where(ctx.conn, "deleted_at <= ?", cutoff))


def _trash_where(conn: Conn, condition: str, *params: int) -> list[int]:
    rows = conn.execute(
        f"SELECT id FROM tickets WHERE deleted = 1 AND {condition} AND NOT EXISTS"
        " (SELECT 1 FROM entries e WHERE e.ticket_id = tickets.id AND e.kind = 'message'"
        f" AND e.status IN ({', '.join('?' * len(_IN_FLIGHT))})) ORDER BY id",
        (*params, *_IN_FLIGHT),
    )
    return [row[0] for row in rows]


def _purge(ctx: WriteContext, ids: list[int]) -> list[int]:
    """Remove the tickets and all they hold, in this one transaction; no orphan is left."""
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    conn = ctx.conn
    # A survey names its text (an entry), so it goes first.
    conn.execute(f"DELETE FROM csat_surveys WHERE ticket_id IN ({marks})", ids)
    # The FTS delete trigger takes each entry out of the index as it goes.
    conn.execute(f"DELETE FROM entries WHERE ticket_id IN ({marks})", ids)
    conn.execute(f"DELETE FROM time_entries WHERE ticket_id IN ({marks})", ids)
    conn.execute(f"DELETE FROM running_timers WHERE ticket_id IN ({marks})", ids)
    conn.execute(f"DELETE FROM bot_sessions WHERE ticket_id IN ({marks})", ids)
    conn.execute(f"UPDATE events SET payload = ? WHERE ticket_id IN ({marks})",
                 (_PURGED_PAYLOAD, *ids))
    _scrub_results(conn, ids, marks)
    conn.execute(f"DELETE FROM tickets WHERE id IN ({marks})", ids)
    ctx.emit("tickets.purged", None, {"ticket_ids": ids})
    return ids


def _scrub_results(conn: Conn, ids: list[int], marks: str) -> None:
    """Remembered answers about the purged tickets lose their words but stay remembered:
    a command resent under the same id is told its ticket was purged, never redone (a
    dropped record would let a resent start_conversation open the ticket again)."""
    conn.execute(
        "UPDATE command_results SET result = ? WHERE (agent_id, command_id) IN"
        " (SELECT agent_id, command_id FROM command_result_tickets"
        f" WHERE ticket_id IN ({marks}))", (PURGED_RESULT, *ids))
    conn.execute(f"DELETE FROM command_result_tickets WHERE ticket_id IN ({marks})", ids)


def retention_days(conn: Conn) -> int | None:
    """Days a ticket stays in the Trash before the relay purges it; None: kept until emptied."""
    row = conn.execute("SELECT value FROM settings WHERE key = ?",
                       (RETENTION_SETTING,)).fetchone()
    return int(row[0]) if row is not None and row[0].isdigit() else None


def set_retention(ctx: WriteContext, days: int | None) -> int | None:
    if days is not None and not 1 <= days <= MAX_RETENTION_DAYS:
        raise StoreError(f"keep tickets in the Trash for 1 to {MAX_RETENTION_DAYS} days, "
                         "or until emptied")
    if days is None:
        ctx.conn.execute("DELETE FROM settings WHERE key = ?", (RETENTION_SETTING,))
    else:
        ctx.conn.execute(
            "INSERT INTO settings(key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (RETENTION_SETTING, str(days)))
    ctx.emit("trash.retention_set", None, {"days": days})
    return days
