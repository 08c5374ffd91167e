"""Search on PostgreSQL against SQLite: the same desk in both, every kind of search timed.

    .venv/bin/python bench/search_pg.py [--tickets 100000] [--messages 1000000] [--runs 200]
                                        [--database postgresql://…] [--dir DIR]

Without ``--database`` a throwaway cluster is started (tests/pg_cluster.py, fsync off: this
is a read bench) and removed afterwards. The budget (issue 1) is a search under 20 ms,
newest first, over 1M messages.

Both stores are created and migrated by ``Store.open``, then filled straight with the
same generated rows (the contacts, one ticket each, and the messages), since only the
search figures matter here: SQLite by ``executemany`` plus FTS5's bulk index, PostgreSQL
by COPY with its GIN indexes built after. Names, emails and a "vip" tag on one ticket in
100 are as bench/store.py's ``name_contacts`` gives them. Each search is read through
``store.read`` (a reader thread, as the relay does), ``--runs`` times after a warm-up
(the header counts a tenth as many); p50, p95 and p99 are printed side by side. Note the
load average with the figures: on a shared machine, each PostgreSQL statement waits for
a CPU twice (the relay's thread, then the server), so p99 there follows the load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench.store import COMMON, FIRST_NAMES, RARE, SURNAMES, synthetic_body  # noqa: E402
from core import queries, writes  # noqa: E402
from core.models import SenderType  # noqa: E402
from core.store import Store  # noqa: E402

NUMBER = "+18885550100"
START_MS = 1_700_000_000_000
BUDGET_MS = 20.0


def phone(i: int) -> str:
    return f"+1303{i:07d}"


def contact_rows(tickets: int) -> Iterator[tuple[Any, ...]]:
    """(id, phone, name, email, created_at): one contact per ticket."""
    for i in range(1, tickets + 1):
        yield (i, phone(i), f"{FIRST_NAMES[i % 10]} {SURNAMES[i // 10 % 10]}{i}",
               f"customer{i}@example.com", START_MS)


def entry_rows(tickets: int, messages: int) -> tuple[list[tuple[Any, ...]], dict[int, int]]:
    """The messages, oldest first (id, ticket_id, body, sid, at), and each ticket's newest."""
    rng = random.Random(2)
    rows, newest = [], {}
    for j in range(1, messages + 1):
        ticket = j if j <= tickets else rng.randint(1, tickets)  # every ticket has one
        at = START_MS + j * 10
        rows.append((j, ticket, synthetic_body(rng), f"SM{j:032x}", at))
        newest[ticket] = at
    return rows, newest


def ticket_rows(tickets: int, newest: dict[int, int]) -> Iterator[tuple[Any, ...]]:
    """(id, contact_id, number_id, tags, created_at, updated_at, last_message_at, phone)."""
    for i in range(1, tickets + 1):
        yield (i, i, 1, '["vip"]' if i % 100 == 0 else "[]", START_MS, START_MS,
               newest[i], phone(i))


CONTACT_COLUMNS = "id, phone, name, email, created_at"
TICKET_COLUMNS = ("id, contact_id, number_id, tags, created_at, updated_at, last_message_at,"
                  " customer_phone")
ENTRY_COLUMNS = "id, ticket_id, kind, direction, channel, body, twilio_sid, status, created_at," \
    " updated_at"


def _entry(row: tuple[Any, ...]) -> tuple[Any, ...]:
    j, ticket, body, sid, at = row
    return (j, ticket, "message", "inbound", "sms", body, sid, "received", at, at)


async def make_store(locator: str | Path) -> None:
    """Create and migrate the store and add the account and number, as the desk would."""
    store = await Store.open(locator)
    account = await store.write(writes.add_account, name="Bench", sid="AC" + "0" * 32,
                                auth_token="x" * 32)
    await store.write(writes.save_number, account_id=account.id, e164=NUMBER, mms=True,
                      sender_type=SenderType.TOLL_FREE)
    await store.close()


