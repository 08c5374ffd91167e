"""``smsdesk migrate --to postgresql://…``: a SQLite desk moved to PostgreSQL, resumable.

What it keeps: every row with its id, and ``events.seq`` as it was, so agents' ``last_seq``
stay valid and a reconnecting inbox resumes where it was; then every identity continues
above the highest id ever given (SQLite's AUTOINCREMENT counters included), so a purged
ticket's number is never given again. Media files go into the ``media`` table.

How it stays safe to run again:

* The target is migrated to this smsdesk's schema first, and claimed with a fingerprint
  of the source (its first event, account and agent) in ``smsdesk_migrated_from``. A
  target with rows and no claim, or another desk's claim, is refused: migrating into a
  live database would mix two desks.
* Tables are copied in foreign-key order, in chunks of rows keyed by id, one transaction
  each (under the store's write lock, like any writer). A run that stops (Ctrl+C, a lost
  connection) leaves whole chunks; the next run goes on from ``max(id)`` in the target.
  Tables keyed otherwise are copied again with ``ON CONFLICT DO NOTHING``.
* ``ticket_tags`` is not copied: PostgreSQL's triggers rebuild it as tickets arrive.
  Each contact's first phone is likewise added by a trigger; ``contact_phones`` is then
  copied over those rows, so each phone's STOP state and history is the source's.
* A finished migration is only verified again, never copied over: relays may already be
  writing to the target.

Verification reads both sides afresh: per table, the row count and an order-independent
checksum (the sum of each row's sha256, the row as JSON) computed the same way on both
sides; media by digest and size, and every stored media's bytes against its digest.

The source must not be in use: a relay writing during the copy would make the copy stale
(verification would then fail). ``in_use`` refuses a SQLite file another process has
open, as SQLite's own shared-memory lock shows it.

psycopg is imported only when this runs, so the SQLite desk never needs it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.schema import SCHEMA_VERSION

CHUNK_ROWS = 5000
MARKER = "smsdesk_migrated_from"
# A session advisory lock: one migration into a database at a time ("smsdcopy").
COPY_LOCK = 0x736D7364636F7079
# SQLite's unix VFS: every connection to a WAL database holds a shared lock on this byte
# of the ``-shm`` file for as long as it is open (the "dead man switch").
SHM_DMS_BYTE = 128

Progress = Callable[[str], None]


class MigrationRefused(Exception):
    """The migration cannot start or go on; the message says why and what to do."""


@dataclass(frozen=True)
class Table:
    """One table to copy. ``key`` is its primary key; an ``identity`` key is copied in
    chunks after the target's highest, others again whole, ``ON CONFLICT {conflict}``."""

    name: str
    key: tuple[str, ...] = ("id",)
    identity: bool = True
    conflict: str = "DO NOTHING"


def _keyed(name: str, *key: str, conflict: str = "DO NOTHING") -> Table:
    return Table(name, key, identity=False, conflict=conflict)


# Foreign-key order: each table after every table it references.
TABLES: tuple[Table, ...] = (
    Table("accounts"),
    Table("agent_groups"),
    Table("phone_numbers"),
    Table("contacts"),
    _keyed("contact_phones", "e164", conflict="(e164) DO UPDATE SET contact_id ="
           " excluded.contact_id, opted_out = excluded.opted_out, added_at = excluded.added_at"),
    Table("opt_out_changes"),
    Table("agents"),
    _keyed("agent_group_members", "agent_id", "group_id"),
    Table("tickets"),
    Table("entries"),
    Table("time_entries"),
    Table("events", ("seq",)),
    _keyed("settings", "key"),
    _keyed("command_results", "agent_id", "command_id"),
    Table("early_statuses"),
    Table("held_texts"),
    _keyed("running_timers", "agent_id"),
    Table("ticket_fields"),
    Table("canned_folders"),
    Table("canned_responses"),
    Table("scenarios"),
    _keyed("scenario_runs", "agent_id", "command_id", "ticket_id"),
    _keyed("command_result_tickets", "ticket_id", "agent_id", "command_id"),
    _keyed("business_hours", "scope", "scope_id"),
    _keyed("bot_flows", "number_id"),
    _keyed("bot_sessions", "ticket_id"),
    Table("csat_surveys"),
    _keyed("sla_targets", "priority"),
    _keyed("report_counts", "metric", "scope", "key", "number_id", "channel", "hour_of_day",
           "hour", conflict="(metric, scope, key, number_id, channel, hour_of_day, hour)"
                    " DO UPDATE SET n = excluded.n"),
)
# Filled by PostgreSQL's triggers from the tables above; compared by count only (its
# tags are equal "whatever their case", which PostgreSQL's ICU collation also applies to
# accented letters: a ticket tagged both "É" and "é" keeps one row there).
DERIVED = ("ticket_tags",)


