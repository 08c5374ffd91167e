"""The store's read queries: keyset-paginated windows, full-text search, replay.

Every list is walked with a cursor (the sort key of the last row seen), never
OFFSET, so the 2,000th window of 100,000 tickets costs what the first does.
Functions take a sqlite3 connection and run in a reader's thread.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, replace
from typing import Any

from core import optout, records
from core.csat_surveys import LATEST_RATING_SQL
from core.db import Conn
from core.dialect import dialect_of
from core.fts import fts_query
from core.models import (
    Account,
    Agent,
    Contact,
    Event,
    Group,
    Message,
    Note,
    OptOutChange,
    PhoneNumber,
    Ticket,
    TimeEntry,
)
from core.ticket_rows import (
    BadCursor,
    Page,
    TicketFilter,
    TicketRow,
    parse_ticket_cursor,
    ticket_columns,
    ticket_conditions,
    ticket_cursor,
    ticket_row,
    window,
)
from core.ticket_search import count_found, search_tickets

__all__ = ["BadCursor", "Page", "TicketFilter", "TicketRow", "fts_query"]

#: The default view: every ticket not in the Trash.
EVERY_TICKET = TicketFilter()


@dataclass(frozen=True, slots=True)
class SearchHit:
    entry: Message | Note
    ticket_id: int


def list_tickets(
    conn: Conn,
    view: TicketFilter = EVERY_TICKET,
    *,
    before: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> Page[TicketRow]:
    """A window of tickets, most recent activity first.

    ``before`` walks down (older), ``after`` walks up (newer); with neither,
    the window starts at the top.
    """
    limit = window(limit)
    if view.text and view.text.strip():
        if after is not None:
            raise BadCursor("search results page downward only; keep the windows you have seen")
        return search_tickets(conn, view, before=before, limit=limit)
    ascending = after is not None and before is None
    keyset: list[str] = []
    bounds: list[Any] = []
    if before is not None:
        keyset.append("(t.last_message_at, t.id) < (?, ?)")
        bounds.extend(parse_ticket_cursor(before))
    elif after is not None:
        keyset.append("(t.last_message_at, t.id) > (?, ?)")
        bounds.extend(parse_ticket_cursor(after))
    order = "ASC" if ascending else "DESC"
    # With ``status IN (open, pending)`` SQLite reads every matching ticket and
    # sorts them (66 ms at 100,000 open tickets). One ordered index walk per
    # status, each stopped at the window, then a merge of those few rows, costs
    # a window's worth whatever the desk's size.
    views = [replace(view, status=(status,)) for status in view.status or ()] \
        if view.status and len(view.status) > 1 else [view]
    selects, values = [], []
    for one in views:
        where, params = ticket_conditions(one)
        selects.append(
            f"SELECT * FROM (SELECT {ticket_columns(dialect_of(conn))} FROM tickets t"
            f" JOIN contacts c ON c.id = t.contact_id WHERE {' AND '.join(where + keyset)}"
            f" ORDER BY t.last_message_at {order}, t.id {order} LIMIT ?) AS page"
        )
        values += [*params, *bounds, limit + 1]
    sql = " UNION ALL ".join(selects) + f" ORDER BY last_message_at {order}, id {order} LIMIT ?"
    rows = conn.execute(sql, (*values, limit + 1)).fetchall()
    more = len(rows) > limit
    items = [ticket_row(row) for row in rows[:limit]]
    if ascending:
        items.reverse()
    if not items:
        return Page((), None, None)
    first, last = ticket_cursor(items[0].ticket), ticket_cursor(items[-1].ticket)
    if ascending:
        return Page(tuple(items), older=last, newer=first if more else None)
    return Page(
        tuple(items),
        older=last if more else None,
        newer=first if before is not None else None,
    )


def count_tickets(conn: Conn, view: TicketFilter = EVERY_TICKET) -> int:
    """How many tickets a view holds (for the list's scrollbar and counters)."""
    if view.text and view.text.strip():
        return count_found(conn, view)
    where, params = ticket_conditions(view)
    sql = f"SELECT count(*) FROM tickets t WHERE {' AND '.join(where)}"
    return conn.execute(sql, params).fetchone()[0]


# --- a contact's tickets --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactTicket:
    """One of a person's tickets, with the business number it came through and the numbers
    its phone is opted out from (so a reply opened from here is judged as from the list)."""

    ticket: Ticket
    number_e164: str
    opted_out_number_ids: tuple[int, ...] = ()
    csat_rating: int | None = None  # the ticket's latest CSAT rating; None: never rated


def contact_tickets(
    conn: Conn, contact_id: int, *, before: str | None = None, limit: int = 50
) -> Page[ContactTicket]:
    """Every ticket of a contact, newest first, closed and deleted ones included.

    A person has few tickets; the tickets_of_contact index finds them all and the
    window is cut from them by the same keyset the ticket list uses.
    """
    limit = window(limit)
    keyset, bounds = "", ()
    if before is not None:
        keyset, bounds = " AND (t.last_message_at, t.id) < (?, ?)", parse_ticket_cursor(before)
    rows = conn.execute(
        "SELECT t.*, n.e164 AS number_e164,"
        f" {optout.opted_out_numbers_sql('t.customer_phone', dialect_of(conn))}"
        f" AS opted_out_number_ids, {LATEST_RATING_SQL} AS csat_rating"
        " FROM tickets t JOIN phone_numbers n ON n.id = t.number_id"
        f" WHERE t.contact_id = ?{keyset} ORDER BY t.last_message_at DESC, t.id DESC LIMIT ?",
        (contact_id, *bounds, limit + 1),
    ).fetchall()
    items = [ContactTicket(records.ticket_from_row(row), row["number_e164"],
                           tuple(sorted(json.loads(row["opted_out_number_ids"]))),
                           row["csat_rating"])
             for row in rows[:limit]]
    older = ticket_cursor(items[-1].ticket) if len(rows) > limit else None
    return Page(tuple(items), older=older, newer=None)


# --- threads --------------------------------------------------------------------------


def thread(
    conn: Conn,
    ticket_id: int,
    *,
    before: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> Page[Message | Note]:
    """A window of a ticket's messages and notes, oldest at the top.

    With no cursor it is the newest window, the one an agent opens a ticket
    to; ``before`` pages up into history, ``after`` down towards the present.
    """
    limit = window(limit)
    try:
        anchor = int(before if before is not None else after) if (before or after) else None
    except ValueError:
        raise BadCursor(f"not a thread cursor: {before or after!r}") from None
    if after is not None and before is None:
        rows = conn.execute(
            "SELECT * FROM entries WHERE ticket_id = ? AND id > ? ORDER BY id ASC LIMIT ?",
            (ticket_id, anchor, limit + 1),
        ).fetchall()
        more = len(rows) > limit
        items = [records.entry_from_row(r) for r in rows[:limit]]
        if not items:
            return Page((), None, None)
        return Page(tuple(items), older=str(items[0].id),
                    newer=str(items[-1].id) if more else None)
    sql = "SELECT * FROM entries WHERE ticket_id = ?"
    params: list[Any] = [ticket_id]
    if anchor is not None:
        sql += " AND id < ?"
        params.append(anchor)
    rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*params, limit + 1)).fetchall()
    more = len(rows) > limit
    items = [records.entry_from_row(r) for r in reversed(rows[:limit])]
    if not items:
        return Page((), None, None)
    return Page(tuple(items), older=str(items[0].id) if more else None,
                newer=str(items[-1].id) if anchor is not None else None)


