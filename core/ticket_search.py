"""Finding tickets by what an agent typed into the search box.

"Jordan" may be a contact's name, a tag or a word in a message; "512 555 0133" a
phone; "a@b.co" an email; "#123" a ticket number. Only the readings the text can
have are asked (core.search_terms decides), each through its own index and each
cut to one window, newest activity first; their id lists are merged and only that
window's rows are read. Tickets found that way come first, then those whose
messages or notes hold every word (the full-text walk, as before contacts were
searchable). Each row says which readings found it.

Why the care: the search runs on every keystroke's worth of Enter over 100,000
tickets, and a plain word must cost what it did before names and tags were
searchable (one empty index look-up each), while a name a tenth of the desk has
must not sort thousands of tickets.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from core.db import Conn
from core.dialect import dialect_of
from core.fts import TERM
from core.search_terms import SearchTerms, read_search_text
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
)

# A search cursor is either where the direct matches (number, contact, tag) stopped,
# "d<last_message_at>.<id>", or a position in the full-text walk that follows them.
DIRECT_CURSOR = "d"
_FTS_FROM_THE_TOP = str(2**62)  # a position above every entry id

#: Up to this many contacts with a name, their tickets are looked up and sorted; more, and
#: the newest tickets of the view are walked instead, since a name that common fills a
#: window among them. (The name index keeps prefixes of up to six letters, so counting
#: the contacts a prefix finds is cheap.)
LOTS = 3000
#: How many of the view's newest tickets that walk reads before it looks the matches up.
WALK_LIMIT = 3000
#: Its first page; each next one is twice as long. The walk runs for a name more than LOTS
#: contacts have (3% of 100,000 or more), so 600 tickets fill a window of 50 in one
#: statement for one contact in ten (Jordan), where 200 took two.
FIRST_WALK_PAGE = 600
#: The full-text walk reads the list rows of at least this many tickets at a time.
MIN_BATCH = 8
#: The header counts a search's tickets up to this many, then says "1,000+" (count_found).
COUNT_CAP = 1000
#: The count's full-text walk asks whether the view shows this many tickets a statement.
COUNT_BATCH = 1000


@dataclass(slots=True)
class _Found:
    """Ticket ids one search found directly, each with its sort key and readings."""

    keys: dict[int, int] = field(default_factory=dict)  # ticket id -> last_message_at
    kinds: dict[int, list[str]] = field(default_factory=dict)

    def add(self, kind: str, rows: list[tuple[int, int]]) -> None:
        for at, ticket_id in rows:
            self.keys[ticket_id] = at
            self.kinds.setdefault(ticket_id, []).append(kind)

    def newest(self, wanted: int) -> list[int]:
        return sorted(self.keys, key=lambda i: (self.keys[i], i), reverse=True)[:wanted]


@dataclass(slots=True)
class _Scope:
    """The view's conditions and the keyset bound, as SQL over ``tickets t``."""

    where: list[str]
    params: list[Any]

    @property
    def sql(self) -> str:
        return " AND ".join(self.where)


def _reads_as_words(terms: SearchTerms) -> bool:
    """Only plain text can be a name or a tag: not a number, phone or email."""
    return bool(terms.words) and terms.ticket_id is None and terms.phone is None \
        and terms.email is None


def _newest(conn: Conn, scope: _Scope, condition: str, params: list[Any],
            wanted: int) -> list[tuple[int, int]]:
    return [tuple(row) for row in dialect_of(conn).run_match(
        conn,
        f"SELECT t.last_message_at, t.id FROM tickets t WHERE {scope.sql} AND {condition}"
        " ORDER BY t.last_message_at DESC, t.id DESC LIMIT ?",
        (*scope.params, *params, wanted))]


def _contacts_with_phone_or_email(conn: Conn, terms: SearchTerms) -> list[int]:
    if terms.phone is not None:
        return [r[0] for r in conn.execute(
            "SELECT contact_id FROM contact_phones WHERE e164 = ?", (terms.phone,))]
    if terms.email is not None:
        return [r[0] for r in conn.execute(
            "SELECT id FROM contacts WHERE email = ? COLLATE NOCASE AND email != ''",
            (terms.email,))]
    return []


