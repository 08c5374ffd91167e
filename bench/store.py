"""Store benchmark: group-commit ingest and full-text search over 1M messages.

    .venv/bin/python bench/store.py [--messages 1000000] [--ingest 200000] [--writers 50]
    .venv/bin/python bench/store.py --search-file DIR/bench.sqlite3   # a file --dir kept

Ingest: ``--writers`` concurrent tasks write through the single
group-committing writer with ``synchronous=FULL``; a write counts only once
its caller is told it is durable. Three kinds of write are timed: the bare
insert (a message row, its event and its FTS entry), ``record_inbound`` (the
whole inbound transaction: duplicate check, contact, threading, ticket update,
message, opt-out, event), and ``queue_outbound`` (an agent's reply).

Search: the rest of the messages are bulk-loaded so the file holds
``--messages`` in all, then a newest-first search for a common and a rare word
is timed, with a ticket-list window and a thread window for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import queries, writes
from core.models import SenderType
from core.store import Store

WORDS = (  # noqa: SIM905 - a sentence reads better than a list of 44 strings
    "order refund delivery package tracking late thanks please help account password "
    "reset invoice payment card charged twice cancel subscription address change store "
    "hours open closed appointment booking tomorrow today receipt return exchange size "
    "colour broken damaged missing item shipping cost discount code coupon expired"
).split()
COMMON = "order"  # in roughly one message of three
RARE = "zebra"  # in about one message in 10,000


def synthetic_body(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(4, 18))
    if rng.random() < 0.33:
        words.insert(rng.randrange(len(words) + 1), COMMON)
    if rng.random() < 0.0001:
        words.append(RARE)
    return " ".join(words).capitalize() + "."


def customer(i: int) -> str:
    return f"+1202555{i % 10_000:04d}" if i < 10_000 else f"+1303{i:07d}"


async def ingest(store: Store, total: int, writers: int, contacts: int) -> float:
    rng = random.Random(1)
    bodies = [synthetic_body(rng) for _ in range(4096)]
    counter = iter(range(total))

    async def writer() -> None:
        for i in counter:
            await store.write(
                writes.record_inbound,
                writes.InboundText(
                    sid=f"SM{i:032x}", to="+18885550100", from_=customer(i % contacts),
                    body=bodies[i % len(bodies)],
                ),
            )

    start = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return time.perf_counter() - start


def insert_message(ctx: writes.WriteContext, i: int, body: str) -> None:
    """The bare insert: one message row into ticket #1, its event, its FTS entry.

    Measures the group-commit writer itself, apart from the domain logic that
    ``record_inbound`` adds on top (contact, threading, ticket update).
    """
    message_id = ctx.conn.execute(
        "INSERT INTO entries(ticket_id, kind, direction, channel, body, twilio_sid, status,"
        " created_at, updated_at) VALUES (1, 'message', 'inbound', 'sms', ?, ?, 'received', ?, ?)"
        " RETURNING id",
        (body, f"SMraw{i:028x}", ctx.now, ctx.now),
    ).fetchone()[0]
    ctx.emit("message.created", 1, {"message": {"id": message_id, "body": body}})


async def insert_rows(store: Store, total: int, writers: int) -> float:
    rng = random.Random(3)
    bodies = [synthetic_body(rng) for _ in range(1024)]
    counter = iter(range(total))

    async def writer() -> None:
        for i in counter:
            await store.write(insert_message, i, bodies[i % len(bodies)])

    start = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return time.perf_counter() - start


async def queue_replies(store: Store, total: int, writers: int, tickets: int) -> float:
    """Agents' replies: ``queue_outbound`` into existing tickets, the lighter write."""
    counter = iter(range(total))

    async def writer() -> None:
        for i in counter:
            await store.write(writes.queue_outbound, ticket_id=1 + i % tickets, agent_id=None,
                              body="Thanks, your order is on its way.")

    start = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return time.perf_counter() - start


