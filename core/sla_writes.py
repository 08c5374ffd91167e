"""SLA targets and the clock on each ticket's row, kept by the writes that move it.

The clock is not worked out later from the thread: each write that moves it (a ticket
created, the first agent reply, a change of status or priority) calls one function
here inside its own transaction, so the dues on the row are always those core.sla says
for the ticket as it now stands, and the list can sort and filter on them.

Targets are per priority, in business ms of the ticket's calendar (its number's hours,
else its group's, else 24x7). A change of targets applies to each ticket from its next
move (creation, first reply, status or priority change); the dues already on rows stand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from core import report_counts, sla
from core.business_hours import Calendar, business_ms_between
from core.db import Conn
from core.models import Priority, Ticket

if TYPE_CHECKING:
    from core.writes import WriteContext

PRIORITIES = tuple(Priority)


def targets(conn: Conn) -> dict[Priority, sla.Target]:
    """Every priority's targets (a priority never set has none)."""
    found = {Priority(row[0]): sla.Target(first_response=row[1], resolution=row[2])
             for row in conn.execute(
                 "SELECT priority, first_response, resolution FROM sla_targets")}
    return {priority: found.get(priority, sla.NO_TARGET) for priority in PRIORITIES}


def targets_to_wire(found: Mapping[Priority, sla.Target]) -> list[dict[str, Any]]:
    """One row per priority, lowest first: ms and the words the admin form shows."""
    return [{"priority": priority.value,
             "first_response": target.first_response,
             "resolution": target.resolution,
             "first_response_text": sla.target_in_words(target.first_response),
             "resolution_text": sla.target_in_words(target.resolution)}
            for priority, target in ((p, found.get(p, sla.NO_TARGET)) for p in PRIORITIES)]


def save_targets(ctx: WriteContext, changes: Mapping[Priority, sla.Target]
                 ) -> dict[Priority, sla.Target]:
    """Set the targets of the priorities named (a target of None: none); tell every admin
    screen with ``sla.targets_saved``."""
    for priority, target in changes.items():
        ctx.conn.execute(
            "INSERT INTO sla_targets(priority, first_response, resolution, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (priority) DO UPDATE SET"
            " first_response = excluded.first_response, resolution = excluded.resolution,"
            " updated_at = excluded.updated_at",
            (Priority(priority).value, target.first_response, target.resolution, ctx.now))
    saved = targets(ctx.conn)
    ctx.emit("sla.targets_saved", None, {"targets": targets_to_wire(saved)})
    return saved


# --- the clock on a ticket's row ----------------------------------------------------------


def start(ctx: WriteContext, ticket: Ticket) -> None:
    """A ticket just created: its clocks start from its creation. Sets the row and
    ``ticket``'s fields (the caller's event carries them)."""
    _keep(ctx, ticket, sla.started(ticket.created_at, ticket.status, ticket.priority))


def first_reply(ctx: WriteContext, ticket: Ticket, channel: str = "sms") -> None:
    """An agent replied: the first response is met, once (a later reply costs nothing).
    ``channel``: the reply's, under which the reports count it."""
    if ticket.first_responded_at is not None:
        return
    ticket.first_responded_at = ctx.now
    ticket.first_response_due = None
    ctx.conn.execute("UPDATE tickets SET first_responded_at = ?, first_response_due = NULL"
                     " WHERE id = ?", (ctx.now, ticket.id))
    waited = business_ms_between(_calendar(ctx.conn, ticket), ticket.created_at, ctx.now)
    report_counts.first_response(ctx, ticket, waited,
                                 targets(ctx.conn)[ticket.priority].first_response, channel)


def follow(ctx: WriteContext, ticket: Ticket) -> None:
    """The ticket's status or priority may have changed: pause, resume or stop its clock to
    match its status now, and recompute both dues (from its priority's targets less the
    time used). Safe to call again: a clock already matching its status stays as it is."""
    _keep(ctx, ticket, _clock_of(ticket))


def _clock_of(ticket: Ticket) -> sla.Clock:
    return sla.Clock(created_at=ticket.created_at, status=ticket.status,
                     priority=ticket.priority, first_responded_at=ticket.first_responded_at,
                     sla_used=ticket.sla_used, sla_since=ticket.sla_since)


def _keep(ctx: WriteContext, ticket: Ticket, clock: sla.Clock) -> None:
    """Write the clock and dues ``clock`` means for the ticket as it stands now (only
    what changed; the ticket's own fields too). The calendar is read only when it counts:
    a target to reach, or business time to add up as the clock pauses."""
    target = targets(ctx.conn)[ticket.priority]
    pausing = clock.sla_since is not None and not sla.runs(ticket.status)
    calendar = _calendar(ctx.conn, ticket) if target != sla.NO_TARGET or pausing else None
    moved = sla.moved(clock, ticket.status, calendar, ctx.now)
    dues = sla.dues(moved, {ticket.priority: target}, calendar, ctx.now)
    resolved_at = ticket.resolved_at
    if not sla.stopped(ticket.status):
        resolved_at = None  # open or pending again: no longer resolved
    elif resolved_at is None:  # resolved (or closed) now: the reports count it
        resolved_at = ctx.now
        report_counts.resolved(ctx, ticket, moved.sla_used, target.resolution)
    values = {"first_response_due": dues.first_response_due,
              "resolution_due": dues.resolution_due, "resolved_at": resolved_at,
              "sla_used": moved.sla_used, "sla_since": moved.sla_since}
    if all(getattr(ticket, name) == value for name, value in values.items()):
        return
    for name, value in values.items():
        setattr(ticket, name, value)
    ticket.overdue = dues.overdue(ctx.now)
    ctx.conn.execute(
        "UPDATE tickets SET first_response_due = ?, resolution_due = ?, resolved_at = ?,"
        " sla_used = ?, sla_since = ? WHERE id = ?", (*values.values(), ticket.id))


def _calendar(conn: Conn, ticket: Ticket) -> Calendar | None:
    # Imported here: core.bot_store builds on core.writes, which calls this module.
    from core.bot_store import calendar_for_ticket

    return calendar_for_ticket(conn, ticket.number_id, ticket.group_id)