# --- search ---------------------------------------------------------------------------

def search(
    conn: Conn, text: str, *, before: int | None = None, limit: int = 50
) -> list[SearchHit]:
    """Messages and notes matching ``text``, newest first."""
    dialect = dialect_of(conn)
    query = dialect.fts_query(text)
    if query is None:
        return []
    # The index's walk, newest first, stopped at the window; then the window's rows.
    ids = [entry_id for entry_id, _ in
           itertools.islice(dialect.newest_matches(conn, query, before), window(limit))]
    if not ids:
        return []
    rows = {row["id"]: row for row in conn.execute(
        f"SELECT * FROM entries WHERE id IN ({', '.join('?' * len(ids))})", ids)}
    return [SearchHit(entry=records.entry_from_row(rows[i]), ticket_id=rows[i]["ticket_id"])
            for i in ids if i in rows]


# --- the event log --------------------------------------------------------------------


def events_after(conn: Conn, seq: int, *, limit: int = 1000) -> list[Event]:
    """Events a client has not seen yet, in order, for replay on reconnect."""
    rows = conn.execute(
        "SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
    ).fetchall()
    return [records.event_from_row(row) for row in rows]


def latest_seq(conn: Conn) -> int:
    return conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]


# --- lookups --------------------------------------------------------------------------


