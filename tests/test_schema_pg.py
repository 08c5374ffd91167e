"""The PostgreSQL schema matches SQLite's, migrates once under concurrency, and behaves alike.

SQLite's migrated schema is the reference: each of its tables (the FTS5 ones aside: tsvector
columns do their work) must exist in PostgreSQL with the same columns, keys, indexes and
references, so the same SQL runs on both. Triggers and word splitting are checked by
running the same statements on both databases and comparing what comes back.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core import schema, schema_pg
from core.schema import SCHEMA_VERSION, SchemaTooNew

pytest.importorskip("psycopg")

# 0/1 flags stay `integer` in PostgreSQL; every other SQLite INTEGER becomes bigint.
FLAGS = {"connected", "mms", "a2p_registered", "csat", "enabled", "opted_out", "disabled",
         "unread", "deleted", "required_to_resolve", "billable", "by_bot", "csat_bulk"}
# The FTS5 tables' stand-ins: a stored tsvector column and its GIN index.
TSV_COLUMNS = {("entries", "body_tsv"), ("contacts", "name_tsv")}
GIN_INDEXES = {"entries_fts", "contacts_fts"}


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A migrated SQLite database on a plain connection, foreign keys on as the store has."""
    conn = sqlite3.connect(tmp_path / "ref.sqlite3", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    schema.migrate(conn)
    yield conn
    conn.close()


@pytest.fixture
def pg(pg_url: str) -> Iterator[Any]:
    """A migrated PostgreSQL database on a plain autocommit psycopg connection."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert schema_pg.migrate_pg(conn) == 0
        yield conn


# --- reading each schema -------------------------------------------------------------


def lite_tables(conn: sqlite3.Connection) -> list[str]:
    """SQLite's own tables: not its internals, not FTS5 tables nor their shadow tables."""
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"
                        " AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
    virtual = [name for name, sql in rows if sql.upper().startswith("CREATE VIRTUAL")]
    return [name for name, _ in rows
            if name not in virtual and not any(name.startswith(v + "_") for v in virtual)]


def lite_columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str, bool, Any]]:
    """(name, PostgreSQL type it must have, NOT NULL, default) per column, in order."""
    columns = []
    for _, name, declared, notnull, default, pk in conn.execute(f"PRAGMA table_info({table})"):
        if declared == "TEXT":
            kind = "text"
        else:
            assert declared == "INTEGER", (table, name, declared)
            kind = "integer" if name in FLAGS else "bigint"
        columns.append((name, kind, bool(notnull or pk), default))
    return columns


def pg_columns(conn: Any, table: str) -> list[tuple[str, str, bool, Any]]:
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable = 'NO', column_default"
        " FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s"
        " ORDER BY ordinal_position", (table,)).fetchall()
    return [(name, kind, notnull, None if default is None else default.removesuffix("::text"))
            for name, kind, notnull, default in rows]


def key_name(column: str, descending: bool, nocase: bool) -> str:
    """An index key as the tests compare it: its column, direction and case folding."""
    return column + " DESC" * descending + " NOCASE" * nocase


def lite_indexes(conn: sqlite3.Connection, table: str) -> list[tuple[str | None, tuple, bool]]:
    """(name or None when SQLite made it for a constraint, keys, unique) per index."""
    found = []
    for _, name, unique, origin, _partial in conn.execute(f"PRAGMA index_list({table})"):
        columns = tuple(key_name(r[2], bool(r[3]), r[4] == "NOCASE")
                        for r in conn.execute(f"PRAGMA index_xinfo({name})") if r[5])
        found.append((name if origin == "c" else None, columns, bool(unique)))
    keys = [r for r in conn.execute(f"PRAGMA table_info({table})") if r[5]]
    if len(keys) == 1 and keys[0][2] == "INTEGER":  # the rowid alias: a key, not an index
        found.append((None, (keys[0][1],), True))
    return found