@dataclass
class Checked:
    """One line of the summary: what the source has, what the target has."""

    name: str
    source_rows: int
    target_rows: int
    copied_now: int = 0
    source_sum: str = ""
    target_sum: str = ""

    @property
    def ok(self) -> bool:
        return (self.source_rows, self.source_sum) == (self.target_rows, self.target_sum)


@dataclass
class Report:
    tables: list[Checked] = field(default_factory=list)
    derived: list[Checked] = field(default_factory=list)
    media: Checked | None = None
    damaged_media: list[str] = field(default_factory=list)
    already_finished: bool = False

    @property
    def ok(self) -> bool:
        checked = [*self.tables, *([self.media] if self.media else [])]
        return all(c.ok for c in checked)

    def summary(self) -> str:
        lines = [f"{'table':<24}{'rows':>10}{'copied now':>12}  check"]
        for c in self.tables + ([self.media] if self.media else []):
            verdict = "ok" if c.ok else (f"MISMATCH (target has {c.target_rows} rows)"
                                         if c.source_rows != c.target_rows
                                         else "MISMATCH (checksum)")
            lines.append(f"{c.name:<24}{c.source_rows:>10}{c.copied_now:>12}  {verdict}")
        for c in self.derived:
            verdict = ("ok (rebuilt by PostgreSQL)" if c.source_rows == c.target_rows else
                       f"rebuilt by PostgreSQL: {c.target_rows} rows (SQLite had"
                       f" {c.source_rows}: tags differing only in accents' case are one)")
            lines.append(f"{c.name:<24}{c.target_rows:>10}{'':>12}  {verdict}")
        for name in self.damaged_media:
            lines.append(f"not copied: media file {name} does not match its name (damaged)")
        if self.already_finished:
            lines.append("This database was migrated from this desk already: nothing copied,"
                         " verified again.")
        if self.ok:
            lines.append("Verified: every table and media item matches. Start the relays"
                         " with --database on it; keep the SQLite desk stopped.")
        else:
            lines.append("NOT verified: the copy differs from the SQLite desk (was a relay"
                         " running on either?). Do not start relays on it; migrate into a"
                         " new empty database.")
        return "\n".join(lines)


# --- the checksum, the same on both sides ---------------------------------------------


def checksum(rows: Iterable[Sequence[Any]]) -> tuple[int, str]:
    """(row count, a checksum that does not depend on row order).

    Each row is hashed as JSON of its values (integers, text and NULL read the same from
    both drivers); the hashes are summed modulo 2**128. No ORDER BY is needed, so the
    collations of the two databases (SQLite's binary, PostgreSQL's ICU) cannot differ.
    """
    total = 0
    count = 0
    for row in rows:
        encoded = json.dumps(list(row), separators=(",", ":"), default=repr).encode()
        total += int.from_bytes(hashlib.sha256(encoded).digest()[:16], "big")
        count += 1
    return count, f"{total % (1 << 128):032x}"


# --- the source ------------------------------------------------------------------------


def in_use(path: Path) -> bool:
    """Whether another process has the SQLite database at ``path`` open (a relay, a CLI).

    Each connection to a WAL database holds a shared lock on one byte of its ``-shm``
    file while open; an exclusive lock on it is refused then. Call this before this
    process opens the file: POSIX locks are per process, and closing our descriptor
    would drop our own connection's locks. Only where fcntl exists (not Windows).
    """
    shm = Path(f"{path}-shm")
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        return False  # no WAL index: nobody has it open in WAL mode
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, SHM_DMS_BYTE)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, SHM_DMS_BYTE)
        return False
    finally:
        os.close(fd)


def open_source(path: Path) -> sqlite3.Connection:
    """The SQLite desk, read only, refused if in use or not at this smsdesk's schema."""
    if not path.is_file():
        raise MigrationRefused(f"{path}: there is no SQLite desk there")
    if in_use(path):
        raise MigrationRefused(f"{path} is in use by another process: stop the relay (and any"
                               " smsdesk command) on this desk first")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                           isolation_level=None)
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as error:
        conn.close()
        raise MigrationRefused(f"{path} cannot be read as an SQLite desk ({error})") from None
    if found != SCHEMA_VERSION:
        conn.close()
        if found > SCHEMA_VERSION:
            raise MigrationRefused(f"{path} is at schema version {found}, newer than this"
                                   f" smsdesk ({SCHEMA_VERSION}): migrate with that version")
        raise MigrationRefused(f"{path} is at schema version {found}: upgrade it first by"
                               " running this smsdesk on it once (e.g. `smsdesk agent list`)")
    return conn