def ticket(conn: Conn, ticket_id: int) -> Ticket | None:
    row = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    return records.ticket_from_row(row) if row else None


def contact(conn: Conn, contact_id: int) -> Contact | None:
    row = conn.execute("SELECT * FROM contacts WHERE id = ?", (contact_id,)).fetchone()
    return records.contact_from_row(row) if row else None


def contact_by_phone(conn: Conn, phone: str) -> Contact | None:
    """The contact any of whose phones is ``phone``."""
    row = conn.execute("SELECT c.* FROM contact_phones p JOIN contacts c ON c.id = p.contact_id"
                       " WHERE p.e164 = ?", (phone,)).fetchone()
    return records.contact_from_row(row) if row else None


def opt_out_history(conn: Conn, contact_id: int) -> list[OptOutChange]:
    rows = conn.execute(
        "SELECT * FROM opt_out_changes WHERE contact_id = ? ORDER BY id", (contact_id,)
    )
    return [records.opt_out_change_from_row(row) for row in rows]


def message_by_sid(conn: Conn, sid: str) -> Message | None:
    row = conn.execute("SELECT * FROM entries WHERE twilio_sid = ?", (sid,)).fetchone()
    entry = records.entry_from_row(row) if row else None
    return entry if isinstance(entry, Message) else None


def entry(conn: Conn, entry_id: int) -> Message | Note | None:
    row = conn.execute("SELECT * FROM entries WHERE id = ?", (entry_id,)).fetchone()
    return records.entry_from_row(row) if row else None


def outbox(conn: Conn) -> list[Message]:
    """Replies not yet handed to Twilio, or whose hand-over is in doubt, oldest first.

    Never an email: those are the mail outbox's (``email_outbox``).
    """
    rows = conn.execute(
        "SELECT * FROM entries WHERE status IN ('queued', 'sending') AND kind = 'message'"
        " AND direction = 'outbound' AND twilio_sid IS NULL AND channel <> 'email' ORDER BY id"
    )
    return [m for m in map(records.entry_from_row, rows) if isinstance(m, Message)]


# --- email ----------------------------------------------------------------------------

# A References header can name a long thread; its newest ids (last) are the ones that count.
MAX_MAIL_IDS = 100


def email_outbox(conn: Conn) -> list[Message]:
    """Email replies not yet handed to the mail server, or whose hand-over is in doubt
    (``sending``: reconciled by Message-ID), oldest first."""
    rows = conn.execute(
        "SELECT * FROM entries WHERE status IN ('queued', 'sending') AND kind = 'message'"
        " AND direction = 'outbound' AND channel = 'email' ORDER BY id"
    )
    return [m for m in map(records.entry_from_row, rows) if isinstance(m, Message)]


def message_by_mail_id(conn: Conn, mail_id: str) -> Message | None:
    """The email with this Message-ID (angle brackets kept), either direction."""
    row = conn.execute("SELECT * FROM entries WHERE mail_id = ?", (mail_id,)).fetchone()
    entry = records.entry_from_row(row) if row else None
    return entry if isinstance(entry, Message) else None