def _ids_condition(column: str, ids: list[int]) -> tuple[str, list[Any]]:
    return f"{column} IN ({', '.join('?' * len(ids))})", list(ids)


def _walk_for_names(conn: Conn, scope: _Scope, words: str,
                    wanted: int) -> list[tuple[int, int]] | None:
    """The ``wanted`` newest tickets of the view whose contact's name matches, read from
    the view's newest tickets in order; None when WALK_LIMIT of them did not fill it.

    Read in growing keyset pages, not one statement of WALK_LIMIT rows: PostgreSQL's
    driver fetches a whole result at once, and a common name fills the window within the
    first page or two.
    """
    wanted_words = _wanted_words(words)
    found: list[tuple[int, int]] = []
    read, page, after = 0, FIRST_WALK_PAGE, ""
    bound: tuple[Any, ...] = ()
    while read < WALK_LIMIT:
        asked = min(page, WALK_LIMIT - read)
        rows = conn.execute(
            f"SELECT t.last_message_at, t.id, c.name FROM tickets t"
            f" JOIN contacts c ON c.id = t.contact_id WHERE {scope.sql}{after}"
            " ORDER BY t.last_message_at DESC, t.id DESC LIMIT ?",
            (*scope.params, *bound, asked)).fetchall()
        read += len(rows)
        for at, ticket_id, name in rows:
            if _has_words(name, wanted_words):
                found.append((at, ticket_id))
                if len(found) == wanted:
                    return found
        if len(rows) < asked:
            return found  # the view has no more tickets
        after, bound = " AND (t.last_message_at, t.id) < (?, ?)", tuple(rows[-1][:2])
        page *= 2
    return None


def _named_and_tagged(conn: Conn, words: str) -> tuple[int, bool]:
    """How many contacts the name reading finds (up to LOTS + 1), and whether any ticket
    has the tag: one statement, since most words are neither, and on PostgreSQL each
    statement is a round trip (milliseconds each on a busy machine)."""
    dialect = dialect_of(conn)
    query = dialect.name_query(words)
    can_tag = _can_be_a_tag(words)
    if query is not None:
        tagged = "EXISTS (SELECT 1 FROM ticket_tags WHERE tag = ?)" if can_tag else "0"
        rows = list(dialect.run_match(
            conn, f"SELECT (SELECT count(*) FROM ({dialect.contacts_matching} LIMIT ?)"
            f" AS named), {tagged}", (query, LOTS + 1, *([words] if can_tag else []))))
        if rows:
            return rows[0][0], bool(rows[0][1])
    # No word a name could hold, or one the tokenizer refused: the tag alone is asked.
    return 0, can_tag and conn.execute("SELECT 1 FROM ticket_tags WHERE tag = ? LIMIT 1",
                                       (words,)).fetchone() is not None


def _by_name(conn: Conn, scope: _Scope, words: str, named: int,
             wanted: int) -> list[tuple[int, int]]:
    """Tickets whose contact's name holds every word (from a word's start), newest first;
    ``named`` is how many contacts have it (up to LOTS + 1).

    A name few contacts have: their tickets are looked up (tickets_of_contact) and
    sorted. A name many have (Jordan, one contact in ten) fills the window among the
    view's newest tickets, so those are walked instead of sorting thousands.
    """
    dialect = dialect_of(conn)
    query = dialect.name_query(words)
    if query is None or not named:
        return []
    if named > LOTS:
        walked = _walk_for_names(conn, scope, words, wanted)
        if walked is not None:
            return walked
    return _newest(conn, scope, f"t.contact_id IN ({dialect.contacts_matching})", [query],
                   wanted)


def _can_be_a_tag(text: str) -> bool:
    """A tag never holds NUL: PostgreSQL's text cannot, so none is ever stored there, and
    asking would fail; SQLite is told the same, so both answer alike."""
    return "\x00" not in text


