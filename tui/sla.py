"""A ticket's SLA clock as the inbox shows it: the nearer due, whether it passed, in words.

The relay sends each ticket's dues (``first_response_due`` while unanswered,
``resolution_due`` while open) and an ``overdue`` flag as of when it read the row; the
inbox keeps comparing the dues with its own clock as time goes on, so a row turns
overdue on screen without waiting for the next event. Pure functions over the wire
dicts (no Textual): the list, the model's Overdue view and the toasts share them.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
_WEEK = 7 * DAY
WHICH_WORDS = {"first_response": "first response", "resolution": "resolution"}


def nearer_due(ticket: dict[str, Any]) -> tuple[str, int] | None:
    """Which due the list shows and when: the first response while unanswered, else the
    resolution; None when neither clock runs (answered and paused, resolved, no targets)."""
    first = ticket.get("first_response_due")
    if first is not None:
        return "first_response", int(first)
    resolution = ticket.get("resolution_due")
    if resolution is not None:
        return "resolution", int(resolution)
    return None


def is_overdue(ticket: dict[str, Any], now: int) -> bool:
    """Whether a due has passed: as the relay said when it read the ticket, or by now."""
    if ticket.get("overdue"):
        return True
    return any(due is not None and due < now
               for due in (ticket.get("first_response_due"), ticket.get("resolution_due")))


def span(ms: int) -> str:
    """A length of time in at most two units: "25m", "3h 20m", "2d 4h"."""
    minutes = max(1, ms // MINUTE)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def _clock_time(moment: datetime) -> str:
    return f"{moment.hour}:{moment:%M}"


def due_words(due: int, now: int, zone: tzinfo | None = None) -> str:
    """At most 13 cells: "due 14:30" today, "due Mon 9:00" within the week, "due Dec 28"
    later; once passed, how long ago: "3h 20m over"."""
    if due <= now:
        return f"{span(now - due)} over"
    then = datetime.fromtimestamp(due / 1000, tz=zone)
    today = datetime.fromtimestamp(now / 1000, tz=zone)
    if then.date() == today.date():
        return f"due {_clock_time(then)}"
    if due - now < _WEEK - DAY:
        return f"due {then:%a} {_clock_time(then)}"
    return f"due {then:%b} {then.day}"


def toast_words(kind: str, payload: dict[str, Any]) -> str:
    """What the assigned agent is told: "⏰ #90 'Refund' — first response due in 25 min",
    "⚠ #90 'Refund' — resolution overdue"."""
    subject = str(payload.get("subject") or "").strip()
    if len(subject) > 40:
        subject = subject[:39] + "…"
    named = f"#{payload.get('ticket_id')}" + (f" '{subject}'" if subject else "")
    which = WHICH_WORDS.get(str(payload.get("which")), str(payload.get("which") or "a due"))
    if kind == "sla.breached":
        return f"⚠ {named} — {which} overdue"
    left = int(payload.get("in_ms") or 0)
    ahead = f"{max(1, round(left / MINUTE))} min" if left < HOUR else span(left)
    return f"⏰ {named} — {which} due in {ahead}"