def ticket_of_mail_ids(conn: Conn, mail_ids: list[str] | tuple[str, ...]
                       ) -> int | None:
    """The ticket a reply belongs to by its In-Reply-To/References: the ticket of the
    newest stored email among ``mail_ids``; None when none of them is ours."""
    wanted = list(dict.fromkeys(m for m in mail_ids if m))[-MAX_MAIL_IDS:]
    if not wanted:
        return None
    row = conn.execute(
        f"SELECT ticket_id FROM entries WHERE mail_id IN ({', '.join('?' * len(wanted))})"
        " ORDER BY id DESC LIMIT 1", wanted).fetchone()
    return int(row[0]) if row else None


def contact_email_of_ticket(conn: Conn, ticket_id: int) -> str | None:
    """The email address of a ticket's contact; None for no ticket or no address."""
    row = conn.execute("SELECT c.email FROM tickets t JOIN contacts c ON c.id = t.contact_id"
                       " WHERE t.id = ?", (ticket_id,)).fetchone()
    return str(row[0]) if row and row[0] else None


def contact_by_email(conn: Conn, email: str) -> Contact | None:
    """The contact with this address, case folded (the oldest when several share it)."""
    if not email.strip():
        return None
    row = conn.execute("SELECT * FROM contacts WHERE email = ? COLLATE NOCASE AND email != ''"
                       " ORDER BY id LIMIT 1", (email.strip(),)).fetchone()
    return records.contact_from_row(row) if row else None


def thread_mail_ids(conn: Conn, ticket_id: int, *, limit: int = 20) -> list[str]:
    """The Message-IDs of a ticket's emails, oldest first (the newest ``limit``): what a
    reply's In-Reply-To (the last) and References name."""
    rows = conn.execute(
        "SELECT mail_id FROM entries WHERE ticket_id = ? AND mail_id IS NOT NULL"
        " ORDER BY id DESC LIMIT ?", (ticket_id, limit)).fetchall()
    return [str(r[0]) for r in reversed(rows)]


def accounts(conn: Conn) -> list[Account]:
    return [records.account_from_row(r) for r in conn.execute("SELECT * FROM accounts ORDER BY id")]


def account_by_sid(conn: Conn, sid: str) -> Account | None:
    row = conn.execute("SELECT * FROM accounts WHERE sid = ?", (sid,)).fetchone()
    return records.account_from_row(row) if row else None


def numbers(conn: Conn, account_id: int | None = None) -> list[PhoneNumber]:
    if account_id is None:
        rows = conn.execute("SELECT * FROM phone_numbers ORDER BY id")
    else:
        rows = conn.execute(
            "SELECT * FROM phone_numbers WHERE account_id = ? ORDER BY id", (account_id,)
        )
    return [records.number_from_row(r) for r in rows]


def number_by_e164(conn: Conn, e164: str) -> PhoneNumber | None:
    row = conn.execute("SELECT * FROM phone_numbers WHERE e164 = ?", (e164,)).fetchone()
    return records.number_from_row(row) if row else None


def groups(conn: Conn) -> list[Group]:
    rows = conn.execute("SELECT * FROM agent_groups ORDER BY name")
    return [records.group_from_row(r) for r in rows]


def agents(conn: Conn) -> list[Agent]:
    members: dict[int, list[int]] = {}
    for agent_id, group_id in conn.execute(
        "SELECT agent_id, group_id FROM agent_group_members ORDER BY group_id"
    ):
        members.setdefault(agent_id, []).append(group_id)
    return [
        records.agent_from_row(row, tuple(members.get(row["id"], ())))
        for row in conn.execute("SELECT * FROM agents ORDER BY name")
    ]


def agent_by_token_hash(conn: Conn, token_hash: str) -> Agent | None:
    row = conn.execute("SELECT id FROM agents WHERE token_hash = ?", (token_hash,)).fetchone()
    if row is None:
        return None
    return next(a for a in agents(conn) if a.id == row["id"])