def _by_tag(conn: Conn, scope: _Scope, tag: str,
            wanted: int) -> list[tuple[int, int]]:
    """Tickets with the whole tag (any case), newest first, straight from ticket_tags_recent."""
    if not _can_be_a_tag(tag):
        return []
    hint = dialect_of(conn).tag_index_hint
    return [tuple(row) for row in conn.execute(
        f"SELECT t.last_message_at, t.id FROM ticket_tags tt {hint}"
        f" JOIN tickets t ON t.id = tt.ticket_id WHERE tt.tag = ? AND {scope.sql}"
        " ORDER BY tt.last_message_at DESC, tt.ticket_id DESC LIMIT ?",
        (tag, *scope.params, wanted))]


def _direct(conn: Conn, scope: _Scope, terms: SearchTerms,
            wanted: int) -> _Found:
    """The ``wanted`` newest tickets each direct reading finds, every one by an index."""
    found = _Found()
    if terms.ticket_id is not None:
        found.add("number", _newest(conn, scope, "t.id = ?", [terms.ticket_id], wanted))
        return found
    if terms.phone is not None or terms.email is not None:
        contacts = _contacts_with_phone_or_email(conn, terms)
        if contacts:
            condition, params = _ids_condition("t.contact_id", contacts)
            found.add("phone" if terms.phone is not None else "email",
                      _newest(conn, scope, condition, params, wanted))
        return found
    if not _reads_as_words(terms):
        return found
    named, tagged = _named_and_tagged(conn, terms.words)
    found.add("name", _by_name(conn, scope, terms.words, named, wanted))
    if tagged:
        found.add("tag", _by_tag(conn, scope, terms.words, wanted))
    return found


def _direct_matches(
    conn: Conn, view: TicketFilter, terms: SearchTerms,
    *, before: str | None, limit: int,
) -> tuple[list[TicketRow], str | None]:
    """Tickets found by number, contact or tag, newest first; the cursor when more remain.

    Each reading brings at most a window's ids; only the merged window's rows are read,
    since the list's columns cost two look-ups a ticket.
    """
    where, params = ticket_conditions(view)
    if before is not None:
        where.append("(t.last_message_at, t.id) < (?, ?)")
        params.extend(parse_ticket_cursor(before[len(DIRECT_CURSOR):]))
    found = _direct(conn, _Scope(where, params), terms, limit + 1)
    ids = found.newest(limit + 1)
    if not ids:
        return [], None
    window = ids[:limit]
    rows = {row["id"]: row for row in conn.execute(
        f"SELECT {ticket_columns(dialect_of(conn))} FROM tickets t"
        f" JOIN contacts c ON c.id = t.contact_id"
        f" WHERE t.id IN ({', '.join('?' * len(window))})", window)}
    items = [ticket_row(rows[i], tuple(found.kinds[i])) for i in window]
    if len(ids) > limit:
        return items, DIRECT_CURSOR + ticket_cursor(items[-1].ticket)
    return items, None


def _wanted_words(words: str) -> list[str]:
    return [_folded(m.group(1)) for m in TERM.finditer(words)]


def _has_words(name: str, wanted: list[str]) -> bool:
    """The Python twin of the contacts_fts look-up: each word starts a word of the name,
    ignoring case and accents as its tokenizer does ("jose" finds "José")."""
    if not name or not wanted:
        return False
    have = [_folded(m.group(1)) for m in TERM.finditer(name)]
    return all(any(h.startswith(w) for h in have) for w in wanted)


def _folded(word: str) -> str:
    folded = word.casefold()
    if folded.isascii():
        return folded
    decomposed = unicodedata.normalize("NFKD", folded)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _found_directly(conn: Conn, row: sqlite3.Row, terms: SearchTerms) -> bool:
    """Whether a message match was already listed among the direct matches."""
    if terms.ticket_id is not None:
        return row["id"] == terms.ticket_id
    if terms.phone is not None:
        return conn.execute("SELECT 1 FROM contact_phones WHERE e164 = ? AND contact_id = ?",
                            (terms.phone, row["contact_id"])).fetchone() is not None
    if terms.email is not None:
        return (row["contact_email"] or "").casefold() == terms.email
    words = terms.words.casefold()
    return (bool(words) and words in row["tags"].casefold()
            and words in (tag.casefold() for tag in json.loads(row["tags"]))) \
        or _has_words(row["contact_name"] or "", _wanted_words(terms.words))