def fingerprint(src: sqlite3.Connection) -> str:
    """What identifies a desk whatever its file is called: its first event, account and
    agent (rows that are never deleted or rewritten)."""
    parts = [src.execute(sql).fetchone() for sql in (
        "SELECT seq, at, kind, payload FROM events ORDER BY seq LIMIT 1",
        "SELECT id, sid, created_at FROM accounts ORDER BY id LIMIT 1",
        "SELECT id, name, created_at FROM agents ORDER BY id LIMIT 1",
    )]
    encoded = json.dumps([None if p is None else list(p) for p in parts]).encode()
    return hashlib.sha256(encoded).hexdigest()


def source_columns(src: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in src.execute(f"PRAGMA table_info({table})")]


def source_tables(src: sqlite3.Connection) -> set[str]:
    rows = src.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                       " AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL%'"
                       " AND name NOT LIKE '%_fts_%'")
    return {r[0] for r in rows}


# --- the target ------------------------------------------------------------------------


def target_columns(pg: Any, table: str) -> list[str]:
    """The columns data is copied into: all but the generated ones (search vectors)."""
    rows = pg.execute("SELECT column_name FROM information_schema.columns"
                      " WHERE table_schema = current_schema() AND table_name = %s"
                      " AND is_generated = 'NEVER' ORDER BY ordinal_position", (table,))
    return [r[0] for r in rows]


def target_tables(pg: Any) -> set[str]:
    rows = pg.execute("SELECT table_name FROM information_schema.tables"
                      " WHERE table_schema = current_schema()")
    return {r[0] for r in rows}


def check_same_schema(src: sqlite3.Connection, pg: Any) -> dict[str, list[str]]:
    """Each table's columns, the same on both sides; every table known to this module."""
    known = {t.name for t in TABLES} | set(DERIVED)
    unknown = source_tables(src) ^ known  # a table left behind would be data lost
    if unknown:
        raise MigrationRefused(f"the SQLite schema has tables this migration does not know"
                               f" (or lacks some): {sorted(unknown)}")
    missing = known - target_tables(pg)  # its own tables (media, claims...) are no concern
    if missing:
        raise MigrationRefused(f"the PostgreSQL schema lacks tables: {sorted(missing)}")
    columns = {}
    for table in TABLES:
        lite, post = source_columns(src, table.name), target_columns(pg, table.name)
        if lite != post:
            raise MigrationRefused(f"{table.name}: columns differ (SQLite {lite},"
                                   f" PostgreSQL {post})")
        columns[table.name] = lite
    return columns


def claim(pg: Any, mark: str, source: Path) -> bool:
    """Claim the target for this source; True if an earlier run already finished."""
    pg.execute(f"CREATE TABLE IF NOT EXISTS {MARKER} (fingerprint text PRIMARY KEY,"
               " source text NOT NULL, started_at bigint NOT NULL, finished_at bigint)")
    with pg.transaction():
        rows = pg.execute(f"SELECT fingerprint, finished_at FROM {MARKER}").fetchall()
        ours = [r for r in rows if r[0] == mark]
        if ours:
            return ours[0][1] is not None
        filled = [t for t in (*(t.name for t in TABLES), *DERIVED, "media")
                  if pg.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").fetchone()[0]]
        if filled:
            whose = "another desk's migration" if rows else "data"
            raise MigrationRefused(f"the target database is not empty (it has {whose}, in"
                                   f" {', '.join(filled[:4])}{'…' if len(filled) > 4 else ''}):"
                                   " migrate into a new, empty database")
        pg.execute(f"DELETE FROM {MARKER}")
        pg.execute(f"INSERT INTO {MARKER}(fingerprint, source, started_at) VALUES (%s, %s, %s)",
                   (mark, str(source), int(time.time() * 1000)))
    return False


# --- copying ---------------------------------------------------------------------------


def _write_lock(pg: Any) -> None:
    from core.store_pg import WRITE_LOCK

    pg.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))


def copy_by_id(src: sqlite3.Connection, pg: Any, table: Table, columns: list[str],
               chunk_rows: int, progress: Progress) -> int:
    """Rows after the target's highest key, in key order, one COPY per chunk."""
    key = table.key[0]
    names = ", ".join(columns)
    at = columns.index(key)
    last = int(pg.execute(f"SELECT coalesce(max({key}), 0) FROM {table.name}").fetchone()[0])
    copied = 0
    while True:
        rows = src.execute(f"SELECT {names} FROM {table.name} WHERE {key} > ? ORDER BY {key}"
                           " LIMIT ?", (last, chunk_rows)).fetchall()
        if not rows:
            return copied
        with pg.transaction():
            _write_lock(pg)
            with pg.cursor().copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            _set_identity(pg, table, rows[-1][at])
        last = rows[-1][at]
        copied += len(rows)
        progress(f"{table.name}: {copied} rows copied")