def bulk_fill(path: Path, start: int, total: int, contacts: int) -> float:
    """Add the remaining messages straight to SQLite in large transactions.

    Only to make a 1M-message file quickly for the search figures; the ingest
    figure above is the one that goes through the store.
    """
    rng = random.Random(2)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    ticket_ids = [r[0] for r in conn.execute("SELECT id FROM tickets")]
    t0 = time.perf_counter()
    now = int(time.time() * 1000)
    i = start
    while i < total:
        n = min(50_000, total - i)
        # The first 10,000 go to ticket #1 so one thread is 10,000 messages long.
        rows = [
            (1 if j < start + 10_000 else rng.choice(ticket_ids), synthetic_body(rng),
             f"SM{j:032x}", now, now)
            for j in range(i, i + n)
        ]
        conn.execute("BEGIN")
        first = conn.execute("SELECT max(id) FROM entries").fetchone()[0]
        conn.executemany(
            "INSERT INTO entries(ticket_id, kind, direction, channel, body, twilio_sid, status,"
            " created_at, updated_at)"
            " VALUES (?, 'message', 'inbound', 'sms', ?, ?, 'received', ?, ?)",
            rows,
        )
        writes.index_new_entries(conn, first)
        conn.execute("COMMIT")
        i += n
    conn.execute("INSERT INTO entries_fts(entries_fts) VALUES ('optimize')")
    conn.close()
    return time.perf_counter() - t0


FIRST_NAMES = ("Jordan", "Maya", "Tom", "Ana", "Priya", "Li", "Omar", "Sofia", "Grace", "Sam")
SURNAMES = ("Reyes", "Patel", "Hughes", "Souza", "Raman", "Wei", "Haddad", "Rossi", "Kim", "Lee")