def search_tickets(
    conn: Conn, view: TicketFilter, *, before: str | None, limit: int
) -> Page[TicketRow]:
    """Tickets the text finds: first by number, contact and tag, then by their messages
    and notes, ordered by their newest match, each saying which readings matched.

    Walks the full-text index newest-first and stops as soon as the window is
    full, so a common word costs no more than a rare one. The cursor is the
    position in that walk; a ticket is shown at its newest match only, and not
    again if it was a direct match. Search windows page downward only (``newer``
    is None): a client keeps the windows it has seen, as the inbox does, rather
    than walking the index backwards.
    """
    terms = read_search_text(view.text or "")
    found: list[TicketRow] = []
    every_direct_here = before is None  # else some were listed in earlier windows
    if before is None or before.startswith(DIRECT_CURSOR):
        found, cursor = _direct_matches(conn, view, terms, before=before, limit=limit)
        if cursor is not None:
            return Page(tuple(found), older=cursor, newer=None)
        before = None
    dialect = dialect_of(conn)
    query = dialect.fts_query(view.text or "")
    if query is None:
        return Page(tuple(found), None, None)
    if len(found) == limit:  # the full-text walk starts in the next window
        return Page(tuple(found), older=_FTS_FROM_THE_TOP, newer=None)
    try:
        position = int(before) if before is not None else None
    except ValueError:
        raise BadCursor(f"not a search cursor: {before!r}") from None
    where, params = ticket_conditions(view)
    seen: set[int] = {row.ticket.id for row in found}
    walk = _first_match_of_each(dialect.newest_matches(conn, query, position), seen)
    while batch := list(itertools.islice(walk, max(limit - len(found), MIN_BATCH))):
        ticket_ids = [ticket_id for _, ticket_id in batch]
        rows = _rows_by_id(conn, ticket_ids, where, params)
        shown_before = set() if position is None else \
            dialect.tickets_matching_since(conn, query, ticket_ids, position)
        for entry_id, ticket_id in batch:
            if ticket_id in shown_before:
                continue  # shown in an earlier window at a newer match
            row = rows.get(ticket_id)
            # Found directly: listed already (in this window when every direct match is here).
            if row is not None and (every_direct_here or not _found_directly(conn, row, terms)):
                found.append(ticket_row(row, ("messages",)))
                if len(found) == limit:
                    return Page(tuple(found), older=str(entry_id), newer=None)
    return Page(tuple(found), older=None, newer=None)  # the walk reached the oldest match


def _first_match_of_each(matches: Iterator[tuple[int, int]], seen: set[int]
                         ) -> Iterator[tuple[int, int]]:
    """(entry id, ticket id) of each ticket's newest match only, skipping ``seen`` tickets
    (which it adds to)."""
    for entry_id, ticket_id in matches:
        if ticket_id not in seen:
            seen.add(ticket_id)
            yield entry_id, ticket_id


def _rows_by_id(conn: Conn, ticket_ids: list[int], where: list[str],
                params: list[Any]) -> dict[int, sqlite3.Row]:
    """The list rows of those of ``ticket_ids`` the view shows, by id: one statement for a
    batch, since on PostgreSQL each statement is a round trip."""
    marks = ", ".join("?" * len(ticket_ids))
    return {row["id"]: row for row in conn.execute(
        f"SELECT {ticket_columns(dialect_of(conn))} FROM tickets t"
        f" JOIN contacts c ON c.id = t.contact_id WHERE t.id IN ({marks})"
        f" AND {' AND '.join(where)}", (*ticket_ids, *params))}


