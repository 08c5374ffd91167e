"""The store's read queries: keyset-paginated windows, full-text search, replay.

Every list is walked with a cursor (the sort key of the last row seen), never
OFFSET, so the 2,000th window of 100,000 tickets costs what the first does.
Functions take a sqlite3 connection and run in a reader's thread.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from core import optout, records
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
    TicketStatus,
    TimeEntry,
)

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
    # The desk's numbers the contact is opted out from (a STOP blocks the number it was sent
    # to); ``contact_opted_out`` says it for the ticket's own number.
    contact_opted_out_number_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchHit:
    entry: Message | Note
    ticket_id: int


class BadCursor(ValueError):
    """A cursor that this store did not hand out."""


def _window(limit: int) -> int:
    return max(1, min(int(limit), MAX_WINDOW))


# --- tickets --------------------------------------------------------------------------


def _ticket_cursor(ticket: Ticket) -> str:
    return f"{ticket.last_message_at}.{ticket.id}"


def _parse_ticket_cursor(cursor: str) -> tuple[int, int]:
    try:
        at, ticket_id = cursor.split(".")
        return int(at), int(ticket_id)
    except ValueError:
        raise BadCursor(f"not a ticket cursor: {cursor!r}") from None


def _ticket_conditions(view: TicketFilter) -> tuple[list[str], list[Any]]:
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
    return where, params


# The newest reply by the partial index ``entries_replies``: one probe per row, however
# long the thread and whether or not it has a reply.
_LAST_REPLY_ID = (
    "(SELECT max(e.id) FROM entries e WHERE e.ticket_id = t.id AND e.kind = 'message'"
    " AND e.direction = 'outbound')"
)
_TICKET_COLUMNS = (
    "t.*, c.name AS contact_name, c.phone AS contact_phone, "
    f"{optout.opted_out_numbers_sql('c.id')} AS contact_opted_out_number_ids, "
    f"{_LAST_REPLY_ID} AS last_reply_id, "
    f"(SELECT r.status FROM entries r WHERE r.id = {_LAST_REPLY_ID}) AS last_reply_status"
)


def _ticket_row(row: sqlite3.Row) -> TicketRow:
    blocked = sorted(json.loads(row["contact_opted_out_number_ids"] or "[]"))
    return TicketRow(
        ticket=records.ticket_from_row(row),
        contact_name=row["contact_name"],
        contact_phone=row["contact_phone"],
        contact_opted_out=row["number_id"] in blocked,
        contact_opted_out_number_ids=tuple(blocked),
        last_reply_id=row["last_reply_id"],
        last_reply_status=row["last_reply_status"],
    )


def list_tickets(
    conn: sqlite3.Connection,
    view: TicketFilter = TicketFilter(),
    *,
    before: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> Page[TicketRow]:
    """A window of tickets, most recent activity first.

    ``before`` walks down (older), ``after`` walks up (newer); with neither,
    the window starts at the top.
    """
    limit = _window(limit)
    if view.text and view.text.strip():
        if after is not None:
            raise BadCursor("search results page downward only; keep the windows you have seen")
        return _search_tickets(conn, view, before=before, limit=limit)
    ascending = after is not None and before is None
    keyset: list[str] = []
    bounds: list[Any] = []
    if before is not None:
        keyset.append("(t.last_message_at, t.id) < (?, ?)")
        bounds.extend(_parse_ticket_cursor(before))
    elif after is not None:
        keyset.append("(t.last_message_at, t.id) > (?, ?)")
        bounds.extend(_parse_ticket_cursor(after))
    order = "ASC" if ascending else "DESC"
    # With ``status IN (open, pending)`` SQLite reads every matching ticket and
    # sorts them (66 ms at 100,000 open tickets). One ordered index walk per
    # status, each stopped at the window, then a merge of those few rows, costs
    # a window's worth whatever the desk's size.
    views = [replace(view, status=(status,)) for status in view.status or ()] \
        if view.status and len(view.status) > 1 else [view]
    selects, values = [], []
    for one in views:
        where, params = _ticket_conditions(one)
        selects.append(
            f"SELECT * FROM (SELECT {_TICKET_COLUMNS} FROM tickets t"
            f" JOIN contacts c ON c.id = t.contact_id WHERE {' AND '.join(where + keyset)}"
            f" ORDER BY t.last_message_at {order}, t.id {order} LIMIT ?)"
        )
        values += [*params, *bounds, limit + 1]
    sql = " UNION ALL ".join(selects) + f" ORDER BY last_message_at {order}, id {order} LIMIT ?"
    rows = conn.execute(sql, (*values, limit + 1)).fetchall()
    more = len(rows) > limit
    items = [_ticket_row(row) for row in rows[:limit]]
    if ascending:
        items.reverse()
    if not items:
        return Page((), None, None)
    first, last = _ticket_cursor(items[0].ticket), _ticket_cursor(items[-1].ticket)
    if ascending:
        return Page(tuple(items), older=last, newer=first if more else None)
    return Page(
        tuple(items),
        older=last if more else None,
        newer=first if before is not None else None,
    )


def count_tickets(conn: sqlite3.Connection, view: TicketFilter = TicketFilter()) -> int:
    """How many tickets a view holds (for the list's scrollbar and counters)."""
    where, params = _ticket_conditions(view)
    if view.text and view.text.strip():
        query = fts_query(view.text)
        if query is None:
            return 0
        sql = (
            "SELECT count(DISTINCT e.ticket_id) FROM entries_fts f"
            " JOIN entries e ON e.id = f.rowid JOIN tickets t ON t.id = e.ticket_id"
            f" WHERE entries_fts MATCH ? AND {' AND '.join(where)}"
        )
        rows = list(_match(conn, sql, (query, *params)))
        return rows[0][0] if rows else 0
    sql = f"SELECT count(*) FROM tickets t WHERE {' AND '.join(where)}"
    return conn.execute(sql, params).fetchone()[0]


def _search_tickets(
    conn: sqlite3.Connection, view: TicketFilter, *, before: str | None, limit: int
) -> Page[TicketRow]:
    """Tickets whose messages or notes match, ordered by their newest match.

    Walks the full-text index newest-first and stops as soon as the window is
    full, so a common word costs no more than a rare one. The cursor is the
    position in that walk; a ticket is shown at its newest match only. Search
    windows page downward only (``newer`` is None): a client keeps the windows
    it has seen, as the inbox does, rather than walking the index backwards.
    """
    query = fts_query(view.text or "")
    if query is None:
        return Page((), None, None)
    try:
        position = int(before) if before is not None else None
    except ValueError:
        raise BadCursor(f"not a search cursor: {before!r}") from None
    where, params = _ticket_conditions(view)
    ticket_sql = (
        f"SELECT {_TICKET_COLUMNS} FROM tickets t JOIN contacts c ON c.id = t.contact_id"
        f" WHERE t.id = ? AND {' AND '.join(where)}"
    )
    found: list[TicketRow] = []
    seen: set[int] = set()
    last_position: int | None = None
    for entry_id, ticket_id in _matches_newest_first(conn, query, position):
        last_position = entry_id
        if ticket_id in seen:
            continue
        seen.add(ticket_id)
        if position is not None and _has_match_after(conn, query, ticket_id, position):
            continue  # shown in an earlier window at a newer match
        row = conn.execute(ticket_sql, (ticket_id, *params)).fetchone()
        if row is not None:
            found.append(_ticket_row(row))
            if len(found) == limit:
                break
    else:
        last_position = None  # the walk reached the oldest match
    older = str(last_position) if last_position is not None else None
    return Page(tuple(found), older=older, newer=None)


def _matches_newest_first(
    conn: sqlite3.Connection, query: str, before: int | None
) -> Iterator[tuple[int, int]]:
    sql = (
        "SELECT f.rowid, e.ticket_id FROM entries_fts f JOIN entries e ON e.id = f.rowid"
        " WHERE entries_fts MATCH ?"
    )
    params: list[Any] = [query]
    if before is not None:
        sql += " AND f.rowid < ?"
        params.append(before)
    sql += " ORDER BY f.rowid DESC"
    cursor = _match(conn, sql, params)
    if isinstance(cursor, list):
        return
    while batch := cursor.fetchmany(256):
        yield from batch


def _has_match_after(conn: sqlite3.Connection, query: str, ticket_id: int, position: int) -> bool:
    newer_ids = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM entries WHERE ticket_id = ? AND id >= ?", (ticket_id, position)
        )
    ]
    return any(
        list(_match(conn, "SELECT 1 FROM entries_fts WHERE entries_fts MATCH ? AND rowid = ?",
                    (query, entry_id)))
        for entry_id in newer_ids
    )