def pg_indexes(conn: Any, table: str) -> dict[str, tuple[tuple, bool, bool, str]]:
    """name -> (keys as key_name writes them, unique, partial, access method). Only the
    key columns: an INCLUDE column (report_counts' n) is carried, not part of the key."""
    rows = conn.execute(
        "SELECT c.relname, array(SELECT a.attname"
        "   || CASE WHEN i.indoption[k.n - 1] & 1 = 1 THEN ' DESC' ELSE '' END"
        "   || CASE WHEN l.collname = 'nocase' THEN ' NOCASE' ELSE '' END"
        "   FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)"
        "   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
        "   LEFT JOIN pg_collation l ON l.oid = i.indcollation[k.n - 1]"
        "   WHERE k.n <= i.indnkeyatts ORDER BY k.n)::text[],"
        " i.indisunique, i.indpred IS NOT NULL, am.amname"
        " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_am am ON am.oid = c.relam WHERE i.indrelid = %s::regclass",
        (table,)).fetchall()
    return {name: (tuple(cols), unique, partial, am) for name, cols, unique, partial, am in rows}


def lite_references(conn: sqlite3.Connection, table: str) -> set[tuple[str, str, str]]:
    return {(r[3], r[2], r[4]) for r in conn.execute(f"PRAGMA foreign_key_list({table})")}


def pg_references(conn: Any, table: str) -> set[tuple[str, str, str]]:
    rows = conn.execute(
        "SELECT a.attname, f.relname, fa.attname FROM pg_constraint k"
        " JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]"
        " JOIN pg_class f ON f.oid = k.confrelid"
        " JOIN pg_attribute fa ON fa.attrelid = k.confrelid AND fa.attnum = k.confkey[1]"
        " WHERE k.contype = 'f' AND k.conrelid = %s::regclass", (table,)).fetchall()
    return {tuple(r) for r in rows}


def lite_checks(conn: sqlite3.Connection, table: str) -> int:
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    return int(sql.upper().count("CHECK ("))


def pg_checks(conn: Any, table: str) -> int:
    return int(conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'c'"
                            " AND conrelid = %s::regclass", (table,)).fetchone()[0])


def pg_tables(conn: Any) -> set[str]:
    rows = conn.execute("SELECT table_name FROM information_schema.tables"
                        " WHERE table_schema = 'public'").fetchall()
    return {r[0] for r in rows}


# --- the structure -------------------------------------------------------------------


def test_every_version_has_a_postgresql_script() -> None:
    """Both dialects reach SCHEMA_VERSION: a SQLite version without its PostgreSQL
    script fails here, not on a customer's database."""
    assert max(schema_pg.PG_MIGRATIONS) == SCHEMA_VERSION
    assert sorted(schema_pg.PG_MIGRATIONS) == list(range(schema_pg.BASELINE,
                                                          SCHEMA_VERSION + 1))
    assert [v for v, _ in schema_pg.scripts_to_run(0)][-1] == SCHEMA_VERSION
    assert schema_pg.scripts_to_run(SCHEMA_VERSION) == []


def test_every_sqlite_table_is_there_with_the_same_columns(lite: Any, pg: Any) -> None:
    """Same names in the same order, bigint for integers (ms times overflow int4) but
    integer for 0/1 flags, the same NOT NULLs and defaults; only the tsvector columns
    are added, and only the version table and the media table (files on SQLite)."""
    tables = lite_tables(lite)
    assert "entries" in tables and "entries_fts" not in tables
    assert pg_tables(pg) == {*tables, "smsdesk_schema", "media"}
    for table in tables:
        expected = lite_columns(lite, table)
        found = pg_columns(pg, table)
        extra = [c for c in found if (table, c[0]) in TSV_COLUMNS]
        assert [c for c in found if c not in extra] == expected, table
        assert [c[1] for c in extra] == ["tsvector"] * len(extra)