def count_found(conn: Conn, view: TicketFilter, *,
                at_most: int | None = None) -> int:
    """How many tickets a search finds (the header's count), counted up to ``at_most``:
    ``at_most + 1`` means more than that ("1,000+ tickets match"). ``at_most`` is
    COUNT_CAP unless said (a test asks for less).

    Counting every ticket a common word finds reads every match (2 s for one message in
    three at 1M messages, on either backend), for a figure no agent reads digit by digit.
    So each direct reading brings at most ``at_most + 1`` ids by its own index, and the
    full-text walk the search itself uses (newest first) adds the tickets of the view it
    meets, stopping as soon as the count passes ``at_most``. Below the cap the walk reads
    every match, so the count is exact.
    """
    terms = read_search_text(view.text or "")
    scope = _Scope(*ticket_conditions(view))
    wanted = (COUNT_CAP if at_most is None else at_most) + 1
    found = _directly_found_ids(conn, scope, terms, wanted)
    query = dialect_of(conn).fts_query(view.text or "")
    if len(found) >= wanted or query is None:
        return min(len(found), wanted)
    counted = len(found)
    walk = _first_match_of_each(dialect_of(conn).newest_matches(conn, query, None), found)
    while batch := list(itertools.islice(walk, COUNT_BATCH)):
        counted += len(_ids_in_view(conn, [ticket_id for _, ticket_id in batch], scope))
        if counted >= wanted:
            return wanted
    return counted


def _directly_found_ids(conn: Conn, scope: _Scope, terms: SearchTerms,
                        wanted: int) -> set[int]:
    """The tickets of the view the direct readings find, each reading cut at ``wanted``
    (unordered: a count needs no newest first)."""
    found: set[int] = set()

    def add(condition: str, args: list[Any]) -> None:
        found.update(row[0] for row in dialect_of(conn).run_match(
            conn, f"SELECT t.id FROM tickets t WHERE {condition} AND {scope.sql} LIMIT ?",
            (*args, *scope.params, wanted)))

    if terms.ticket_id is not None:
        add("t.id = ?", [terms.ticket_id])
    contacts = _contacts_with_phone_or_email(conn, terms)
    if contacts:
        add(*_ids_condition("t.contact_id", contacts))
    if not _reads_as_words(terms):
        return found
    name = dialect_of(conn).name_query(terms.words)
    if name is not None:
        found.update(_named_tickets(conn, scope, name, wanted))
    if _can_be_a_tag(terms.words) and len(found) < wanted:
        _add_tagged(conn, scope, terms.words, wanted, found)
    return found


def _named_tickets(conn: Conn, scope: _Scope, name: str,
                   wanted: int) -> list[int]:
    """Up to ``wanted`` tickets of the view whose contact's name matches.

    Joined from the contacts: PostgreSQL then reads a name's contacts one by one and each
    one's tickets by tickets_of_contact, stopping at ``wanted``; asked as ``t.contact_id IN
    (…)`` it hashed every contact of a common name and scanned every ticket (54 ms).
    """
    dialect = dialect_of(conn)
    return [row[0] for row in dialect.run_match(
        conn, f"SELECT t.id FROM contacts c JOIN tickets t ON t.contact_id = c.id"
        f" WHERE c.id IN ({dialect.contacts_matching}) AND {scope.sql} LIMIT ?",
        (name, *scope.params, wanted))]


def _add_tagged(conn: Conn, scope: _Scope, tag: str, wanted: int,
                found: set[int]) -> None:
    """Add the tickets of the view with the whole tag to ``found``, until it holds ``wanted``.

    The tag's tickets are read from its index in pages and each page checked against the
    view: joined in one statement, PostgreSQL hashed every ticket of the desk (90-130 ms).
    """
    after = 0
    while len(found) < wanted:
        ids = [row[0] for row in conn.execute(
            "SELECT ticket_id FROM ticket_tags WHERE tag = ? AND ticket_id > ?"
            " ORDER BY ticket_id LIMIT ?", (tag, after, COUNT_BATCH))]
        if ids:
            found.update(_ids_in_view(conn, ids, scope))
        if len(ids) < COUNT_BATCH:
            return
        after = ids[-1]


def _ids_in_view(conn: Conn, ticket_ids: list[int], scope: _Scope) -> list[int]:
    """Those of ``ticket_ids`` the view shows (one statement for the lot)."""
    condition, params = _ids_condition("t.id", ticket_ids)
    return [row[0] for row in conn.execute(
        f"SELECT t.id FROM tickets t WHERE {condition} AND {scope.sql}",
        (*params, *scope.params))]