def fill_sqlite(path: Path, contacts: list[Any], tickets: list[Any],
                entries: list[Any]) -> float:
    t0 = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO contacts({CONTACT_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                     contacts)
    conn.executemany(f"INSERT INTO tickets({TICKET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     tickets)
    conn.executemany(f"INSERT INTO entries({ENTRY_COLUMNS})"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", map(_entry, entries))
    writes.index_new_entries(conn, 0)
    conn.execute("COMMIT")
    conn.execute("INSERT INTO entries_fts(entries_fts) VALUES ('optimize')")
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - t0


def fill_postgres(url: str, contacts: list[Any], tickets: list[Any],
                  entries: list[Any]) -> float:
    """COPY the rows in; the GIN index on messages is built after (far faster than
    maintaining it row by row), then every identity is moved past the copied ids."""
    import psycopg

    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("DROP INDEX entries_fts")
        for table, columns, rows in (("contacts", CONTACT_COLUMNS, contacts),
                                     ("tickets", TICKET_COLUMNS, tickets),
                                     ("entries", ENTRY_COLUMNS, map(_entry, entries))):
            with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                         f" (SELECT max(id) FROM {table}))")
        conn.execute("CREATE INDEX entries_fts ON entries USING gin (body_tsv)")
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - t0


def searches(tickets: int) -> list[tuple[str, str, Any, dict[str, Any]]]:
    """(label, what was typed, query function, its keyword arguments) for every kind."""
    last = tickets  # the newest contact: one person's name, phone and email
    name = f"{FIRST_NAMES[last % 10]} {SURNAMES[last // 10 % 10]}{last}"
    national = phone(last).removeprefix("+1")
    dashed = f"+1 {national[:3]}-{national[3:6]}-{national[6:]}"
    kinds = [("word, common", COMMON), ("word, rare", RARE), ("two words", "refund invoice"),
             ("prefix", "deliv*"), ("prefix, short", "o*"), ("no match", "xylophone"),
             ("name, common", "Jordan"), ("name, one person", name),
             ("name, nobody", "Zachariah"), ("name, two words", "jordan rey"),
             ("phone E.164", phone(last)), ("phone national", national),
             ("phone dashed", dashed), ("email", f"CUSTOMER{last}@EXAMPLE.COM"),
             ("tag", "VIP"), ("#number", f"#{last}")]
    found = [(f"ticket search by {label}", text, queries.list_tickets,
              {"view": queries.TicketFilter(text=text), "limit": 50}) for label, text in kinds]
    found += [(f"message search, {label}", word, queries.search, {"text": word, "limit": 50})
              for label, word in (("common", COMMON), ("rare", RARE), ("prefix", "deliv*"))]
    # The header's count, counted up to 1,000 (1,001: "1,000+"): outside the search budget.
    found += [(f"count (header), {label}", word, queries.count_tickets,
               {"view": queries.TicketFilter(text=word)})
              for label, word in (("rare", RARE), ("name", "Jordan"), ("common", COMMON))]
    return found


async def page_cursor(store: Store, text: str, pages: int) -> str | None:
    """The cursor of a ticket search's ``pages``-th window (None if it has fewer)."""
    view = queries.TicketFilter(text=text)
    cursor = None
    for _ in range(pages - 1):
        page = await store.read(queries.list_tickets, view, before=cursor, limit=50)
        if page.older is None:
            return None
        cursor = page.older
    return cursor


async def timings(locator: str | Path, tickets: int, runs: int) -> dict[str, tuple]:
    """Each search's (p50, p95, p99, rows) in ms on one store."""
    figures: dict[str, tuple] = {}
    store = await Store.open(locator)
    try:
        plan = searches(tickets)
        for pages in (2, 10):
            for text in (COMMON, RARE):
                cursor = await page_cursor(store, text, pages)
                if cursor is not None:
                    plan.append((f"ticket search, window {pages} of {text!r}", text,
                                 queries.list_tickets,
                                 {"view": queries.TicketFilter(text=text), "before": cursor,
                                  "limit": 50}))
        for label, text, fn, kwargs in plan:
            figures[f"{label} ({text!r})"] = await timed(
                store, max(runs // 10, 10) if label.startswith("count") else runs, fn, kwargs)
    finally:
        await store.close()
    return figures


async def timed(store: Store, runs: int, fn: Any, kwargs: dict[str, Any]) -> tuple:
    for _ in range(5):  # warm-up: caches, and psycopg prepares on the 5th run
        result = await store.read(lambda conn: fn(conn, **kwargs))
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = await store.read(lambda conn: fn(conn, **kwargs))
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    rows = result if isinstance(result, int) else \
        len(result.items) if hasattr(result, "items") else len(result)
    return (statistics.median(samples), _percentile(samples, 0.95), _percentile(samples, 0.99),
            rows)


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[max(int(len(ordered) * fraction) - 1, 0)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--database", default=None,
                        help="an empty PostgreSQL database (default: a throwaway cluster)")
    parser.add_argument("--dir", default=None, help="where the SQLite file goes (default: temp)")
    parser.add_argument("--filled", action="store_true",
                        help="time the stores an earlier run left in --dir and --database")
    args = parser.parse_args()
    if args.filled and (args.dir is None or args.database is None):
        parser.error("--filled needs the --dir and --database an earlier run filled")
    if args.messages < args.tickets:
        parser.error("--messages must be at least --tickets (each ticket has a message)")
    cluster = None
    if args.database is None:
        from pg_cluster import PgCluster

        cluster = PgCluster.start(durable=False)
        url = cluster.fresh_database()
    else:
        url = args.database
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="smsdesk-search-"))
    path = workdir / "search.sqlite3"
    try:
        if not args.filled:
            await fill(path, url, args.tickets, args.messages)
        lite = await timings(path, args.tickets, args.runs)
        pg = await timings(url, args.tickets, args.runs)
        report(lite, pg, args.runs)
    finally:
        if cluster is not None:
            cluster.stop()
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)


async def fill(path: Path, url: str, tickets: int, messages: int) -> None:
    """The same generated desk into a new SQLite file and an empty PostgreSQL database."""
    path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    contacts = list(contact_rows(tickets))
    entries, newest = entry_rows(tickets, messages)
    rows = list(ticket_rows(tickets, newest))
    print(f"generated {tickets:,} tickets and {messages:,} messages"
          f" in {time.perf_counter() - t0:.1f} s")
    await make_store(path)
    print(f"SQLite fill: {fill_sqlite(path, contacts, rows, entries):.1f} s")
    await make_store(url)
    print(f"PostgreSQL fill (COPY, GIN built after): "
          f"{fill_postgres(url, contacts, rows, entries):.1f} s")


def report(lite: dict[str, tuple], pg: dict[str, tuple], runs: int) -> None:
    print(f"\n{'search (first window of 50 unless said)':<62} {'SQLite p50/p95/p99 ms':>24}"
          f" {'PostgreSQL p50/p95/p99 ms':>26}  rows  (budget {BUDGET_MS:.0f} ms, {runs} runs;"
          " counts a tenth as many)")
    worst = 0.0
    for label, (p50, p95, p99, rows) in lite.items():
        if label not in pg:
            continue
        g50, g95, g99, grows = pg[label]
        budgeted = not label.startswith("count")
        worst = max(worst, g99) if budgeted else worst
        flag = "" if g99 < BUDGET_MS or not budgeted else "  OVER BUDGET"
        same = "" if rows == grows else f" (PostgreSQL: {grows})"
        print(f"{label:<62} {p50:7.2f} /{p95:7.2f} /{p99:7.2f}  {g50:7.2f} /{g95:7.2f} /{g99:7.2f}"
              f"  {rows:4}{same}{flag}")
    print(f"\nworst PostgreSQL p99 of a search window: {worst:.2f} ms"
          f" (budget {BUDGET_MS:.0f} ms); load average {os.getloadavg()[0]:.1f}"
          f" on {os.cpu_count()} CPUs (other work on the machine shows in both columns)")


if __name__ == "__main__":
    asyncio.run(main())
