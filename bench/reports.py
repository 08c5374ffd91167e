"""Reports over a year of a 1,000,000-message desk, on SQLite and PostgreSQL (issue 14).

    .venv/bin/python bench/reports.py [--tickets 100000] [--messages 1000000] [--runs 7]
                                      [--database postgresql://…] [--dir DIR] [--filled]
                                      [--only sqlite|postgresql]

Both stores are created and migrated by ``Store.open``, the desk's numbers, groups and
agents added through the writes, then filled straight with the same generated year of
history (as bench/search_pg.py fills its stores: executemany / COPY): tickets spread over
the year by local daytime, each a conversation of texts (a tenth emails) answered by its
group's agents, some replies failed by Twilio code, most tickets resolved, surveys sent
and rated on the CSAT number. Then the schema 17 backfill (core.report_backfill, as the
migration runs it) counts the counters and durations, timed; then each report over the
year (New York days: two DST changes inside), unfiltered and by each filter, is read
through ``store.read`` ``--runs`` times after a warm-up: the median is the figure, the
budget 500 ms. Without ``--database`` a throwaway cluster is started (tests/pg_cluster.py).
Note the load average printed with the figures: the machine may be shared.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from core import report_backfill, reports, sla, sla_writes, writes  # noqa: E402
from core.models import Priority, Role, SenderType  # noqa: E402
from core.store import Store  # noqa: E402

BUDGET_MS = 500.0
YEAR_START = "2025-12-01"
YEAR_END = "2026-11-30"
START_MS = 1_764_547_200_000  # 2025-12-01 00:00 UTC
DAY_MS = 86_400_000
MINUTE_MS = 60_000
NUMBERS = (("+18885550100", "US support", "0.0079"), ("+447400900456", "UK", "0.0400"),
           ("+18885550199", "US sales", None))
GROUPS = ("Billing", "Support", "Sales", "Returns")
AGENTS_PER_GROUP = 5
CODES = (30003, 30005, 30006, 30007, 21610, None)
TARGETS = {Priority.LOW: (4, 72), Priority.MEDIUM: (2, 24), Priority.HIGH: (1, 8),
           Priority.URGENT: (0.5, 4)}  # hours: first response, resolution

TICKET_COLUMNS = ("id, contact_id, number_id, subject, status, priority, group_id, agent_id,"
                  " created_at, updated_at, last_message_at, last_preview, customer_phone,"
                  " last_channel, first_responded_at, resolved_at, sla_used")
ENTRY_COLUMNS = ("id, ticket_id, kind, direction, channel, body, author_agent_id, status,"
                 " error_code, segments, created_at, updated_at")
SURVEY_COLUMNS = ("ticket_id, number_id, agent_id, group_id, message_id, sent_at, expires_at,"
                  " rating, rated_at, state")


@dataclass
class Chunk:
    contacts: list[tuple[Any, ...]] = field(default_factory=list)
    tickets: list[tuple[Any, ...]] = field(default_factory=list)
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    surveys: list[tuple[Any, ...]] = field(default_factory=list)


def history(tickets: int, messages: int, chunk: int = 10_000) -> Iterator[Chunk]:
    """The year, ``chunk`` tickets at a time (the same rows every call: seeded)."""
    rng = random.Random(14)
    per_ticket = messages / tickets
    entry_id = 0
    out = Chunk()
    agents = {g: [2 + g * AGENTS_PER_GROUP + a for a in range(AGENTS_PER_GROUP)]
              for g in range(len(GROUPS))}  # agent ids: the admin is 1, then 5 per group
    for t in range(1, tickets + 1):
        number = rng.choices((1, 2, 3), weights=(60, 25, 15))[0]
        group = number - 1 if rng.random() < 0.8 else rng.randrange(len(GROUPS))
        agent = rng.choice(agents[group]) if rng.random() < 0.9 else None
        email = rng.random() < 0.1
        channel = "email" if email else "sms"
        priority = rng.choice(tuple(Priority))
        day = rng.randrange(365)
        created = START_MS + day * DAY_MS + int(rng.triangular(11, 27, 18) * 3_600_000) \
            + rng.randrange(3_600_000)  # New York's daytime, in UTC hours
        count = max(1, min(40, round(rng.gauss(per_ticket, 3))))
        at, first_reply, last_out = created, None, None
        for k in range(count):
            entry_id += 1
            inbound = k % 2 == 0
            if k:
                at += int(rng.expovariate(1 / (120 if inbound else 35)) * MINUTE_MS) + MINUTE_MS
            if inbound:
                out.entries.append((entry_id, t, "message", "inbound", channel, "hello",
                                    None, "received", None, 0 if email else 1, at, at))
                continue
            failed = rng.random() < 0.04
            code = rng.choice(CODES) if failed and not email else None
            status = ("failed" if rng.random() < 0.5 else "undelivered") if failed else \
                "delivered" if not email else "sent"
            author = agent or rng.choice(agents[group])
            out.entries.append((entry_id, t, "message", "outbound", channel, "ok", author,
                                status, code, 0 if email else rng.choice((1, 1, 1, 2, 3)),
                                at, at + 5000 if failed else at))
            first_reply = first_reply or at
            last_out = entry_id
        roll = rng.random()
        status = "resolved" if roll < 0.85 else "closed" if roll < 0.9 else \
            "pending" if roll < 0.95 else "open"
        resolved = at + int(rng.expovariate(1 / 90) * MINUTE_MS) \
            if status in ("resolved", "closed") else None
        out.contacts.append((t, f"+1303{t:07d}", START_MS))
        out.tickets.append((t, t, number, "Order question", status, priority.value, group + 1,
                            agent, created, resolved or at, at, "ok", f"+1303{t:07d}",
                            channel, first_reply, resolved,
                            resolved - created if resolved else 0))
        if resolved and number == 1 and not email and last_out and rng.random() < 0.5:
            rated = rng.random() < 0.4
            rating = rng.choices((1, 2, 3, 4, 5), weights=(5, 5, 10, 30, 50))[0]
            out.surveys.append((t, number, agent, group + 1, last_out, resolved,
                                resolved + 3 * DAY_MS, rating if rated else None,
                                resolved + 600_000 if rated else None,
                                "rated" if rated else "sent"))
        if t % chunk == 0 or t == tickets:
            yield out
            out = Chunk()


async def make_store(locator: str | Path) -> None:
    """Create and migrate the store; numbers, groups, agents and targets through the
    writes, as the desk would have them."""
    store = await Store.open(locator)
    try:
        account = await store.write(writes.add_account, name="Bench", sid="AC" + "0" * 32,
                                    auth_token="x" * 32)
        groups = [(await store.write(writes.add_group, name)).id for name in GROUPS]
        await store.write(writes.add_agent, name="Admin", role=Role.ADMIN, token_hash="0" * 64)
        for g, group_id in enumerate(groups):
            for a in range(AGENTS_PER_GROUP):
                await store.write(writes.add_agent, name=f"Agent {g}-{a}", role=Role.AGENT,
                                  token_hash=f"{g:02d}{a:02d}".ljust(64, "f"),
                                  group_ids=[group_id])
        for (e164, name, price), group_id in zip(NUMBERS, groups, strict=False):
            await store.write(writes.save_number, account_id=account.id, e164=e164,
                              sender_type=SenderType.TOLL_FREE, friendly_name=name,
                              default_group_id=group_id, csat=e164 == NUMBERS[0][0],
                              segment_price=price)
        await store.write(sla_writes.save_targets, {
            p: sla.Target(int(first * 3_600_000), int(res * 3_600_000))
            for p, (first, res) in TARGETS.items()})
    finally:
        await store.close()


def fill_sqlite(path: Path, tickets: int, messages: int) -> tuple[float, float]:
    """(seconds to fill, seconds for the schema 17 backfill)."""
    t0 = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    for part in history(tickets, messages):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO contacts(id, phone, created_at) VALUES (?, ?, ?)",
                         part.contacts)
        conn.executemany(f"INSERT INTO tickets({TICKET_COLUMNS}) VALUES"
                         f" ({', '.join('?' * 17)})", part.tickets)
        conn.executemany(f"INSERT INTO entries({ENTRY_COLUMNS}) VALUES"
                         f" ({', '.join('?' * 12)})", part.entries)
        conn.executemany(f"INSERT INTO csat_surveys({SURVEY_COLUMNS}) VALUES"
                         f" ({', '.join('?' * 10)})", part.surveys)
        conn.execute("COMMIT")
    filled = time.perf_counter() - t0
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    for statement in report_backfill.statements(report_backfill.CLOCKS
                                                + report_backfill.RECOUNT):
        conn.execute(statement)
    conn.execute("COMMIT")
    backfill = time.perf_counter() - t0
    conn.execute("ANALYZE")
    conn.close()
    return filled, backfill


def fill_postgres(url: str, tickets: int, messages: int) -> tuple[float, float]:
    """COPY the rows in (the entries' GIN index built after), then the backfill."""
    import psycopg

    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("DROP INDEX entries_fts")
        for part in history(tickets, messages):
            for table, columns, rows in (("contacts", "id, phone, created_at", part.contacts),
                                         ("tickets", TICKET_COLUMNS, part.tickets),
                                         ("entries", ENTRY_COLUMNS, part.entries),
                                         ("csat_surveys", SURVEY_COLUMNS, part.surveys)):
                with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        for table in ("contacts", "tickets", "entries"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                         f" (SELECT max(id) FROM {table}))")
        conn.execute("CREATE INDEX entries_fts ON entries USING gin (body_tsv)")
        filled = time.perf_counter() - t0
        t0 = time.perf_counter()
        with conn.transaction():
            for statement in report_backfill.statements(report_backfill.CLOCKS
                                                        + report_backfill.RECOUNT):
                conn.execute(statement)
        backfill = time.perf_counter() - t0
        conn.execute("VACUUM ANALYZE")
    return filled, backfill


def requests() -> list[tuple[str, reports.Request]]:
    """The year unfiltered and by each filter, in New York days."""
    def over_year(**filters: Any) -> reports.Request:
        return reports.request_of(start=YEAR_START, end=YEAR_END,
                                  time_zone="America/New_York", **filters)
    return [("no filter", over_year()), ("number 1", over_year(number_id=1)),
            ("group Billing", over_year(group_id=1)), ("agent 2", over_year(agent_id=2)),
            ("channel sms", over_year(channel="sms")),
            ("channel email", over_year(channel="email")),
            ("every filter", over_year(number_id=1, group_id=1, agent_id=2, channel="sms"))]


async def timings(locator: str | Path, runs: int) -> dict[str, tuple[float, float, Any]]:
    """Each report's (median ms, slowest ms, its totals)."""
    found = {}
    store = await Store.open(locator)
    try:
        for label, request in requests():
            got = await store.read(reports.report, request)  # warm-up
            samples = []
            for _ in range(runs):
                t0 = time.perf_counter()
                got = await store.read(reports.report, request)
                samples.append((time.perf_counter() - t0) * 1000)
            found[label] = (statistics.median(samples), max(samples), got["totals"])
    finally:
        await store.close()
    return found


def report(name: str, figures: dict[str, tuple[float, float, Any]]) -> None:
    for label, (median, slowest, totals) in figures.items():
        mark = "ok" if median < BUDGET_MS else "OVER BUDGET"
        print(f"{name:10} report over a year, {label:13}: median {median:7.1f} ms,"
              f" slowest {slowest:7.1f} ms  {mark}  ({totals['created']:,} created,"
              f" {totals['inbound'] + totals['outbound']:,} messages)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database", default=None,
                        help="an empty PostgreSQL database (default: a throwaway cluster)")
    parser.add_argument("--dir", default=None, help="where the SQLite file goes (default: temp)")
    parser.add_argument("--filled", action="store_true",
                        help="time the stores an earlier run left in --dir and --database")
    parser.add_argument("--only", choices=("sqlite", "postgresql"),
                        help="bench one backend (default: both)")
    args = parser.parse_args()
    cluster = None
    url = args.database
    if url is None and args.only != "sqlite":
        from pg_cluster import PgCluster

        cluster = PgCluster.start(durable=False)
        url = cluster.fresh_database()
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="smsdesk-reports-"))
    path = workdir / "reports.sqlite3"
    try:
        stores: list[tuple[str, str | Path]] = []
        if args.only != "postgresql":
            stores.append(("SQLite", path))
        if url is not None:
            stores.append(("PostgreSQL", url))
        for name, locator in stores:
            if not args.filled:
                await make_store(locator)
                fill = fill_sqlite if name == "SQLite" else fill_postgres
                filled, backfill = fill(locator, args.tickets, args.messages)  # type: ignore
                print(f"{name}: filled in {filled:.1f} s; schema 17 backfill of the counters"
                      f" and durations {backfill:.1f} s")
            store = await Store.open(locator)
            sizes = await store.read(lambda c: [c.execute(sql).fetchone()[0] for sql in (
                "SELECT count(*) FROM entries", "SELECT count(*) FROM tickets",
                "SELECT count(*) FROM report_counts")])
            await store.close()
            print(f"{name}: {sizes[0]:,} messages, {sizes[1]:,} tickets,"
                  f" {sizes[2]:,} counter rows")
            report(name, await timings(locator, args.runs))
        print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
              f" on {os.cpu_count()} CPUs")
    finally:
        if cluster is not None:
            cluster.stop()
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