def test_every_key_index_and_reference_has_its_equivalent(lite: Any, pg: Any) -> None:
    """Each named SQLite index exists by name on the same columns, unique and partial
    alike; each constraint SQLite indexes (UNIQUE, PRIMARY KEY) has a unique index on the
    same columns; every reference points at the same column; as many CHECKs."""
    for table in lite_tables(lite):
        found = pg_indexes(pg, table)
        partial = {r[1]: bool(r[4]) for r in lite.execute(f"PRAGMA index_list({table})")}
        for name, columns, unique in lite_indexes(lite, table):
            if name is None:
                assert any(cols == columns and uniq for cols, uniq, _, _ in found.values()), (
                    table, columns)
                continue
            assert found.get(name) == (columns, unique, partial[name], "btree"), name
        assert lite_references(lite, table) == pg_references(pg, table), table
        assert lite_checks(lite, table) == pg_checks(pg, table), table
    gin = {n for t in ("entries", "contacts") for n, v in pg_indexes(pg, t).items()
           if v[3] == "gin"}
    assert gin == GIN_INDEXES


def test_a_twilio_sid_is_stored_once_and_names_are_unique_whatever_their_case(pg: Any) -> None:
    import psycopg

    seed(pg)
    insert = ("INSERT INTO entries(ticket_id, kind, twilio_sid, created_at, updated_at)"
              " VALUES (1, 'message', %s, 0, 0)")
    pg.execute(insert, ("SM1",))
    pg.execute(insert, (None,))
    pg.execute(insert, (None,))  # NULLs are not duplicates, as on SQLite
    with pytest.raises(psycopg.errors.UniqueViolation):
        pg.execute(insert, ("SM1",))
    for table, columns, rest in (
        ("agent_groups", "name", ""),
        ("canned_folders", "name, created_at", ", 0"),
        ("scenarios", "name, actions, created_at, updated_at", ", '[]', 0, 0"),
    ):
        pg.execute(f"INSERT INTO {table}({columns}) VALUES ('Billing'{rest})")
        with pytest.raises(psycopg.errors.UniqueViolation):
            pg.execute(f"INSERT INTO {table}({columns}) VALUES ('BILLING'{rest})")
    with pytest.raises(psycopg.errors.UniqueViolation):
        pg.execute("INSERT INTO agents(name, role, token_hash, created_at)"
                   " VALUES ('DANA', 'agent', 'other', 0)")
    # = and lookups fold case as NOCASE does; the email index's collation too.
    assert pg.execute("SELECT id FROM agents WHERE name = 'dana'").fetchone() == (1,)
    assert pg.execute("SELECT count(*) FROM contacts WHERE email = 'JO@EXAMPLE.COM'"
                      " COLLATE NOCASE").fetchone() == (1,)
    with pytest.raises(psycopg.errors.CheckViolation):
        pg.execute("INSERT INTO agents(name, role, token_hash, created_at)"
                   " VALUES ('Sam', 'boss', 'h2', 0)")
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        pg.execute("INSERT INTO tickets(contact_id, number_id, created_at, updated_at,"
                   " last_message_at) VALUES (99, 1, 0, 0, 0)")


# --- migrating -----------------------------------------------------------------------


def version_of(conn: Any) -> list[tuple[int]]:
    return conn.execute("SELECT version FROM smsdesk_schema").fetchall()


def test_migrating_again_changes_nothing(pg: Any) -> None:
    seed(pg)
    assert schema_pg.migrate_pg(pg) == SCHEMA_VERSION
    assert version_of(pg) == [(SCHEMA_VERSION,)]
    assert pg.execute("SELECT count(*) FROM tickets").fetchone() == (2,)


