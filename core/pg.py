"""core/'s sqlite3-style SQL, run unchanged on PostgreSQL through psycopg 3.

Every query and write in core/ is a synchronous ``fn(conn, ...)`` calling
``conn.execute("... ? ...", params)`` and reading rows as ``row["col"]``, ``row[0]`` or by
unpacking. ``PgConn`` gives a psycopg connection that same surface, so about 190 SQL sites
stay as they are:

- ``?`` and ``?N`` become PostgreSQL's ``$n``, once per SQL string (cached), and run with
  ``psycopg.RawCursor``, which sends ``$n`` parameters natively (no client-side quoting).
- Text parameters have NUL replaced by U+FFFD (PostgreSQL's text cannot hold it).
- Python ``bool`` parameters are sent as the integers 0/1: flag columns are ``integer`` in
  both schemas, and PostgreSQL refuses a boolean where an integer is expected.
- Rows are ``Row``: a tuple that also answers to column names, like ``sqlite3.Row``.
- The connection is in autocommit mode, like sqlite3 with ``isolation_level=None``: the
  store issues BEGIN, SAVEPOINT and COMMIT itself.
- Statements whose answer nobody reads (the store writer's BEGIN, SAVEPOINT, RELEASE, its
  lock and its NOTIFY) are *deferred*: sent ahead of the next statement that needs an
  answer, in one round trip (psycopg's pipeline mode). A webhook's batch was about 15
  round trips, each costing both processes ~100 µs of CPU in system calls and wake-ups.
  The server runs them in the same order as before; only the client stops waiting
  between them. Should a deferred statement fail, the connection refuses everything but
  a full ROLLBACK, so no job can be told it succeeded in a transaction that went wrong,
  and a COMMIT that PostgreSQL turned into a ROLLBACK raises rather than passing.

This module imports psycopg at its top, so it must itself be imported only when a
``postgresql://`` database is used (the SQLite desk never loads the driver).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import psycopg
from psycopg.adapt import Dumper
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg.rows import RowMaker

from core.dialect import POSTGRES, Dialect

# The SQL strings a process runs are few (dynamic ``IN (?,?,…)`` lists add a handful each).
TRANSLATION_CACHE = 4096

# What the translator must step over whole, and the placeholders it rewrites. One
# alternation, so a quote inside a comment or a ``--`` inside a literal is seen correctly.
_TOKENS = re.compile(
    r"""
      '(?:[^']|'')*'                        # 'string literal' ('' is a quote inside)
    | "(?:[^"]|"")*"                        # "quoted identifier"
    | --[^\n]*                              # -- comment to the end of the line
    | /\*.*?\*/                             # /* block comment */
    | (?P<dollar>\$(?:[A-Za-z_]\w*)?\$).*?(?P=dollar)  # $tag$ dollar-quoted body $tag$
    | \?(?P<number>\d*)                     # ? or ?N: a placeholder
    """,
    re.VERBOSE | re.DOTALL,
)


@functools.lru_cache(maxsize=TRANSLATION_CACHE)
def to_dollar_params(sql: str) -> str:
    """Rewrite SQLite's ``?`` and ``?N`` placeholders as PostgreSQL's ``$n``.

    Numbering follows SQLite: ``?N`` is parameter N, and a bare ``?`` is one more than
    the largest number given so far (so plain ``?`` count 1, 2, 3…). Placeholders inside
    quoted literals, quoted identifiers, comments and dollar-quoted bodies are left alone.
    The SQL must not use PostgreSQL's jsonb ``?`` operators: they would be taken for
    placeholders (``jsonb_exists`` is the spelling that works).
    """
    if "?" not in sql:
        return sql
    largest = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal largest
        number = match.group("number")
        if number is None:  # a literal, identifier or comment: kept as it is
            return match.group(0)
        index = int(number) if number else largest + 1
        largest = max(largest, index)
        return f"${index}"

    return _TOKENS.sub(replace, sql)


class Row(tuple[Any, ...]):
    """A result row: a tuple that also answers ``row["name"]`` and ``keys()``, like sqlite3.Row.

    Each set of column names gets its own subclass (cached), holding the name → index map,
    so a row is just a tuple: no per-row dict. As with sqlite3.Row, a name is matched
    without regard to case, and where two columns share a name the first one wins. Because
    it is a tuple, unpacking, ``row[0]``, slices, ``len`` and ``tuple(row)`` work as on a
    tuple, and ``in`` looks at values (as sqlite3.Row's does).
    """

    __slots__ = ()
    _names: ClassVar[tuple[str, ...]] = ()
    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if key.__class__ is str:
            index = self._index.get(key)
            if index is None:
                index = self._index.get(key.lower())
                if index is None:
                    raise IndexError(f"No item with that key: {key!r}")
            return tuple.__getitem__(self, index)
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


@functools.lru_cache(maxsize=TRANSLATION_CACHE)
def row_class(names: tuple[bytes, ...]) -> type[Row]:
    """The Row subclass for one result's column names as the server sends them (UTF-8).

    Cached by those raw names: a class is costly to make, and decoding on every
    statement would cost more than the lookup.
    """
    decoded = tuple(name.decode() for name in names)
    index: dict[str, int] = {}
    for position, name in enumerate(decoded):
        index.setdefault(name, position)
    for position, name in enumerate(decoded):
        index.setdefault(name.lower(), position)
    return type("Row", (Row,), {"__slots__": (), "_names": decoded, "_index": index})


def _rows(cursor: psycopg.Cursor[Any]) -> RowMaker[Row]:
    """psycopg's row factory: called once per result, it picks the Row class for it.

    It reads the names from the raw result rather than ``cursor.description``, which
    builds a Column object per column: 1.5 µs against 9 per statement.
    """
    result = cursor.pgresult
    if result is None or not result.nfields:  # a statement with no result: no rows
        return Row
    fname = result.fname
    return row_class(tuple([fname(i) or b"" for i in range(result.nfields)]))


def without_nul(params: Sequence[Any]) -> Sequence[Any]:
    """The parameters with NUL characters in text replaced by U+FFFD.

    PostgreSQL's text cannot hold NUL (SQLite's can), and psycopg refuses such a value
    with DataError: a signed webhook whose Body is "\\x00", or an agent's note, would fail
    on PostgreSQL alone. Replacing it in every text parameter, values and look-ups alike,
    keeps what is stored and what is searched for consistent. Parameters hold NUL almost
    never, so the common case only scans them once and returns them as they were.
    """
    for value in params:
        if value.__class__ is str and "\x00" in value:
            return [v.replace("\x00", "\ufffd") if v.__class__ is str else v for v in params]
    return params


class _BoolAsInt(Dumper):
    """Sends True/False as the integers 1/0 (``smallint``), for integer flag columns."""

    oid = psycopg.adapters.types["int2"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


PgCursor = psycopg.Cursor[Row]  # a RawCursor at run time (connect's cursor_factory)

# What the store's writer issues without reading the answer: ``execute`` defers these
# (exactly these strings, without parameters) to the next statement that needs one. The
# bot's savepoint (core.bot_writes) is one of them: two round trips fewer per bot turn.
DEFERRED_BY_DEFAULT = frozenset({"BEGIN", "SAVEPOINT job", "RELEASE job",
                                 "SAVEPOINT bot_turn", "RELEASE SAVEPOINT bot_turn"})
_SUCCEEDED = (psycopg.pq.ExecStatus.COMMAND_OK, psycopg.pq.ExecStatus.TUPLES_OK)


class DeferredStatementFailed(psycopg.errors.InFailedSqlTransaction):
    """A statement sent ahead failed earlier in this transaction: only ROLLBACK may run.

    Why refuse even ``ROLLBACK TO`` a savepoint: the failed statement may have been the
    very SAVEPOINT or RELEASE that savepoint depends on, so rolling back to "job" could
    undo an earlier job already counted as done. Failing the whole transaction is safe.
    """


class PgConn:
    """A psycopg connection with the sqlite3 surface core/ uses (see core.db.Conn).

    ``raw`` is the psycopg connection itself, for what only PostgreSQL has (LISTEN, COPY).
    """

    dialect: Dialect = POSTGRES  # the SQL fragments that differ from SQLite's

    def __init__(self, raw: psycopg.Connection[Row]) -> None:
        self.raw = raw
        self._deferred: list[tuple[str, Sequence[Any] | None]] = []
        self._failed_ahead: psycopg.Error | None = None  # a deferred statement's error

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        """Run one statement with ``?``/``?N`` placeholders; rows come back as ``Row``.

        BEGIN and the writer's and the bot's SAVEPOINT and RELEASE are deferred (see
        ``defer``); what they return is an unexecuted cursor, as nobody reads it.
        """
        if sql in DEFERRED_BY_DEFAULT and not params:
            self.defer(sql)
            return self.raw.cursor()
        if sql == "ROLLBACK":  # what was deferred would be undone anyway: not sent
            self._deferred.clear()
            self._failed_ahead = None
        elif self._failed_ahead is not None:
            raise DeferredStatementFailed(
                f"a statement sent ahead failed ({self._failed_ahead}): roll back")
        query, values = to_dollar_params(sql), without_nul(params) or None
        if self._deferred:
            cursor = self._after_deferred(query, values)
        else:
            cursor = self.raw.cursor().execute(query, values)
        if sql == "COMMIT" and cursor.statusmessage != "COMMIT":
            # PostgreSQL answers COMMIT in a failed transaction with ROLLBACK, no error.
            raise psycopg.errors.InFailedSqlTransaction(
                f"COMMIT was answered {cursor.statusmessage!r}: nothing was committed")
        return cursor

    def defer(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Send ``sql`` with the next statement whose answer is read, in one round trip.

        For statements whose result nobody reads. The server still runs them first and
        in order (a lock deferred is taken before the next statement runs); their errors
        surface at that next statement, and then the transaction can only roll back.
        """
        self._deferred.append((to_dollar_params(sql), without_nul(params) or None))

    def _after_deferred(self, query: str, values: Sequence[Any] | None) -> PgCursor:
        """Run the deferred statements, then ``query``, in one pipeline: one round trip."""
        deferred, self._deferred = self._deferred, []
        raw = self.raw
        sent: list[PgCursor] = []
        try:
            with raw.pipeline():
                for ahead, ahead_values in deferred:
                    sent.append(raw.cursor().execute(ahead, ahead_values))
                cursor: PgCursor = raw.cursor().execute(query, values)
        except psycopg.Error as error:
            if not all(c.pgresult is not None and c.pgresult.status in _SUCCEEDED
                       for c in sent):
                self._failed_ahead = error  # not this statement's own failure
            raise
        return cursor

    def _send_deferred(self) -> None:
        if self._deferred:
            self._after_deferred("SELECT 1", None)

    def executemany(self, sql: str, seq_of_params: Iterable[Sequence[Any]]) -> PgCursor:
        """Run one statement once per parameter set (psycopg pipelines them)."""
        if self._failed_ahead is not None:
            raise DeferredStatementFailed(
                f"a statement sent ahead failed ({self._failed_ahead}): roll back")
        self._send_deferred()
        cursor: PgCursor = self.raw.cursor()
        cursor.executemany(to_dollar_params(sql), map(without_nul, seq_of_params))
        return cursor

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open, failed ones included (they still need a ROLLBACK)."""
        if self._deferred or self._failed_ahead is not None:  # a BEGIN may be waiting
            return True
        status = self.raw.info.transaction_status
        return status == TransactionStatus.INTRANS or status == TransactionStatus.INERROR

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def close(self) -> None:
        self._deferred.clear()
        self.raw.close()


def connect(url: str, *, read_only: bool = False) -> PgConn:
    """Open a PostgreSQL connection for core/'s SQL.

    ``read_only`` makes every transaction read-only by default (as the SQLite readers'
    ``query_only``), set at connection start, so it holds even after ``RESET ALL``.
    """
    if read_only:
        url = _with_option(url, "-c default_transaction_read_only=on")
    raw: psycopg.Connection[Row] = psycopg.Connection.connect(
        url, autocommit=True, row_factory=_rows, cursor_factory=psycopg.RawCursor,
        client_encoding="UTF8")  # so that column names decode as UTF-8 (row_class)
    raw.adapters.register_dumper(bool, _BoolAsInt)
    return PgConn(raw)


def _with_option(url: str, option: str) -> str:
    """The connection string with one more server option, after any it already has."""
    params = {key: str(value) for key, value in conninfo_to_dict(url).items()
              if value is not None}
    params["options"] = f"{params.get('options', '')} {option}".strip()
    return make_conninfo("", **params)
