"""SLA clocks: when a ticket's first response and resolution are due, in business hours.

Targets are business time per priority (a 4h target on a 09:00-17:00 desk opened at
16:00 is due at 11:00 the next working day). A ticket's clock is a few facts kept on its
row: when it was created, whether an agent has answered, the business time already used
towards resolution (`sla_used`) and when the running clock last started (`sla_since`,
None while paused or stopped). Pending (waiting on the customer) pauses the resolution
clock; open again resumes it from what was left; resolved or closed stops it. A change of
priority recomputes both dues from the new targets minus the time used.

Pure: no I/O. core/sla_writes.py keeps the facts on the row; this module says what they mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from core.business_hours import Calendar, add_business_ms, business_ms_between
from core.durations import BadDuration, format_span, parse_duration
from core.models import Priority, TicketStatus

NEARING_WITHIN_MS = 30 * 60_000  # "nearing breach": within 30 minutes of the due...
NEARING_SHARE = 0.10  # ...or within 10 % of the target, whichever is longer


@dataclass(frozen=True, slots=True)
class Target:
    """One priority's targets, in business ms; None: no target."""

    first_response: int | None = None
    resolution: int | None = None


Targets = Mapping[Priority, Target]
NO_TARGET = Target()


@dataclass(frozen=True, slots=True)
class Clock:
    """What a ticket's SLA clock is made of (its row's columns)."""

    created_at: int
    status: TicketStatus
    priority: Priority
    first_responded_at: int | None = None
    sla_used: int = 0  # business ms counted towards resolution before `sla_since`
    sla_since: int | None = None  # the running resolution clock's start; None: not running


@dataclass(frozen=True, slots=True)
class Dues:
    first_response_due: int | None
    resolution_due: int | None

    def nearer(self) -> int | None:
        """What the list shows: the first response due while unanswered, else resolution."""
        return self.first_response_due if self.first_response_due is not None \
            else self.resolution_due

    def overdue(self, now: int) -> bool:
        return any(due is not None and due < now
                   for due in (self.first_response_due, self.resolution_due))


def runs(status: TicketStatus) -> bool:
    """The resolution clock runs only while the ticket is open."""
    return status is TicketStatus.OPEN


def stopped(status: TicketStatus) -> bool:
    """Resolved or closed: no clock, nothing due."""
    return status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)


def started(created_at: int, status: TicketStatus, priority: Priority) -> Clock:
    """A new ticket's clock: running from its creation when it opens open."""
    return Clock(created_at=created_at, status=status, priority=priority,
                 sla_since=created_at if runs(status) else None)


def moved(clock: Clock, status: TicketStatus, calendar: Calendar | None, now: int) -> Clock:
    """The clock after the ticket's status becomes `status` at `now`: pausing adds the business
    time since the clock started to what was used; resuming starts it again from `now`."""
    used, since = clock.sla_used, clock.sla_since
    if since is not None and not runs(status):
        used += business_ms_between(calendar, since, now)
        since = None
    elif since is None and runs(status):
        since = now
    return replace(clock, status=status, sla_used=used, sla_since=since)


def answered(clock: Clock, now: int) -> Clock:
    """The first agent reply: the first response target is met (once; later replies change
    nothing)."""
    if clock.first_responded_at is not None:
        return clock
    return replace(clock, first_responded_at=now)


def dues(clock: Clock, targets: Targets, calendar: Calendar | None, now: int) -> Dues:
    """When the ticket's first response and resolution are due (epoch ms), or None.

    First response: from creation, while no agent has answered and the ticket is not
    resolved or closed. Resolution: while the clock runs, the instant the target's remaining
    business time elapses from `sla_since` (a clock used up before a pause is due when it
    resumed: overdue at once). `now` stands in for a running clock's missing start.
    """
    target = targets.get(clock.priority, NO_TARGET)
    first = None
    if target.first_response is not None and clock.first_responded_at is None \
            and not stopped(clock.status):
        first = add_business_ms(calendar, clock.created_at, target.first_response)
    resolution = None
    if target.resolution is not None and runs(clock.status):
        since = clock.sla_since if clock.sla_since is not None else now
        resolution = add_business_ms(calendar, since, target.resolution - clock.sla_used)
    return Dues(first_response_due=first, resolution_due=resolution)


def nearing_from(due: int, target_ms: int) -> int:
    """The instant a due counts as nearing breach: 30 minutes or 10 % of the target before it,
    whichever is earlier."""
    return due - max(NEARING_WITHIN_MS, round(target_ms * NEARING_SHARE))


# ----------------------------------------------------------------- targets as typed


def target_from_text(text: str | None) -> int | None:
    """An admin's typed target ("4h", "1d 2h", "90" minutes) as ms; "" or None: no target.

    Raises BadDuration saying what to type."""
    if text is None or not str(text).strip() or str(text).strip() == "-":
        return None
    return parse_duration(str(text)) * 1000


def target_in_words(target_ms: int | None) -> str:
    """ "1d 2h", "4h", "" for no target: what the admin form shows and reads back."""
    return "" if target_ms is None else format_span(target_ms // 1000)


__all__ = ["BadDuration", "Clock", "Dues", "Target", "Targets", "answered", "dues", "moved",
           "nearing_from", "started", "target_from_text", "target_in_words"]