def test_a_later_version_runs_only_its_own_script(
    pg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How version 13 will come: a database at 12 runs the 13 script alone, once."""
    monkeypatch.setattr(schema_pg, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(schema_pg.PG_MIGRATIONS, SCHEMA_VERSION + 1,
                        "ALTER TABLE tickets ADD COLUMN later text NOT NULL DEFAULT ''")
    assert schema_pg.migrate_pg(pg) == SCHEMA_VERSION
    assert schema_pg.migrate_pg(pg) == SCHEMA_VERSION + 1
    assert version_of(pg) == [(SCHEMA_VERSION + 1,)]
    assert pg_columns(pg, "tickets")[-1] == ("later", "text", True, "''")


def test_relays_starting_together_migrate_exactly_once(pg_url: str) -> None:
    """Each waits on the advisory lock; one runs the baseline, the others then find it done
    (without the lock, the second CREATE TABLE fails)."""
    import psycopg

    start = threading.Barrier(3)
    found: list[Any] = []

    def relay() -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            start.wait()
            try:
                found.append(schema_pg.migrate_pg(conn))
            except Exception as error:  # the assertion below shows it
                found.append(error)

    threads = [threading.Thread(target=relay) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(isinstance(f, int) for f in found), found
    assert sorted(found) == [0, SCHEMA_VERSION, SCHEMA_VERSION]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert version_of(conn) == [(SCHEMA_VERSION,)]


def test_a_newer_database_is_refused_and_left_alone(pg_url: str) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE smsdesk_schema (version integer NOT NULL)")
        conn.execute("INSERT INTO smsdesk_schema VALUES (%s)", (SCHEMA_VERSION + 1,))
        with pytest.raises(SchemaTooNew, match=f"{SCHEMA_VERSION + 1} is newer"):
            schema_pg.migrate_pg(conn)
        assert conn.execute("SELECT to_regclass('tickets')").fetchone() == (None,)
        assert version_of(conn) == [(SCHEMA_VERSION + 1,)]


def test_a_failing_script_leaves_the_database_as_it_was(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DDL is transactional: half a baseline is never left behind for the next start."""
    import psycopg

    broken = schema_pg.PG_MIGRATIONS[schema_pg.BASELINE] + "\nSELECT no_such_function();"
    monkeypatch.setitem(schema_pg.PG_MIGRATIONS, schema_pg.BASELINE, broken)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UndefinedFunction):
            schema_pg.migrate_pg(conn)
        assert conn.execute("SELECT to_regclass('tickets'), to_regclass('smsdesk_schema')"
                            ).fetchone() == (None, None)


# --- behaving as SQLite does ---------------------------------------------------------

SEED = [
    "INSERT INTO accounts(name, sid, auth_token, created_at) VALUES ('Main', 'AC1', 't', 0)",
    "INSERT INTO phone_numbers(account_id, e164) VALUES (1, '+18885550100')",
    "INSERT INTO agents(name, role, token_hash, created_at) VALUES ('Dana', 'admin', 'h', 0)",
    "INSERT INTO contacts(phone, name, email, created_at)"
    " VALUES ('+15551230001', 'José Álvarez', 'jo@example.com', 5)",
    "INSERT INTO tickets(contact_id, number_id, tags, created_at, updated_at, last_message_at)"
    " VALUES (1, 1, '[\"VIP\",\"billing\",\"vip\"]', 0, 0, 100)",
    "INSERT INTO tickets(contact_id, number_id, created_at, updated_at, last_message_at)"
    " VALUES (1, 1, 0, 0, 200)",
]


def seed(conn: Any) -> None:
    for statement in SEED:
        conn.execute(statement)


def run_both(lite: sqlite3.Connection, pg: Any, sql: str, params: tuple = ()) -> None:
    """The same statement on both; either both succeed or both refuse it."""
    import psycopg

    outcomes = []
    for run in (lambda: lite.execute(sql, params),
                lambda: pg.execute(sql.replace("?", "%s"), params)):
        try:
            run()
            outcomes.append("ok")
        except (sqlite3.IntegrityError, psycopg.errors.IntegrityError):
            outcomes.append("refused")
    assert outcomes[0] == outcomes[1], (sql, outcomes)


def both_rows(lite: sqlite3.Connection, pg: Any, sql: str) -> list[tuple]:
    rows = [tuple(r) for r in lite.execute(sql).fetchall()]
    assert [tuple(r) for r in pg.execute(sql).fetchall()] == rows, sql
    return rows