def copy_by_key(src: sqlite3.Connection, pg: Any, table: Table, columns: list[str],
                chunk_rows: int, progress: Progress) -> int:
    """All rows again, in key order, each ``ON CONFLICT``: what is there stays."""
    names = ", ".join(columns)
    keys = ", ".join(table.key)
    at = [columns.index(k) for k in table.key]
    after = f"WHERE ({keys}) > ({', '.join('?' * len(at))})"
    insert = (f"INSERT INTO {table.name} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
              f" ON CONFLICT {table.conflict}")
    before = _count(pg, table.name)
    last: tuple[Any, ...] | None = None
    read = 0
    while True:
        rows = src.execute(f"SELECT {names} FROM {table.name} {after if last else ''}"
                           f" ORDER BY {keys} LIMIT ?", (*(last or ()), chunk_rows)).fetchall()
        if not rows:
            return _count(pg, table.name) - before
        with pg.transaction():
            _write_lock(pg)
            pg.cursor().executemany(insert, rows)
        last = tuple(rows[-1][i] for i in at)
        read += len(rows)
        progress(f"{table.name}: {read} rows copied")


def _count(pg: Any, table: str) -> int:
    return int(pg.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _set_identity(pg: Any, table: Table, value: int) -> None:
    """The identity's next value comes after ``value`` (or starts at 1 for 0)."""
    pg.execute("SELECT setval(pg_get_serial_sequence(%s, %s), %s, %s)",
               (table.name, table.key[0], max(int(value), 1), value > 0))


def set_identities(src: sqlite3.Connection, pg: Any) -> None:
    """Each identity after the highest id copied, or SQLite's AUTOINCREMENT counter where
    that is higher (ids of purged tickets are never given again)."""
    counters = dict(src.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    for table in TABLES:
        if table.identity:
            key = table.key[0]
            top = int(pg.execute(f"SELECT coalesce(max({key}), 0) FROM {table.name}")
                      .fetchone()[0])
            _set_identity(pg, table, max(top, int(counters.get(table.name) or 0)))


def media_files(folder: Path | None) -> list[Path]:
    """The media a SQLite desk keeps: ``<2 hex>/<sha256>`` (temporary files are not)."""
    from server.media import is_digest

    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("??/*")
                  if is_digest(p.name) and p.parent.name == p.name[:2] and p.is_file())


def copy_media(pg: Any, folder: Path | None, progress: Progress) -> tuple[int, list[str]]:
    """Each media file not in the table yet, checked against its name; (copied, damaged)."""
    copied, damaged = 0, []
    for path in media_files(folder):
        if pg.execute("SELECT 1 FROM media WHERE sha256 = %s", (path.name,)).fetchone():
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != path.name:
            damaged.append(path.name)
            continue
        pg.execute("INSERT INTO media(sha256, data, size, stored_at) VALUES (%s, %s, %s, %s)"
                   " ON CONFLICT (sha256) DO NOTHING",
                   (path.name, data, len(data), int(path.stat().st_mtime * 1000)))
        copied += 1
        if copied % 100 == 0:
            progress(f"media: {copied} copied")
    return copied, damaged


# --- verifying -------------------------------------------------------------------------


def _pg_rows(pg: Any, sql: str) -> Iterable[Sequence[Any]]:
    """Rows through a server-side cursor, so a million entries are not all in memory."""
    with pg.cursor(name="smsdesk_verify") as cursor:
        cursor.itersize = 2000
        cursor.execute(sql)
        yield from cursor


def verify(src: sqlite3.Connection, pg: Any, columns: dict[str, list[str]],
           folder: Path | None, report: Report, copied: dict[str, int]) -> None:
    """Counts and checksums of both sides, each read in one consistent snapshot."""
    src.execute("BEGIN")
    try:
        with pg.transaction():
            pg.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            for table in TABLES:
                select = f"SELECT {', '.join(columns[table.name])} FROM {table.name}"
                lite = checksum(src.execute(select))
                post = checksum(_pg_rows(pg, select))
                report.tables.append(Checked(table.name, lite[0], post[0],
                                             copied.get(table.name, 0), lite[1], post[1]))
            for name in DERIVED:
                report.derived.append(Checked(name, _lite_count(src, name), _count(pg, name)))
            report.media = _verify_media(pg, folder, report, copied.get("media", 0))
    finally:
        src.execute("COMMIT")


def _lite_count(src: sqlite3.Connection, table: str) -> int:
    return int(src.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _verify_media(pg: Any, folder: Path | None, report: Report, copied: int) -> Checked:
    damaged = set(report.damaged_media)
    files = [(p.name, p.stat().st_size) for p in media_files(folder) if p.name not in damaged]
    lite = checksum(files)
    post = checksum(_pg_rows(pg, "SELECT sha256, size FROM media"))
    bad = int(pg.execute("SELECT count(*) FROM media WHERE size <> length(data)"
                         " OR encode(sha256(data), 'hex') <> sha256").fetchone()[0])
    return Checked("media", lite[0], post[0], copied, lite[1], post[1] if not bad else "bad")


# --- the whole run ---------------------------------------------------------------------


def migrate(source: Path, url: str, *, media: Path | None = None,
            chunk_rows: int = CHUNK_ROWS, progress: Progress | None = None) -> Report:
    """Copy the SQLite desk at ``source`` (and its ``media`` folder, by default the one
    beside it) into the PostgreSQL database at ``url``; return what was checked."""
    import psycopg

    from core.schema_pg import migrate_pg

    tell = progress or (lambda line: None)
    folder = media if media is not None else source.parent / "media"
    src = open_source(source)
    try:
        with psycopg.connect(url, autocommit=True) as pg:
            if not pg.execute("SELECT pg_try_advisory_lock(%s)", (COPY_LOCK,)).fetchone()[0]:
                raise MigrationRefused("another migration into this database is running")
            migrate_pg(pg)
            columns = check_same_schema(src, pg)
            report = Report(already_finished=claim(pg, fingerprint(src), source))
            copied: dict[str, int] = {}
            if not report.already_finished:
                copied = _copy_everything(src, pg, columns, chunk_rows, tell)
                copied["media"], report.damaged_media = copy_media(pg, folder, tell)
            verify(src, pg, columns, folder, report, copied)
            if report.ok and not report.already_finished:
                pg.execute(f"UPDATE {MARKER} SET finished_at = %s", (int(time.time() * 1000),))
            return report
    finally:
        src.close()


def _copy_everything(src: sqlite3.Connection, pg: Any, columns: dict[str, list[str]],
                     chunk_rows: int, tell: Progress) -> dict[str, int]:
    """Every table from one snapshot of the source (a read transaction held throughout)."""
    copied = {}
    src.execute("BEGIN")
    try:
        for table in TABLES:
            copy = copy_by_id if table.identity else copy_by_key
            copied[table.name] = copy(src, pg, table, columns[table.name], chunk_rows, tell)
        set_identities(src, pg)
    finally:
        src.execute("COMMIT")
    return copied


# --- the command line ------------------------------------------------------------------


def postgres_url(text: str) -> str:
    from core.db import is_postgres_url

    if not is_postgres_url(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a postgresql:// URL")
    return text


def register(commands: Any) -> None:
    """Add ``smsdesk migrate`` to the CLI's sub-commands."""
    parser = commands.add_parser(
        "migrate", help="copy this SQLite desk into a PostgreSQL database (resumable, verified)")
    parser.add_argument("--to", required=True, type=postgres_url, metavar="postgresql://…",
                        help="an empty database (or one an earlier run from this desk filled)")
    parser.add_argument("--from", dest="source", metavar="PATH",
                        help="the SQLite file (default: smsdesk.sqlite3 in SMSDESK_HOME)")
    parser.add_argument("--media", metavar="DIR",
                        help="its media folder (default: media/ beside the file)")
    parser.add_argument("--chunk", type=int, default=CHUNK_ROWS, help=argparse.SUPPRESS)
    parser.set_defaults(run=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    from core.db import database_errors
    from server.cli_checks import fail
    from server.config import check_database, data_paths

    if args.source:
        source = Path(args.source).expanduser()
        check_database(source)
    else:
        source = data_paths().database
    media = Path(args.media).expanduser() if args.media else None
    try:
        report = migrate(source, args.to, media=media, chunk_rows=max(args.chunk, 1),
                         progress=lambda line: print(line, file=sys.stderr, flush=True))
    except MigrationRefused as refused:
        return fail("smsdesk migrate", str(refused))
    except database_errors() as error:
        said = " ".join(str(error).split())  # one line, as every CLI error is
        return fail("smsdesk migrate", f"{said} (nothing is half-copied: run it again to go on)")
    print(report.summary())
    return 0 if report.ok else 1
