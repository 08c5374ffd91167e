"""Ticket rules: where an inbound text goes, and how a message's status moves.

Pure decisions the store applies inside its transactions, so they are tested
on their own without a database.
"""

from __future__ import annotations

from enum import Enum

from core.models import MessageStatus, Ticket, TicketStatus


class Routing(Enum):
    """What an inbound message does to the contact's tickets on a number."""

    APPEND = "append"  # the latest ticket is open or pending: add to it
    REOPEN = "reopen"  # the latest ticket is resolved: add to it and open it again
    NEW = "new"  # none yet, or closed, or deleted: start a new ticket


def route_inbound(latest: Ticket | None) -> Routing:
    """Apply the threading rule to C's latest ticket on number N.

    A resolved ticket means "we think we're done"; the customer writing back
    says otherwise, so it reopens. A closed ticket is final: a new
    conversation starts, and so does one after a deletion.
    """
    if latest is None or latest.deleted or latest.status is TicketStatus.CLOSED:
        return Routing.NEW
    if latest.status is TicketStatus.RESOLVED:
        return Routing.REOPEN
    return Routing.APPEND


def status_after_customer_text(status: TicketStatus) -> TicketStatus:
    """A customer writing back needs an agent again: pending and resolved become open.

    Pending means "waiting on the customer"; once they answer, the wait is
    over, as in Freshdesk.
    """
    if status in (TicketStatus.PENDING, TicketStatus.RESOLVED):
        return TicketStatus.OPEN
    return status


# Twilio sends status callbacks in no guaranteed order; a late "sent" must not
# overwrite "delivered". Each status has a rank; a change is applied only when
# it moves the rank forward. The final outcomes share a rank: Twilio can report
# "undelivered" after "delivered" has been reported for some carriers, and the
# later verdict wins only when it is a different final outcome.
_STATUS_RANK: dict[MessageStatus, int] = {
    MessageStatus.SCHEDULED: 0,
    MessageStatus.ACCEPTED: 0,
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.UNDELIVERED: 3,
    MessageStatus.FAILED: 3,
    MessageStatus.CANCELED: 3,
    MessageStatus.PARTIALLY_DELIVERED: 3,
    MessageStatus.READ: 4,
    MessageStatus.RECEIVING: 4,
    MessageStatus.RECEIVED: 4,
}


def status_moves_forward(current: MessageStatus, new: MessageStatus) -> bool:
    """True when a status callback reporting ``new`` should replace ``current``."""
    if current is new:
        return False
    rank_now, rank_new = _STATUS_RANK[current], _STATUS_RANK[new]
    if rank_new > rank_now:
        return True
    # Among final outcomes only a failure report replaces a success, never the
    # other way round: a message reported undelivered was not delivered.
    return (
        rank_new == rank_now == 3
        and current is MessageStatus.DELIVERED
        and new in (MessageStatus.UNDELIVERED, MessageStatus.FAILED)
    )


def is_final(status: MessageStatus) -> bool:
    return _STATUS_RANK[status] >= 3


def subject_from_body(body: str, limit: int = 60) -> str:
    """A ticket's first subject: the start of the customer's first text."""
    line = " ".join(body.split())
    if not line:
        return "(no text)"
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def preview_of(body: str, media_count: int = 0, limit: int = 120) -> str:
    """One line for the ticket list: the text, or what was attached."""
    line = " ".join(body.split())
    if not line and media_count:
        line = f"[{media_count} attachment{'s' if media_count != 1 else ''}]"
    return line[:limit]