# --- threads --------------------------------------------------------------------------


def thread(
    conn: sqlite3.Connection,
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
    limit = _window(limit)
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

# Letters and digits only: "_" and a few other code points are word characters
# to Python but separators to SQLite's tokenizer, and a quoted term that the
# tokenizer splits becomes a phrase, which a detail=none index cannot answer.
_TERM = re.compile(r"([^\W_]+)(\*?)", re.UNICODE)


def fts_query(text: str) -> str | None:
    """Turn what an agent typed into a safe FTS5 query, or None when there is no word.

    Every word must appear. A word ending in ``*`` matches as a prefix; others
    match whole words only, because FTS5 answers a prefix by merging the
    postings of every term that starts with it, which for a common prefix over
    a million messages costs tens of milliseconds where a whole word costs one.
    """
    terms = []
    for match in _TERM.finditer(text):
        word, star = match.group(1), match.group(2)
        terms.append(f'"{word}"*' if star else f'"{word}"')
    return " ".join(terms) or None


def search(
    conn: sqlite3.Connection, text: str, *, before: int | None = None, limit: int = 50
) -> list[SearchHit]:
    """Messages and notes matching ``text``, newest first."""
    query = fts_query(text)
    if query is None:
        return []
    sql = (
        "SELECT e.* FROM entries_fts f JOIN entries e ON e.id = f.rowid"
        " WHERE entries_fts MATCH ?"
    )
    params: list[Any] = [query]
    if before is not None:
        sql += " AND f.rowid < ?"
        params.append(before)
    sql += " ORDER BY f.rowid DESC LIMIT ?"
    params.append(_window(limit))
    return [
        SearchHit(entry=records.entry_from_row(row), ticket_id=row["ticket_id"])
        for row in _match(conn, sql, params)
    ]


def _match(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> sqlite3.Cursor | list[Any]:
    """Run a MATCH query; a term SQLite's tokenizer cannot take matches nothing.

    ``fts_query`` already keeps to letters and digits, but Python and SQLite
    disagree on a handful of rare code points; an agent who types one gets no
    results rather than an error.
    """
    try:
        return conn.execute(sql, params)
    except sqlite3.OperationalError as error:
        if "fts5" in str(error) or "syntax error" in str(error):
            return []
        raise


# --- the event log --------------------------------------------------------------------


def events_after(conn: sqlite3.Connection, seq: int, *, limit: int = 1000) -> list[Event]:
    """Events a client has not seen yet, in order, for replay on reconnect."""
    rows = conn.execute(
        "SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
    ).fetchall()
    return [records.event_from_row(row) for row in rows]


def latest_seq(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]


# --- lookups --------------------------------------------------------------------------


def ticket(conn: sqlite3.Connection, ticket_id: int) -> Ticket | None:
    row = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    return records.ticket_from_row(row) if row else None


def contact(conn: sqlite3.Connection, contact_id: int) -> Contact | None:
    row = conn.execute("SELECT * FROM contacts WHERE id = ?", (contact_id,)).fetchone()
    return records.contact_from_row(row) if row else None


def contact_by_phone(conn: sqlite3.Connection, phone: str) -> Contact | None:
    row = conn.execute("SELECT * FROM contacts WHERE phone = ?", (phone,)).fetchone()
    return records.contact_from_row(row) if row else None


def opt_out_history(conn: sqlite3.Connection, contact_id: int) -> list[OptOutChange]:
    rows = conn.execute(
        "SELECT * FROM opt_out_changes WHERE contact_id = ? ORDER BY id", (contact_id,)
    )
    return [records.opt_out_change_from_row(row) for row in rows]


def message_by_sid(conn: sqlite3.Connection, sid: str) -> Message | None:
    row = conn.execute("SELECT * FROM entries WHERE twilio_sid = ?", (sid,)).fetchone()
    entry = records.entry_from_row(row) if row else None
    return entry if isinstance(entry, Message) else None


def entry(conn: sqlite3.Connection, entry_id: int) -> Message | Note | None:
    row = conn.execute("SELECT * FROM entries WHERE id = ?", (entry_id,)).fetchone()
    return records.entry_from_row(row) if row else None


def outbox(conn: sqlite3.Connection) -> list[Message]:
    """Replies not yet handed to Twilio, or whose hand-over is in doubt, oldest first."""
    rows = conn.execute(
        "SELECT * FROM entries WHERE status IN ('queued', 'sending') AND kind = 'message'"
        " AND direction = 'outbound' AND twilio_sid IS NULL ORDER BY id"
    )
    return [m for m in map(records.entry_from_row, rows) if isinstance(m, Message)]


def accounts(conn: sqlite3.Connection) -> list[Account]:
    return [records.account_from_row(r) for r in conn.execute("SELECT * FROM accounts ORDER BY id")]


def account_by_sid(conn: sqlite3.Connection, sid: str) -> Account | None:
    row = conn.execute("SELECT * FROM accounts WHERE sid = ?", (sid,)).fetchone()
    return records.account_from_row(row) if row else None


def numbers(conn: sqlite3.Connection, account_id: int | None = None) -> list[PhoneNumber]:
    if account_id is None:
        rows = conn.execute("SELECT * FROM phone_numbers ORDER BY id")
    else:
        rows = conn.execute(
            "SELECT * FROM phone_numbers WHERE account_id = ? ORDER BY id", (account_id,)
        )
    return [records.number_from_row(r) for r in rows]


def number_by_e164(conn: sqlite3.Connection, e164: str) -> PhoneNumber | None:
    row = conn.execute("SELECT * FROM phone_numbers WHERE e164 = ?", (e164,)).fetchone()
    return records.number_from_row(row) if row else None


def groups(conn: sqlite3.Connection) -> list[Group]:
    rows = conn.execute("SELECT * FROM agent_groups ORDER BY name")
    return [records.group_from_row(r) for r in rows]


def agents(conn: sqlite3.Connection) -> list[Agent]:
    members: dict[int, list[int]] = {}
    for agent_id, group_id in conn.execute(
        "SELECT agent_id, group_id FROM agent_group_members ORDER BY group_id"
    ):
        members.setdefault(agent_id, []).append(group_id)
    return [
        records.agent_from_row(row, tuple(members.get(row["id"], ())))
        for row in conn.execute("SELECT * FROM agents ORDER BY name")
    ]


def agent_by_token_hash(conn: sqlite3.Connection, token_hash: str) -> Agent | None:
    row = conn.execute("SELECT id FROM agents WHERE token_hash = ?", (token_hash,)).fetchone()
    if row is None:
        return None
    return next(a for a in agents(conn) if a.id == row["id"])


def time_entries(conn: sqlite3.Connection, ticket_id: int) -> list[TimeEntry]:
    rows = conn.execute("SELECT * FROM time_entries WHERE ticket_id = ? ORDER BY id", (ticket_id,))
    return [records.time_entry_from_row(r) for r in rows]


def setting(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def remembered_result(conn: sqlite3.Connection, agent_id: int, command_id: str) -> str | None:
    row = conn.execute(
        "SELECT result FROM command_results WHERE agent_id = ? AND command_id = ?",
        (agent_id, command_id),
    ).fetchone()
    return row[0] if row else None