def time_entries(conn: Conn, ticket_id: int) -> list[TimeEntry]:
    rows = conn.execute("SELECT * FROM time_entries WHERE ticket_id = ? ORDER BY id", (ticket_id,))
    return [records.time_entry_from_row(r) for r in rows]


def setting(conn: Conn, key: str) -> str | None:
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def remembered_result(conn: Conn, agent_id: int, command_id: str) -> str | None:
    row = conn.execute(
        "SELECT result FROM command_results WHERE agent_id = ? AND command_id = ?",
        (agent_id, command_id),
    ).fetchone()
    return row[0] if row else None


# --- replies on their way: status polling and sender turns ----------------------------

#: Twilio's statuses a reply moves on from: one still in them has no outcome yet.
UNSETTLED_STATUSES = ("accepted", "scheduled", "queued", "sending", "sent")


@dataclass(frozen=True, slots=True)
class UnsettledReply:
    """A reply Twilio has (it has a SID) with no outcome yet, and the account it went through."""

    message: Message
    account_id: int


def unsettled_replies(
    conn: Conn, *, quiet_since: int, created_since: int,
    after: tuple[int, int] | None = None, limit: int = 50,
) -> list[UnsettledReply]:
    """Replies with a SID and no final status, unchanged since ``quiet_since`` and created
    since ``created_since`` (ms), oldest change first, after the keyset ``after``
    (updated_at, id): a status callback for them may have been lost."""
    # The same words as the entries_unsettled index's WHERE (schema version 13), which
    # SQLite needs to see that the index holds every row the query wants.
    statuses = ", ".join(f"'{status}'" for status in UNSETTLED_STATUSES)
    keyset, bounds = ("", ()) if after is None else (" AND (e.updated_at, e.id) > (?, ?)", after)
    rows = conn.execute(
        "SELECT e.*, n.account_id AS sender_account_id FROM entries e"
        " JOIN tickets t ON t.id = e.ticket_id"
        " JOIN phone_numbers n ON n.id = coalesce(e.from_number_id, t.number_id)"
        " WHERE e.kind = 'message' AND e.direction = 'outbound' AND e.twilio_sid IS NOT NULL"
        f" AND e.status IN ({statuses}) AND e.updated_at <= ? AND e.created_at >= ?"
        f"{keyset} ORDER BY e.updated_at, e.id LIMIT ?",
        (quiet_since, created_since, *bounds, limit),
    ).fetchall()
    found = []
    for row in rows:
        message = records.entry_from_row(row)
        if isinstance(message, Message):
            found.append(UnsettledReply(message, row["sender_account_id"]))
    return found


@dataclass(frozen=True, slots=True)
class SenderTurn:
    """When a business number last handed a reply to Twilio (ms), as far as the store says."""

    number: PhoneNumber
    last_handed_at: int


def recent_sender_turns(conn: Conn, since: int) -> list[SenderTurn]:
    """Each number's latest reply handed to Twilio (a SID), or perhaps being handed
    (``sending``), among replies changed since ``since`` (ms).

    A reply's ``updated_at`` is at or after its hand-over (the SID is written once Twilio
    has accepted it; later callbacks only move it later), so a limiter seeded from it never
    lets a send come sooner than its sender's rate allows after the true hand-over.
    """
    rows = conn.execute(
        "SELECT n.*, max(e.updated_at) AS last_handed_at FROM entries e"
        " JOIN tickets t ON t.id = e.ticket_id"
        " JOIN phone_numbers n ON n.id = coalesce(e.from_number_id, t.number_id)"
        " WHERE e.kind = 'message' AND e.direction = 'outbound' AND e.updated_at >= ?"
        " AND (e.twilio_sid IS NOT NULL OR e.status = 'sending') GROUP BY n.id ORDER BY n.id",
        (since,),
    ).fetchall()
    return [SenderTurn(records.number_from_row(row), row["last_handed_at"]) for row in rows]