def test_the_triggers_keep_tags_and_phones_as_on_sqlite(lite: Any, pg: Any) -> None:
    """ticket_tags follows a ticket's tags (one row per tag, case folded) and its last
    activity, and goes with the ticket; a new contact's phone gets its contact_phones
    row, and a phone another contact has is refused."""
    for statement in SEED:
        run_both(lite, pg, statement)
    tags = "SELECT lower(tag), ticket_id, last_message_at FROM ticket_tags ORDER BY 1, 2"
    assert both_rows(lite, pg, tags) == [("billing", 1, 100), ("vip", 1, 100)]
    run_both(lite, pg, "UPDATE tickets SET last_message_at = 300 WHERE id IN (1, 2)")
    run_both(lite, pg, "UPDATE tickets SET tags = '[\"gold\"]' WHERE id = 2")
    assert both_rows(lite, pg, tags) == [
        ("billing", 1, 300), ("gold", 2, 300), ("vip", 1, 300)]
    run_both(lite, pg, "UPDATE tickets SET tags = '[]', last_message_at = 400 WHERE id = 1")
    run_both(lite, pg, "UPDATE tickets SET last_message_at = 500 WHERE id = 2")
    assert both_rows(lite, pg, tags) == [("gold", 2, 500)]
    # A purge deletes a tagged ticket: its tag rows go with it, the reference holds.
    run_both(lite, pg, "DELETE FROM tickets WHERE id = 2")
    assert both_rows(lite, pg, tags) == []

    phones = "SELECT e164, contact_id, opted_out, added_at FROM contact_phones ORDER BY 1"
    assert both_rows(lite, pg, phones) == [("+15551230001", 1, 0, 5)]
    run_both(lite, pg, "INSERT INTO contacts(phone, opted_out, created_at) VALUES (?, 1, 7)",
             ("+15551230002",))
    run_both(lite, pg, "INSERT INTO contact_phones(e164, contact_id, added_at)"
                       " VALUES ('+15551230003', 1, 8)")
    # The phone is another contact's already: the trigger's insert refuses the contact.
    run_both(lite, pg, "INSERT INTO contacts(phone, created_at) VALUES ('+15551230003', 9)")
    assert both_rows(lite, pg, phones) == [
        ("+15551230001", 1, 0, 5), ("+15551230002", 2, 1, 7), ("+15551230003", 1, 0, 8)]
    assert both_rows(lite, pg, "SELECT id, phone FROM contacts ORDER BY id") == [
        (1, "+15551230001"), (2, "+15551230002")]


TEXTS = [
    "José wrote: order-123 is late",
    "mail a@b.co or call 555.0100",
    "ÉTAT_x at 3.14 — Ünïcödé naïve café",
    "Straße and CAFÉ",
    "hello,world!hello again",
    "nothing here",
]
# (SQLite FTS5 query, PostgreSQL tsquery) pairs, as core.fts would write each.
QUERIES = [
    ('"jose"', "'jose'"), ('"JOSÉ"', "'JOSÉ'"), ('"order"', "'order'"), ('"123"', "'123'"),
    ('"a" "b" "co"', "'a' & 'b' & 'co'"), ('"etat" "x"', "'etat' & 'x'"),
    ('"3" "14"', "'3' & '14'"), ('"unicode"', "'unicode'"), ('"naive"', "'naive'"),
    ('"cafe"', "'cafe'"), ('"hello" "world"', "'hello' & 'world'"), ('"0100"', "'0100'"),
    ('"ord"*', "'ord':*"), ('"caf"*', "'caf':*"), ('"late"', "'late'"),
    ('"order123"', "'order123'"),
]