def name_contacts(path: Path) -> tuple[str, str, str]:
    """Give every contact a name and an email and one ticket in 100 a tag, as agents
    would have over time; return one contact's name, phone and email to look up."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        "UPDATE contacts SET name = ?, email = ? WHERE id = ?",
        [(f"{FIRST_NAMES[i % 10]} {SURNAMES[i // 10 % 10]}{i}", f"customer{i}@example.com", i)
         for (i,) in conn.execute("SELECT id FROM contacts").fetchall()],
    )
    conn.execute("UPDATE tickets SET tags = '[\"vip\"]' WHERE id % 100 = 0")
    name, phone, email = conn.execute(
        "SELECT name, phone, email FROM contacts ORDER BY id DESC LIMIT 1").fetchone()
    conn.execute("COMMIT")
    conn.close()
    return name, phone, email


async def contact_search_figures(store: Store, name: str, phone: str, email: str) -> None:
    """Search by plain words, name, phone (three formats), email, tag and #number: the
    first window of each (a plain word pays for looking it up as a name and a tag too)."""
    national = phone.removeprefix("+1")
    dashed = f"+1 {national[:3]}-{national[3:6]}-{national[6:]}"
    top = await store.read(lambda c: c.execute("SELECT max(id) FROM tickets").fetchone()[0])
    for label, text in (("word, common", COMMON), ("word, rare", RARE),
                        ("two words", "refund invoice"), ("name, common", "Jordan"),
                        ("name, one person", name),
                        ("name, nobody", "Zachariah"), ("name, two words", "jordan rey"),
                        ("phone E.164", phone),
                        ("phone national", national), ("phone dashed", dashed),
                        ("email", email.upper()), ("tag", "VIP"), ("#number", f"#{top}")):
        p50, p99, n = await timed(store, 200, queries.list_tickets,
                                  queries.TicketFilter(text=text), limit=50)
        print(f"ticket search by {label} {text!r}: p50 {p50:.2f} ms, p99 {p99:.2f} ms"
              f" ({n} tickets)")


async def timed(store: Store, runs: int, fn, *args, **kwargs) -> tuple[float, float, int]:
    samples = []
    result = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = await store.read(fn, *args, **kwargs)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    n = len(result.items) if hasattr(result, "items") else len(result)
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1], n


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--ingest", type=int, default=200_000)
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--contacts", type=int, default=100_000,
                        help="distinct customers; each starts a ticket (default 100,000)")
    parser.add_argument("--dir", default=None, help="where to put the file (default: a temp dir)")
    parser.add_argument("--search-file", default=None,
                        help="only time searches by contact, tag and #number over this file")
    args = parser.parse_args()
    if args.search_file:  # only the search figures, over a file an earlier run left
        found = name_contacts(Path(args.search_file))
        store = await Store.open(Path(args.search_file))
        await contact_search_figures(store, *found)
        await store.close()
        return

    workdir = Path(args.dir or tempfile.mkdtemp(prefix="smsdesk-bench-"))
    path = workdir / "bench.sqlite3"
    path.unlink(missing_ok=True)
    store = await Store.open(path)
    account = await store.write(writes.add_account, name="Bench", sid="AC" + "0" * 32,
                                auth_token="x" * 32)
    await store.write(writes.save_number, account_id=account.id, e164="+18885550100",
                      mms=True, sender_type=SenderType.TOLL_FREE)

    seconds = await ingest(store, args.ingest, args.writers, args.contacts)
    batches, jobs = store.batches, store.jobs
    rows = args.ingest // 2
    raw = await insert_rows(store, rows, args.writers)
    print(f"ingest: {rows:,} bare message inserts (row + event + FTS) from {args.writers} writers"
          f" in {raw:.2f} s = {rows / raw:,.0f} acknowledged inserts/s"
          f" ({(store.jobs - jobs) / max(store.batches - batches, 1):.1f} jobs/commit,"
          f" synchronous=FULL)")
    print(f"ingest: {args.ingest:,} record_inbound from {args.writers} writers in {seconds:.2f} s"
          f" = {args.ingest / seconds:,.0f} acknowledged inbound texts/s"
          f" ({batches:,} commits, {jobs / max(batches, 1):.1f} jobs/commit)")
    batches, jobs = store.batches, store.jobs
    replies = args.ingest // 4
    seconds = await queue_replies(store, replies, args.writers, min(args.contacts, args.ingest))
    print(f"ingest: {replies:,} queue_outbound from {args.writers} writers in {seconds:.2f} s"
          f" = {replies / seconds:,.0f} acknowledged replies/s"
          f" ({(store.jobs - jobs) / max(store.batches - batches, 1):.1f} jobs/commit)")
    await store.close()

    if args.messages > args.ingest:
        fill = bulk_fill(path, args.ingest, args.messages, args.contacts)
        print(f"bulk fill to {args.messages:,} messages: {fill:.1f} s (not a store figure)")

    store = await Store.open(path)
    messages = await store.read(lambda c: c.execute("SELECT count(*) FROM entries").fetchone()[0])
    tickets = await store.read(queries.count_tickets)
    print(f"file: {messages:,} messages in {tickets:,} tickets,"
          f" {path.stat().st_size / 1e6:,.0f} MB")
    for label, word in (("common", COMMON), ("rare", RARE)):
        p50, p99, n = await timed(store, 200, queries.search, word, limit=50)
        print(f"search newest-first {label} word {word!r}: p50 {p50:.2f} ms, p99 {p99:.2f} ms"
              f" ({n} hits/window)")
    p50, p99, n = await timed(store, 200, queries.list_tickets, limit=100)
    print(f"ticket list first window: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({n} rows)")
    page = await store.read(queries.list_tickets, limit=100)
    for _ in range(50):
        page = await store.read(queries.list_tickets, before=page.older, limit=100)
    p50, p99, n = await timed(store, 200, queries.list_tickets, before=page.older, limit=100)
    print(f"ticket list 51st window: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({n} rows)")
    busiest, length = await store.read(lambda c: c.execute(
        "SELECT ticket_id, count(*) FROM entries GROUP BY ticket_id ORDER BY 2 DESC LIMIT 1"
    ).fetchone())
    p50, p99, n = await timed(store, 200, queries.thread, busiest, limit=100)
    print(f"thread of {length:,} entries, newest window: p50 {p50:.2f} ms,"
          f" p99 {p99:.2f} ms ({n} entries)")
    window = await store.read(queries.thread, busiest, limit=100)
    while window.older is not None and len(window.items) == 100:
        deeper = await store.read(queries.thread, busiest, before=window.older, limit=100)
        if deeper.older is None:
            break
        window = deeper
    p50, p99, n = await timed(store, 200, queries.thread, busiest, before=window.older, limit=100)
    print(f"thread oldest window: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({n} entries)")
    p50, p99, n = await timed(store, 50, queries.list_tickets,
                              queries.TicketFilter(text=COMMON), limit=50)
    print(f"ticket search {COMMON!r}: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({n} tickets)")
    await store.close()
    found = name_contacts(path)
    store = await Store.open(path)
    await contact_search_figures(store, *found)
    await store.close()
    if args.dir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    asyncio.run(main())
