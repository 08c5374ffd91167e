"""A ticket list's rows and windows: the filter, the row, the keyset cursor.

Why a module of its own: the plain list (core.queries) and the search
(core.ticket_search) cut windows from the same tickets with the same cursor and
show the same columns; both read them from here.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from core import optout, records
from core.csat_surveys import LATEST_RATING_SQL
from core.dialect import Dialect
from core.models import Ticket, TicketStatus

T = TypeVar("T")

MAX_WINDOW = 500


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One window of a longer list and the cursors to its neighbours."""

    items: tuple[T, ...]
    older: str | None  # pass as ``before`` for the next window down; None at the end
    newer: str | None  # pass as ``after`` for the window above; None at the top


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """Which tickets a view shows. Fields left as None do not filter."""

    status: tuple[TicketStatus, ...] | None = None
    group_id: int | None = None
    agent_id: int | None = None
    unassigned: bool = False
    unread: bool = False
    text: str | None = None
    deleted: bool = False  # True: the Trash, which holds deleted tickets and only those
    # The Overdue view: tickets with a due (first response or resolution) before this instant
    # (epoch ms, the relay's clock when asked); None does not filter.
    overdue_at: int | None = None


@dataclass(frozen=True, slots=True)
class TicketRow:
    """A ticket with what the list shows beside it."""

    ticket: Ticket
    contact_name: str
    contact_phone: str
    contact_opted_out: bool
    # The newest reply's id and status: the list flags a ticket whose last reply failed.
    last_reply_id: int | None = None
    last_reply_status: str | None = None
    # The desk's numbers the ticket's phone is opted out from (a STOP blocks the number it was
    # sent to); ``contact_opted_out`` says it for the ticket's own number.
    contact_opted_out_number_ids: tuple[int, ...] = ()
    # In a search: which readings of the text found it ("number", "name", "phone", "email",
    # "tag", "messages"), so the search box can say why it is there.
    matched: tuple[str, ...] = ()
    # The contact's email address: what names a customer known only by email and no name.
    contact_email: str = ""
    # The ticket's latest CSAT rating (1..5), None when never rated: the list's column.
    csat_rating: int | None = None


class BadCursor(ValueError):
    """A cursor that this store did not hand out."""


def window(limit: int) -> int:
    return max(1, min(int(limit), MAX_WINDOW))


def ticket_cursor(ticket: Ticket) -> str:
    return f"{ticket.last_message_at}.{ticket.id}"


def parse_ticket_cursor(cursor: str) -> tuple[int, int]:
    try:
        at, ticket_id = cursor.split(".")
        return int(at), int(ticket_id)
    except ValueError:
        raise BadCursor(f"not a ticket cursor: {cursor!r}") from None


def ticket_conditions(view: TicketFilter) -> tuple[list[str], list[Any]]:
    where: list[str] = ["t.deleted = 1" if view.deleted else "t.deleted = 0"]
    params: list[Any] = []
    if view.status:
        where.append(f"t.status IN ({', '.join('?' * len(view.status))})")
        params.extend(TicketStatus(s).value for s in view.status)
    if view.group_id is not None:
        where.append("t.group_id = ?")
        params.append(view.group_id)
    if view.unassigned:
        where.append("t.agent_id IS NULL")
    elif view.agent_id is not None:
        where.append("t.agent_id = ?")
        params.append(view.agent_id)
    if view.unread:
        where.append("t.unread = 1")
    if view.overdue_at is not None:  # each side by its partial index (tickets_first_due, _due)
        where.append("(t.first_response_due < ? OR t.resolution_due < ?)")
        params.extend((view.overdue_at, view.overdue_at))
    return where, params


# The newest reply by the partial index ``entries_replies``: one probe per row, however
# long the thread and whether or not it has a reply.
LAST_REPLY_ID = (
    "(SELECT max(e.id) FROM entries e WHERE e.ticket_id = t.id AND e.kind = 'message'"
    " AND e.direction = 'outbound')"
)


@functools.cache
def ticket_columns(dialect: Dialect) -> str:
    """The columns of a list row, over ``tickets t JOIN contacts c`` (the opt-outs' JSON
    aggregate is spelled per backend)."""
    return (
        "t.*, c.name AS contact_name, t.customer_phone AS contact_phone, "
        f"{optout.opted_out_numbers_sql('t.customer_phone', dialect)}"
        " AS contact_opted_out_number_ids, "
        "c.email AS contact_email, "
        f"{LAST_REPLY_ID} AS last_reply_id, "
        f"(SELECT r.status FROM entries r WHERE r.id = {LAST_REPLY_ID}) AS last_reply_status, "
        f"{LATEST_RATING_SQL} AS csat_rating"
    )


def ticket_row(row: sqlite3.Row, matched: tuple[str, ...] = ()) -> TicketRow:
    blocked = sorted(json.loads(row["contact_opted_out_number_ids"] or "[]"))
    return TicketRow(
        ticket=records.ticket_from_row(row),
        contact_name=row["contact_name"],
        contact_phone=row["contact_phone"],
        contact_opted_out=row["number_id"] in blocked,
        contact_opted_out_number_ids=tuple(blocked),
        last_reply_id=row["last_reply_id"],
        last_reply_status=row["last_reply_status"],
        matched=matched,
        contact_email=row["contact_email"] or "",
        csat_rating=row["csat_rating"],
    )