def test_words_are_found_as_fts5_finds_them(lite: Any, pg: Any) -> None:
    """Whole words, case and accents folded, punctuation splitting words (order-123,
    a@b.co, 3.14, état_x): entries_fts and body_tsv find the same entries."""
    for statement in SEED:
        run_both(lite, pg, statement)
    for text in TEXTS:
        run_both(lite, pg, "INSERT INTO entries(ticket_id, kind, body, created_at, updated_at)"
                           " VALUES (1, 'note', ?, 0, 0)", (text,))
    lite.execute("INSERT INTO entries_fts(rowid, body) SELECT id, body FROM entries")
    for fts5, tsquery in QUERIES:
        expected = [r[0] for r in lite.execute(
            "SELECT rowid FROM entries_fts WHERE entries_fts MATCH ? ORDER BY rowid", (fts5,))]
        found = [r[0] for r in pg.execute(
            "SELECT id FROM entries WHERE body_tsv @@ to_tsquery('smsdesk', %s) ORDER BY id",
            (tsquery,))]
        assert found == expected, (fts5, tsquery)
    assert pg.execute("SELECT body_tsv::text FROM entries WHERE id = 1").fetchone() == (
        "'123' 'is' 'jose' 'late' 'order' 'wrote'",)
    assert pg.execute("SELECT body_tsv::text FROM entries WHERE id = 2").fetchone() == (
        "'0100' '555' 'a' 'b' 'call' 'co' 'mail' 'or'",)


def test_contact_names_are_found_by_word_and_prefix(lite: Any, pg: Any) -> None:
    """contacts_fts's stand-in follows inserts and renames; prefixes work (FTS5's prefix
    indexes are only a speed-up there)."""
    for statement in SEED:
        run_both(lite, pg, statement)
    run_both(lite, pg, "INSERT INTO contacts(phone, name, created_at)"
                       " VALUES ('+15551230002', 'Jordan Lee-Smith', 0)")
    run_both(lite, pg, "INSERT INTO contacts(phone, created_at) VALUES ('+15551230003', 0)")
    for fts5, tsquery in (('"alvarez"', "'alvarez'"), ('"jo"*', "'jo':*"),
                          ('"smith"', "'smith'"), ('"lee"*', "'lee':*")):
        expected = [r[0] for r in lite.execute(
            "SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ? ORDER BY rowid", (fts5,))]
        found = [r[0] for r in pg.execute(
            "SELECT id FROM contacts WHERE name_tsv @@ to_tsquery('smsdesk', %s) ORDER BY id",
            (tsquery,))]
        assert found == expected, fts5
    pg.execute("UPDATE contacts SET name = 'Maya' WHERE id = 2")
    assert pg.execute("SELECT id FROM contacts WHERE name_tsv @@ to_tsquery('smsdesk',"
                      " 'jordan')").fetchall() == []
    assert pg.execute("SELECT id FROM contacts WHERE name_tsv @@ to_tsquery('smsdesk',"
                      " 'MAYA')").fetchall() == [(2,)]


def test_a_database_owner_without_superuser_can_migrate(pg_cluster: Any) -> None:
    """What an operator must grant: owning the database is enough (unaccent is a trusted
    extension; PostgreSQL 15's public schema belongs to the database's owner)."""
    import uuid

    import psycopg

    name = "o_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
        admin.execute(f"CREATE DATABASE {name} OWNER {name}")
    owner_url = pg_cluster.url(name).replace("postgres@", f"{name}@")
    # With the store's cursors ($1 parameters, core/pg.py) as well as psycopg's default.
    with psycopg.connect(owner_url, autocommit=True, cursor_factory=psycopg.RawCursor) as conn:
        assert conn.execute("SELECT current_user, rolsuper FROM pg_roles"
                            " WHERE rolname = current_user").fetchone() == (name, False)
        assert schema_pg.migrate_pg(conn) == 0
        assert version_of(conn) == [(SCHEMA_VERSION,)]


def test_the_report_counters_key_carries_the_count(pg: Any) -> None:
    """report_counts' primary key INCLUDEs n (core.report_backfill): a report's seeks are
    index-only scans, not a heap page per counter row."""
    row = pg.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = i.indkey[i.indnatts - 1] WHERE i.indrelid = 'report_counts'::regclass"
        " AND i.indisprimary AND i.indnatts = i.indnkeyatts + 1").fetchone()
    assert row is not None and row[0] == "n"
