"""The few pieces of SQL that differ between SQLite and PostgreSQL, in one object per backend.

Almost all of core/'s SQL is written once and runs on both backends (the adapter in
core.pg takes care of placeholders, booleans and rows). What cannot be shared is here:
full-text search (FTS5 tables on SQLite, ``tsvector`` columns with GIN indexes on
PostgreSQL), the JSON functions, and SQLite's ``INDEXED BY`` hint. A feature asks its
connection for these (``dialect_of(conn).json_ids_agg(...)``) and never tests which backend
it runs on, so adding a backend means adding one object here, not editing features.

Both dialects give search the same meaning: every word must appear as a whole word
(``word*`` as a prefix), case and accents are ignored, newest match first.

Nothing here imports psycopg: the SQLite desk must run with nothing but python3.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from core.fts import TERM, run_match
from core.fts import fts_query as fts5_query

#: PostgreSQL's search walks the entries newest first in id ranges of this many ids to
#: begin with; each next range is sized from how many matches the last one held.
FIRST_SPAN = 1024
#: The number of matches a range should hold: enough that a common word needs one or two
#: round trips, few enough that reading a range costs well under a millisecond.
MATCHES_PER_SPAN = 256
#: A range that held nothing is followed by one this many times wider (a rare word).
WIDEN = 16
#: At most this many rows a statement (a range's or the index's).
MOST_ROWS = 1024
#: The widest id range read as a range; a word sparser than that is read from its index.
NARROW = 8192


class Dialect:
    """What differs between backends; ``SQLITE`` and ``POSTGRES`` are the instances."""

    name = ""
    #: FROM clause naming the matching entries ``e`` (SQLite joins its FTS5 table).
    entries_from = ""
    #: WHERE condition over ``entries_from``: the entry holds the search (one ``?``).
    entries_match = ""
    #: A SELECT of the ids of the contacts whose name matches (one ``?``, a name query).
    contacts_matching = ""
    #: The index hint for a tag search ("" where the planner needs none).
    tag_index_hint = ""

    # --- full text -------------------------------------------------------------------

    def fts_query(self, text: str) -> str | None:
        """What an agent typed as this backend's full-text query; None when no word."""
        raise NotImplementedError

    def name_query(self, text: str) -> str | None:
        """Every word as the start of a word of a name (prefix terms); None when no word."""
        raise NotImplementedError

    def run_match(self, conn: Any, sql: str, params: Sequence[Any]) -> Any:
        """Run a full-text query; one the backend's parser refuses matches nothing.

        The queries are built from letters and digits only, but Python and the backend's
        tokenizer disagree on a handful of rare code points: an agent who types one gets
        no results rather than an error.
        """
        return run_match(conn, sql, params)

    def newest_matches(self, conn: Any, query: str, before: int | None
                       ) -> Iterator[tuple[int, int]]:
        """(entry id, ticket id) of every entry matching ``query``, newest first, lazily.

        ``before`` is an entry id: only older entries are given. The caller stops when
        its window is full, so this must cost in proportion to what is read.
        """
        raise NotImplementedError

    def tickets_matching_since(self, conn: Any, query: str, ticket_ids: Sequence[int],
                               position: int) -> set[int]:
        """Those of ``ticket_ids`` with an entry at or after ``position`` matching ``query``
        (they were listed in an earlier window, at that newer match)."""
        raise NotImplementedError

    # --- JSON (the columns hold JSON as text on both backends) -------------------------

    def json_ids_agg(self, expr: str) -> str:
        """Aggregate: the values of ``expr`` as JSON array text, ``'[]'`` when none."""
        raise NotImplementedError

    def json_elements(self, column: str, alias: str) -> str:
        """FROM item: one row per element of the JSON array ``column``, as ``alias.value``."""
        raise NotImplementedError

    def json_get(self, expr: str, key: str) -> str:
        """The value under ``key`` of the JSON object ``expr``, comparable with ``json_param``
        and ``json_literal`` (``key`` is a trusted identifier, not input)."""
        raise NotImplementedError

    def json_text(self, expr: str, key: str) -> str:
        """The string under ``key`` of the JSON object ``expr``, as SQL text."""
        raise NotImplementedError

    def json_param(self) -> str:
        """A ``?`` placeholder whose value compares equal to a ``json_get`` result."""
        raise NotImplementedError

    def json_literal(self, json_text: str) -> str:
        """A constant JSON value (``json_text`` is trusted SQL-safe JSON, no quotes)."""
        raise NotImplementedError

    def json_valid(self, expr: str) -> str:
        """Condition: ``expr`` holds well-formed JSON."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Dialect {self.name}>"


class _Sqlite(Dialect):
    name = "sqlite"
    entries_from = "entries_fts f JOIN entries e ON e.id = f.rowid"
    entries_match = "entries_fts MATCH ?"
    contacts_matching = "SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ?"
    # SQLite would otherwise pick ticket_tags' primary key and sort every tagged ticket.
    tag_index_hint = "INDEXED BY ticket_tags_recent"

    def fts_query(self, text: str) -> str | None:
        return fts5_query(text)

    def name_query(self, text: str) -> str | None:
        terms = [f'"{m.group(1)}"*' for m in TERM.finditer(text)]
        return " ".join(terms) or None

    def newest_matches(self, conn: Any, query: str, before: int | None
                       ) -> Iterator[tuple[int, int]]:
        # FTS5 walks its index by rowid in either direction and sqlite3 steps the
        # statement as rows are fetched, so one unbounded statement streams.
        sql = f"SELECT f.rowid, e.ticket_id FROM {self.entries_from} WHERE {self.entries_match}"
        params: list[Any] = [query]
        if before is not None:
            sql += " AND f.rowid < ?"
            params.append(before)
        cursor = self.run_match(conn, sql + " ORDER BY f.rowid DESC", params)
        if isinstance(cursor, list):
            return
        while batch := cursor.fetchmany(256):
            yield from batch

    def tickets_matching_since(self, conn: Any, query: str, ticket_ids: Sequence[int],
                               position: int) -> set[int]:
        # Each newer entry of each ticket by its FTS5 rowid: a few point look-ups, where
        # a join would read every match of a common word.
        sql = "SELECT 1 FROM entries_fts WHERE entries_fts MATCH ? AND rowid = ?"
        found = set()
        for ticket_id in ticket_ids:
            newer_ids = [row[0] for row in conn.execute(
                "SELECT id FROM entries WHERE ticket_id = ? AND id >= ?", (ticket_id, position))]
            if any(list(self.run_match(conn, sql, (query, entry_id))) for entry_id in newer_ids):
                found.add(ticket_id)
        return found

    def json_ids_agg(self, expr: str) -> str:
        return f"json_group_array({expr})"

    def json_elements(self, column: str, alias: str) -> str:
        return f"json_each({column}) AS {alias}"

    def json_get(self, expr: str, key: str) -> str:
        return f"json_extract({expr}, '$.{key}')"

    def json_text(self, expr: str, key: str) -> str:
        return f"json_extract({expr}, '$.{key}')"

    def json_param(self) -> str:
        return "?"

    def json_literal(self, json_text: str) -> str:
        return f"'{json_text}'"  # json_extract gives arrays as minified JSON text

    def json_valid(self, expr: str) -> str:
        return f"json_valid({expr})"


# The tsvector columns and the 'smsdesk' configuration are made by core.schema_pg: words
# are runs of letters and digits, folded for case and accents (simple + unaccent).
_TSQUERY = "to_tsquery('smsdesk', ?)"


class _Postgres(Dialect):
    name = "postgresql"
    entries_from = "entries e"
    entries_match = f"e.body_tsv @@ {_TSQUERY}"
    contacts_matching = f"SELECT id FROM contacts WHERE name_tsv @@ {_TSQUERY}"
    tag_index_hint = ""

    def run_match(self, conn: Any, sql: str, params: Sequence[Any]) -> Any:
        """Run a full-text statement planned for its own values, never a generic plan.

        psycopg prepares a statement on its fifth run, and PostgreSQL may then plan it once
        for any values. For full text that plan is blind to how common the word is and how
        wide the id range: it ANDs a bitmap of the whole range with one of every match,
        70-90 ms at 1M messages where the planned-for-its-values statement takes 0.1 ms.
        An unnamed statement (``prepare=False``) is planned at each run, for its values.
        """
        from core.pg import to_dollar_params

        return conn.raw.cursor().execute(to_dollar_params(sql), params or None, prepare=False)

    def fts_query(self, text: str) -> str | None:
        """``'word' & 'pre':*``: the same words fts_query keeps, as a tsquery.

        Each word is quoted, so nothing an agent types is tsquery syntax; the words hold
        letters and digits only, so no quote needs escaping. to_tsquery folds them with
        the configuration the columns were indexed with.
        """
        terms = [f"'{m.group(1)}':*" if m.group(2) else f"'{m.group(1)}'"
                 for m in TERM.finditer(text)]
        return " & ".join(terms) or None

    def name_query(self, text: str) -> str | None:
        return " & ".join(f"'{m.group(1)}':*" for m in TERM.finditer(text)) or None

    def newest_matches(self, conn: Any, query: str, before: int | None
                       ) -> Iterator[tuple[int, int]]:
        """Newest first: id ranges read in turn while the word is dense, then its index.

        psycopg reads a whole result at once, so one unbounded statement would fetch every
        match of a common word, and no single plan suits every word (measured at 1M
        messages, each statement planned for its own values):

        * ``ORDER BY id DESC LIMIT n``: the planner walks the primary key backwards hoping
          to meet n matches soon, which for a word rarer than it thinks reads most of the
          table (69 ms at 300k messages).
        * A wide id range: the planner ANDs a bitmap of the whole range with the word's
          (50 ms for 283k ids), however rare the word.
        * The word's index alone, sorted (``ORDER BY id + 0``): a bitmap of every match,
          0.3 ms for a rare word, 80 ms for one in three messages.

        So the walk reads narrow id ranges (at most NARROW ids, sized from the matches the
        last one held) while they hold enough; once the word proves sparse (the next range
        would be wider than NARROW) the rest comes from its index, below the last range,
        MOST_ROWS at a time. A common word fills a window within a range or two; a rare
        one costs one range and one index read.
        """
        oldest, newest = conn.execute("SELECT min(id), max(id) FROM entries").fetchone()
        if oldest is None:
            return
        high, span = (newest + 1 if before is None else before), FIRST_SPAN
        ranged = ("SELECT e.id, e.ticket_id FROM entries e WHERE e.id >= ? AND e.id < ?"
                  f" AND {self.entries_match} ORDER BY e.id DESC LIMIT ?")
        while high > oldest and span <= NARROW:
            low = max(high - span, oldest)
            rows = self.run_match(conn, ranged, (low, high, query, MOST_ROWS)).fetchall()
            yield from ((row[0], row[1]) for row in rows)
            if len(rows) == MOST_ROWS:  # the range holds more: go on below its last match
                span = _next_span(high - rows[-1][0], len(rows))
                high = rows[-1][0]
            else:
                span = _next_span(span, len(rows))
                high = low
        # ``+ 0``: neither the order nor the bound may be read from the primary key.
        indexed = ("SELECT e.id, e.ticket_id FROM entries e WHERE e.id + 0 < ?"
                   f" AND {self.entries_match} ORDER BY e.id + 0 DESC LIMIT ?")
        while high > oldest:
            rows = self.run_match(conn, indexed, (high, query, MOST_ROWS)).fetchall()
            yield from ((row[0], row[1]) for row in rows)
            if len(rows) < MOST_ROWS:
                return
            high = rows[-1][0]

    def tickets_matching_since(self, conn: Any, query: str, ticket_ids: Sequence[int],
                               position: int) -> set[int]:
        # One statement for the batch: the tsvector is a column of the entry itself.
        marks = ", ".join("?" * len(ticket_ids))
        return {row[0] for row in self.run_match(
            conn,
            f"SELECT DISTINCT e.ticket_id FROM entries e WHERE e.ticket_id IN ({marks})"
            f" AND e.id >= ? AND {self.entries_match}", (*ticket_ids, position, query))}

    def json_ids_agg(self, expr: str) -> str:
        # ::text, or psycopg would hand back a parsed list; json_agg of no rows is NULL.
        return f"coalesce(json_agg({expr} ORDER BY {expr})::text, '[]')"

    def json_elements(self, column: str, alias: str) -> str:
        return f"jsonb_array_elements({column}::jsonb) AS {alias}(value)"

    def json_get(self, expr: str, key: str) -> str:
        return f"({expr}::jsonb -> '{key}')"

    def json_text(self, expr: str, key: str) -> str:
        return f"({expr}::jsonb ->> '{key}')"

    def json_param(self) -> str:
        return "to_jsonb(?)"

    def json_literal(self, json_text: str) -> str:
        return f"'{json_text}'::jsonb"

    def json_valid(self, expr: str) -> str:
        # PostgreSQL 15 has no IS JSON; the desk writes only well-formed JSON (json.dumps).
        return "TRUE"


def _next_span(span: int, matches: int) -> int:
    """The next range's width: aimed at MATCHES_PER_SPAN matches, at most WIDEN times wider."""
    if matches == 0:
        return span * WIDEN
    return max(MATCHES_PER_SPAN, min(span * WIDEN, span * MATCHES_PER_SPAN // matches))


SQLITE: Dialect = _Sqlite()
POSTGRES: Dialect = _Postgres()


def dialect_of(conn: Any) -> Dialect:
    """The connection's dialect. A plain ``sqlite3`` connection (a test's, a bench's, not
    opened by the store) has none and is SQLite."""
    return getattr(conn, "dialect", SQLITE)
