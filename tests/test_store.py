"""The store on real files: schema, pragmas, group commit, durability, and the writes."""

from __future__ import annotations

import asyncio
import gc
import os
import sqlite3
import stat
import threading
from pathlib import Path

import aiosqlite
import pytest
from conftest import CUSTOMER, UK, US, Desk, customer, force_close, plain_connect

from core import auth, queries, schema, ticket_fields, writes
from core.db import database_errors
from core.models import Direction, Event, Message, MessageStatus, Note, Priority, Role
from core.schema import SCHEMA_VERSION, SchemaTooNew
from core.store import Store, StoreClosed
from core.writes import Conflict, NotFound, StoreError, UnknownNumber

# --- schema and file ---------------------------------------------------------------


def _user_version(path: Path) -> int:
    with plain_connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


async def test_new_file_is_migrated_to_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "new" / "desk.sqlite3"  # the directory is made too
    store = await Store.open(path)
    await store.close()
    assert _user_version(path) == SCHEMA_VERSION
    with plain_connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"accounts", "tickets", "entries", "entries_fts", "events"} <= tables


async def test_reopening_keeps_everything_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite3"
    store = await Store.open(path)
    account = await store.write(writes.add_account, name="A", sid="AC1", auth_token="t" * 32)
    await store.write(writes.save_number, account_id=account.id, e164=US)
    result = await store.write(
        writes.record_inbound, writes.InboundText("SM1", US, CUSTOMER, "kept across restarts")
    )
    seq = await store.read(queries.latest_seq)
    await store.close()

    again = await Store.open(path)  # running migration 1 twice would fail: tables exist
    try:
        assert _user_version(path) == SCHEMA_VERSION
        assert await again.read(queries.latest_seq) == seq
        assert await again.read(queries.ticket, result.ticket.id) == result.ticket
        hits = await again.read(queries.search, "restarts")
        assert [h.entry.id for h in hits] == [result.message.id]
        # and the event log resumes after the old seq, never reusing it
        await again.write(writes.add_group, "After")
        assert await again.read(queries.latest_seq) == seq + 1
    finally:
        await again.close()


def test_migrate_runs_only_the_missing_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = sqlite3.connect(tmp_path / "m.sqlite3", isolation_level=None)
    try:
        assert schema.migrate(conn) == 0
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert schema.migrate(conn) == SCHEMA_VERSION  # nothing to do

        step = "CREATE TABLE extra (x INTEGER);\n-- a comment line\nINSERT INTO extra VALUES (7);"
        monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, step))
        monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
        assert schema.migrate(conn) == SCHEMA_VERSION
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert conn.execute("SELECT x FROM extra").fetchall() == [(7,)]
    finally:
        conn.close()


def test_a_failing_migration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = sqlite3.connect(tmp_path / "m.sqlite3", isolation_level=None)
    try:
        schema.migrate(conn)
        broken = "CREATE TABLE half_done (x INTEGER);\nCREATE TABLE tickets (y INTEGER);"
        monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, broken))
        monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
        with pytest.raises(sqlite3.OperationalError):
            schema.migrate(conn)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "half_done" not in names
        assert not conn.in_transaction
    finally:
        conn.close()


async def _close_stray_connections(threads_before: set[threading.Thread]) -> None:
    """Close aiosqlite connections a failed ``Store.open`` left behind.

    Their worker threads are not daemons: left running, they keep pytest from exiting.
    """
    for obj in gc.get_objects():
        try:
            stray = (
                isinstance(obj, aiosqlite.Connection)
                and obj._connection is not None
                and obj._thread not in threads_before
            )
        except ReferenceError:  # a weak proxy (left by other tests) to something gone
            continue
        if stray:
            await obj.close()


def _too_new(path: Path) -> None:
    with plain_connect(path) as conn:
        conn.execute("CREATE TABLE precious (x INTEGER)")
        conn.execute("INSERT INTO precious VALUES (42)")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite3"
    _too_new(path)
    threads = set(threading.enumerate())
    try:
        with pytest.raises(SchemaTooNew):
            await Store.open(path)
    finally:
        await _close_stray_connections(threads)
    assert _user_version(path) == SCHEMA_VERSION + 1
    with plain_connect(path) as conn:
        assert [tuple(r) for r in conn.execute("SELECT x FROM precious")] == [(42,)]
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "tickets" not in names


async def test_a_refused_open_leaves_no_thread_behind(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite3"
    _too_new(path)
    threads = set(threading.enumerate())
    try:
        with pytest.raises(SchemaTooNew):
            await Store.open(path)
        gc.collect()
        await asyncio.sleep(0.05)
        assert [t for t in threading.enumerate() if t not in threads and t.is_alive()] == []
    finally:
        await _close_stray_connections(threads)


@pytest.mark.sqlite_only
async def test_file_modes_journal_and_pragmas(desk: Desk) -> None:
    await desk.inbound("hello")  # so the WAL and shared-memory files exist
    for suffix in ("", "-wal", "-shm"):
        file = Path(f"{desk.locator}{suffix}")
        assert file.exists()
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, suffix
    with plain_connect(desk.locator) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # synchronous is per connection and not observable from outside: ask the writer
    async with desk.store._writer.db.execute("PRAGMA synchronous") as cursor:
        assert (await cursor.fetchone())[0] == 2  # FULL
    async with desk.store._writer.db.execute("PRAGMA foreign_keys") as cursor:
        assert (await cursor.fetchone())[0] == 1


async def test_an_existing_world_readable_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite3"
    path.touch()
    os.chmod(path, 0o644)
    store = await Store.open(path)
    await store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_the_writer_enforces_foreign_keys(desk: Desk) -> None:
    def orphan_ticket(ctx: writes.WriteContext) -> None:
        ctx.conn.execute(
            "INSERT INTO tickets(contact_id, number_id, created_at, updated_at, last_message_at)"
            " VALUES (999, 999, 0, 0, 0)"
        )

    with pytest.raises(database_errors()):
        await desk.store.write(orphan_ticket)
    assert await desk.store.read(queries.count_tickets) == 0


async def test_readers_cannot_write(desk: Desk) -> None:
    def sneaky(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO agent_groups(name) VALUES ('sneaky')")

    with pytest.raises(database_errors()):
        await desk.store.read(sneaky)
    assert [g.name for g in await desk.store.read(queries.groups)] == ["Billing", "Support"]


# --- inbound: exactly once ----------------------------------------------------------


async def test_a_duplicate_message_sid_is_stored_once(desk: Desk) -> None:
    first = await desk.inbound("hello", sid="SMdup")
    seq = await desk.store.read(queries.latest_seq)
    again = await desk.inbound("hello (retried)", sid="SMdup")
    assert again.duplicate and not first.duplicate
    assert again.message.id == first.message.id
    assert again.message.body == "hello"
    assert again.ticket.id == first.ticket.id
    assert again.routing is None
    page = await desk.store.read(queries.thread, first.ticket.id)
    assert [e.id for e in page.items] == [first.message.id]
    assert await desk.store.read(queries.latest_seq) == seq  # no second event
    assert [e.kind for e in desk.events] == ["ticket.created"]


async def test_a_duplicate_in_the_same_batch_is_stored_once(desk: Desk) -> None:
    a, b = await asyncio.gather(
        desk.inbound("one", sid="SMsame"), desk.inbound("two", sid="SMsame")
    )
    assert (a.duplicate, b.duplicate) == (False, True)
    assert a.message.id == b.message.id
    assert len(desk.events) == 1


async def test_a_text_to_an_unknown_number_writes_nothing(desk: Desk) -> None:
    seq = await desk.store.read(queries.latest_seq)
    with pytest.raises(UnknownNumber):
        await desk.inbound("who is this?", to="+19995550123", from_=customer(77))
    assert await desk.store.read(queries.contact_by_phone, customer(77)) is None
    assert await desk.store.read(queries.count_tickets) == 0
    assert await desk.store.read(queries.message_by_sid, "SM" + "0" * 31 + "1") is None
    assert await desk.store.read(queries.latest_seq) == seq
    assert desk.events == []
    # the writer is fine afterwards
    ok = await desk.inbound("to a real number", from_=customer(77))
    assert ok.routing is not None


# --- group commit -------------------------------------------------------------------


async def test_concurrent_writes_are_grouped_and_each_applied_once(desk: Desk) -> None:
    seq0 = await desk.store.read(queries.latest_seq)
    batches0, jobs0 = desk.store.batches, desk.store.jobs
    texts = [
        desk.text(f"message {i}", from_=customer(i % 50), to=US if i % 3 else UK)
        for i in range(200)
    ]
    results = await asyncio.gather(*(desk.store.write(writes.record_inbound, t) for t in texts))

    assert desk.store.jobs - jobs0 == 200
    assert desk.store.batches - batches0 < 200  # grouped
    assert all(not r.duplicate for r in results)
    assert [r.message.twilio_sid for r in results] == [t.sid for t in texts]
    assert len({r.message.id for r in results}) == 200
    with plain_connect(desk.locator) as conn:
        sids = [r[0] for r in conn.execute("SELECT twilio_sid FROM entries ORDER BY id")]
    assert sorted(sids) == sorted(t.sid for t in texts)

    seqs = [e.seq for e in desk.events]
    assert seqs == list(range(seq0 + 1, seq0 + 201))  # strictly increasing, no gaps
    replay = await desk.store.read(queries.events_after, seq0)
    assert [e.seq for e in replay] == seqs
    # 50 contacts x 2 numbers -> 100 tickets, each message in its contact's ticket
    assert await desk.store.read(queries.count_tickets) == 100
    for text, result in zip(texts, results, strict=True):
        assert result.ticket.number_id == (desk.us.id if text.to == US else desk.uk.id)


async def test_a_failing_job_fails_alone_in_its_batch(desk: Desk) -> None:
    seq0 = await desk.store.read(queries.latest_seq)
    batches0 = desk.store.batches

    def half_done_then_fail(ctx: writes.WriteContext) -> None:
        writes.add_group(ctx, "Ghost")  # writes a row and an event...
        raise RuntimeError("...then fails: both must vanish")

    good = [desk.store.write(writes.record_inbound, desk.text(f"ok {i}", from_=customer(i)))
            for i in range(40)]
    bad = [
        desk.store.write(writes.update_ticket, 999_999, status="open"),
        desk.store.write(half_done_then_fail),
    ]
    results = await asyncio.gather(*good[:20], *bad, *good[20:], return_exceptions=True)

    assert desk.store.batches - batches0 == 1  # all 42 jobs shared one transaction
    assert isinstance(results[20], NotFound)
    assert isinstance(results[21], RuntimeError)
    ok = results[:20] + results[22:]
    assert all(isinstance(r, writes.InboundResult) for r in ok)
    assert await desk.store.read(queries.count_tickets) == 40
    assert "Ghost" not in [g.name for g in await desk.store.read(queries.groups)]
    seqs = [e.seq for e in desk.events]
    assert len(seqs) == 40 and seqs == sorted(set(seqs)) and seqs[0] > seq0
    if desk.store.backend.name == "sqlite":  # PostgreSQL's identity is not transactional:
        assert seqs == list(range(seq0 + 1, seq0 + 41))  # there, a rolled-back seq is a gap
    assert all(e.kind == "ticket.created" for e in desk.events)
    # the next batch reuses nothing and goes on from there
    await desk.store.write(writes.add_group, "Real")
    assert desk.events[-1].seq > seqs[-1]
    assert [e.seq for e in await desk.store.read(queries.events_after, seq0)] == [
        *seqs, desk.events[-1].seq]


async def test_a_write_is_on_disk_when_it_returns(desk: Desk) -> None:
    result = await desk.inbound("durable?")
    with plain_connect(desk.locator) as conn:  # a different connection, as another process
        row = conn.execute(
            "SELECT body FROM entries WHERE id = ?", (result.message.id,)
        ).fetchone()
        assert row is not None and row["body"] == "durable?"
        assert conn.execute("SELECT max(seq) FROM events").fetchone()[0] == desk.events[-1].seq


async def test_everything_survives_close_and_reopen(desk: Desk) -> None:
    results = await asyncio.gather(
        *(desk.inbound(f"m{i}", from_=customer(i)) for i in range(30))
    )
    note = await desk.store.write(
        writes.add_note, ticket_id=results[0].ticket.id, agent_id=None, body="remember this"
    )
    tickets = (await desk.store.read(queries.list_tickets, limit=100)).items
    seq = await desk.store.read(queries.latest_seq)
    await desk.store.close()

    store = await Store.open(desk.locator)
    try:
        assert (await store.read(queries.list_tickets, limit=100)).items == tickets
        assert await store.read(queries.latest_seq) == seq
        assert await store.read(queries.entry, note.id) == note
        assert len(await store.read(queries.events_after, 0)) == seq
    finally:
        await store.close()


async def test_close_finishes_queued_writes_then_refuses_more(desk: Desk) -> None:
    pending = [asyncio.create_task(desk.inbound(f"late {i}", from_=customer(i)))
               for i in range(10)]
    await asyncio.sleep(0)  # let every task queue its job
    await desk.store.close()
    assert all(task.done() and not task.cancelled() for task in pending)
    assert all(not task.result().duplicate for task in pending)
    with pytest.raises(StoreClosed):
        await desk.store.write(writes.add_group, "Too late")
    with pytest.raises(StoreClosed):
        await desk.store.read(queries.latest_seq)
    with plain_connect(desk.locator) as conn:
        assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 10
    await desk.store.close()  # closing twice is harmless


async def test_a_cancelled_caller_does_not_stop_the_writer(desk: Desk) -> None:
    task = asyncio.create_task(desk.inbound("the caller gives up", sid="SMcancel"))
    await asyncio.sleep(0)
    task.cancel()
    # the job was queued: it is still written, and the writer goes on
    after = await desk.inbound("next")
    assert not after.duplicate
    assert await desk.store.read(queries.message_by_sid, "SMcancel") is not None


# --- commit listeners and the event log ---------------------------------------------


async def test_listeners_hear_only_committed_events_in_seq_order(desk: Desk) -> None:
    heard: list[Event] = []
    visible: list[bool] = []

    def listener(events: list[Event]) -> None:
        # what another process sees at this moment: the events must be there already
        with plain_connect(desk.locator) as conn:
            top = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        visible.append(all(e.seq <= top for e in events))
        heard.extend(events)

    desk.store.on_commit(listener)
    seq0 = await desk.store.read(queries.latest_seq)
    first = await desk.inbound("first")
    await asyncio.gather(*(desk.inbound(f"burst {i}", from_=customer(i)) for i in range(25)))
    with pytest.raises(NotFound):
        await desk.update(999_999, status="closed")  # failed jobs make no events
    await desk.update(first.ticket.id, status="pending")

    assert visible and all(visible)
    assert [e.seq for e in heard] == list(range(seq0 + 1, seq0 + 28))
    assert heard[-1].kind == "ticket.updated"
    assert heard[-1].payload["changed"] == ["status"]


async def test_events_after_replays_exactly_what_a_client_missed(desk: Desk) -> None:
    # a client saw everything up to here, then disconnected
    await desk.inbound("seen")
    seen_upto = desk.events[-1].seq
    missed_from = len(desk.events)
    result = await desk.inbound("missed 1")
    await desk.store.write(writes.add_note, ticket_id=result.ticket.id, agent_id=None, body="n")
    await desk.inbound("missed 2", from_=customer(9))
    await desk.update(result.ticket.id, tags=["b", "a", "a"])

    replay = await desk.store.read(queries.events_after, seen_upto)
    live = desk.events[missed_from:]
    assert [e.seq for e in replay] == [e.seq for e in live]
    # what a resuming client gets is what a connected one got, field for field
    assert replay == live
    assert await desk.store.read(queries.events_after, live[-1].seq) == []
    assert await desk.store.read(queries.latest_seq) == live[-1].seq
    assert [e.seq for e in await desk.store.read(queries.events_after, seen_upto, limit=2)] == [
        live[0].seq, live[1].seq,
    ]


async def test_a_failing_listener_does_not_stop_the_writer(desk: Desk) -> None:
    def broken(events: list[Event]) -> None:
        raise RuntimeError("listener bug")

    desk.store.on_commit(broken)
    try:
        await desk.store.write(writes.add_group, "One")
        await asyncio.wait_for(desk.store.write(writes.add_group, "Two"), timeout=0.5)
    finally:
        await force_close(desk.store)


# --- outbound and status callbacks --------------------------------------------------


async def _reply(desk: Desk, body: str = "We're on it") -> Message:
    inbound = await desk.inbound("help")
    return await desk.store.write(
        writes.queue_outbound, ticket_id=inbound.ticket.id, agent_id=None, body=body
    )


async def test_outbound_moves_through_the_outbox(desk: Desk) -> None:
    inbound = await desk.inbound("help")
    queued = await desk.store.write(
        writes.queue_outbound, ticket_id=inbound.ticket.id, agent_id=None, body="On it!"
    )
    assert queued.direction is Direction.OUTBOUND
    assert queued.status is MessageStatus.QUEUED and queued.twilio_sid is None
    assert [m.id for m in await desk.store.read(queries.outbox)] == [queued.id]
    ticket = await desk.ticket(inbound.ticket.id)
    assert ticket.last_preview == "On it!"

    sending = await desk.store.write(writes.mark_sending, queued.id)
    assert sending.status is MessageStatus.SENDING
    assert [m.id for m in await desk.store.read(queries.outbox)] == [queued.id]

    sent = await desk.store.write(
        writes.attach_sid, queued.id, sid="SMout1", status=MessageStatus.SENT
    )
    assert sent.twilio_sid == "SMout1" and sent.status is MessageStatus.SENT
    assert await desk.store.read(queries.outbox) == []
    assert await desk.store.read(queries.message_by_sid, "SMout1") == sent
    assert [e.kind for e in desk.events][-3:] == ["message.created"] + ["message.updated"] * 2


async def test_outbox_lists_only_unsent_replies_oldest_first(desk: Desk) -> None:
    inbound = await desk.inbound("help")
    ids = []
    for body in ("one", "two", "three", "four"):
        m = await desk.store.write(
            writes.queue_outbound, ticket_id=inbound.ticket.id, agent_id=None, body=body
        )
        ids.append(m.id)
    await desk.store.write(writes.add_note, ticket_id=inbound.ticket.id, agent_id=None, body="n")
    await desk.store.write(writes.mark_sending, ids[1])
    await desk.store.write(writes.attach_sid, ids[2], sid="SMx", status=MessageStatus.SENT)
    await desk.store.write(writes.mark_failed, ids[3], error_code=21610)
    outbox = await desk.store.read(queries.outbox)
    assert [(m.id, m.status) for m in outbox] == [
        (ids[0], MessageStatus.QUEUED), (ids[1], MessageStatus.SENDING),
    ]
    failed = await desk.store.read(queries.entry, ids[3])
    assert isinstance(failed, Message)
    assert (failed.status, failed.error_code) == (MessageStatus.FAILED, 21610)


async def test_a_message_twilio_accepted_leaves_the_outbox(desk: Desk) -> None:
    reply = await _reply(desk)
    await desk.store.write(writes.mark_sending, reply.id)
    await desk.store.write(writes.attach_sid, reply.id, sid="SMq", status=MessageStatus.QUEUED)
    assert await desk.store.read(queries.outbox) == []


async def test_only_a_queued_reply_without_a_sid_is_marked_sending(desk: Desk) -> None:
    """The outbox reads, then marks: a message that moved on in between is never tried again."""
    reply = await _reply(desk)
    await desk.store.write(writes.attach_sid, reply.id, sid="SMmoved", status=MessageStatus.SENT)
    await desk.store.write(writes.update_status, "SMmoved", MessageStatus.DELIVERED)
    seq = await desk.store.read(queries.latest_seq)
    left = await desk.store.write(writes.mark_sending, reply.id)
    assert (left.status, left.twilio_sid) == (MessageStatus.DELIVERED, "SMmoved")
    assert await desk.store.read(queries.latest_seq) == seq  # no event either
    failed = await _reply(desk, "second")
    await desk.store.write(writes.mark_failed, failed.id, error_code=21610)
    assert (await desk.store.write(writes.mark_sending, failed.id)).status is MessageStatus.FAILED


async def test_status_callbacks_only_move_forward(desk: Desk) -> None:
    reply = await _reply(desk)
    await desk.store.write(writes.mark_sending, reply.id)
    await desk.store.write(writes.attach_sid, reply.id, sid="SMfwd", status=MessageStatus.SENT)

    delivered = await desk.store.write(writes.update_status, "SMfwd", MessageStatus.DELIVERED)
    assert delivered is not None and delivered.status is MessageStatus.DELIVERED
    seq = await desk.store.read(queries.latest_seq)
    late = await desk.store.write(writes.update_status, "SMfwd", MessageStatus.SENT)
    assert late is None
    same = await desk.store.write(writes.update_status, "SMfwd", MessageStatus.DELIVERED)
    assert same is None
    assert await desk.store.read(queries.latest_seq) == seq  # no-ops make no events
    stored = await desk.store.read(queries.message_by_sid, "SMfwd")
    assert stored is not None and stored.status is MessageStatus.DELIVERED

    # a carrier's later failure verdict replaces "delivered", with its error code
    undelivered = await desk.store.write(
        writes.update_status, "SMfwd", MessageStatus.UNDELIVERED, 30003
    )
    assert undelivered is not None
    assert (undelivered.status, undelivered.error_code) == (MessageStatus.UNDELIVERED, 30003)
    # ...but never the other way round
    assert await desk.store.write(writes.update_status, "SMfwd", MessageStatus.DELIVERED) is None
    stored = await desk.store.read(queries.message_by_sid, "SMfwd")
    assert stored is not None
    assert (stored.status, stored.error_code) == (MessageStatus.UNDELIVERED, 30003)


async def test_a_callback_for_an_unknown_sid_changes_nothing(desk: Desk) -> None:
    await _reply(desk)
    seq = await desk.store.read(queries.latest_seq)
    assert await desk.store.write(writes.update_status, "SMnobody", MessageStatus.SENT) is None
    assert await desk.store.read(queries.latest_seq) == seq


async def test_an_early_callback_before_the_sid_is_attached_still_counts(desk: Desk) -> None:
    # a status callback can only find a message by SID; attach_sid must not go backwards
    reply = await _reply(desk)
    await desk.store.write(writes.mark_sending, reply.id)
    await desk.store.write(writes.attach_sid, reply.id, sid="SMa", status=MessageStatus.SENT)
    await desk.store.write(writes.update_status, "SMa", MessageStatus.DELIVERED)
    again = await desk.store.write(writes.attach_sid, reply.id, sid="SMa",
                                   status=MessageStatus.QUEUED)
    assert again.status is MessageStatus.DELIVERED


async def test_callbacks_before_the_sid_are_kept_forward_only_and_applied_once(
        desk: Desk) -> None:
    reply = await _reply(desk)
    await desk.store.write(writes.record_status, "SMearly", MessageStatus.UNDELIVERED, 30003)
    await desk.store.write(writes.record_status, "SMearly", MessageStatus.SENT)  # late: no
    attached = await desk.store.write(writes.attach_sid, reply.id, sid="SMearly",
                                      status=MessageStatus.QUEUED)
    assert (attached.status, attached.error_code) == (MessageStatus.UNDELIVERED, 30003)
    kept = await desk.store.read(lambda c: c.execute(
        "SELECT count(*) FROM early_statuses").fetchone()[0])
    assert kept == 0  # used up: a second message can never inherit it
    # Once the SID is known, a callback is applied at once, as before.
    other = await _reply(desk, "second")
    await desk.store.write(writes.attach_sid, other.id, sid="SMlater",
                           status=MessageStatus.SENT)
    delivered = await desk.store.write(writes.record_status, "SMlater",
                                       MessageStatus.DELIVERED)
    assert delivered is not None and delivered.status is MessageStatus.DELIVERED


async def test_no_reply_on_a_deleted_ticket(desk: Desk) -> None:
    inbound = await desk.inbound("hi")
    await desk.update(inbound.ticket.id, deleted=True)
    with pytest.raises(StoreError):
        await desk.store.write(
            writes.queue_outbound, ticket_id=inbound.ticket.id, agent_id=None, body="x"
        )
    with pytest.raises(NotFound):
        await desk.store.write(writes.queue_outbound, ticket_id=424242, agent_id=None, body="x")
    assert await desk.store.read(queries.outbox) == []


# --- ticket work --------------------------------------------------------------------


async def _agent(desk: Desk, name: str = "alice", role: Role = Role.AGENT) -> writes.Agent:
    return await desk.store.write(
        writes.add_agent, name=name, role=role, token_hash=auth.hash_token(auth.new_token()),
        group_ids=[desk.billing.id],
    )


async def test_update_ticket_applies_valid_changes(desk: Desk) -> None:
    alice = await _agent(desk)
    ticket = (await desk.inbound("hi")).ticket
    await desk.store.write(ticket_fields.create_field, label="Order", kind="number")
    changed = await desk.update(
        ticket.id, status="pending", priority=Priority.URGENT, group_id=desk.support.id,
        agent_id=alice.id, tags=["vip", " refund ", "vip", ""], custom_fields={"order": 42},
        subject="Refund for order 42", type="billing", unread=0,
    )
    assert changed == await desk.ticket(ticket.id)
    assert changed.status.value == "pending" and changed.priority is Priority.URGENT
    assert (changed.group_id, changed.agent_id) == (desk.support.id, alice.id)
    assert changed.tags == ("refund", "vip")
    assert changed.custom_fields == {"order": 42}
    assert changed.subject == "Refund for order 42" and changed.type == "billing"
    assert changed.unread is False
    assert changed.last_message_at == ticket.last_message_at  # edits are not activity
    unassigned = await desk.update(ticket.id, agent_id=None, group_id=None)
    assert (unassigned.agent_id, unassigned.group_id) == (None, None)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"status": "bogus"}, StoreError),
        ({"priority": "critical"}, StoreError),
        ({"status": "open", "priority": "nope"}, StoreError),
        ({"owner": 3}, StoreError),
        ({"custom_fields": ["not", "a", "dict"]}, StoreError),
        ({"group_id": 999}, NotFound),
        ({"status": "closed", "agent_id": 999}, NotFound),
    ],
)
async def test_update_ticket_refuses_bad_changes_whole(
    desk: Desk, changes: dict[str, object], error: type[Exception]
) -> None:
    ticket = (await desk.inbound("hi")).ticket
    seq = await desk.store.read(queries.latest_seq)
    with pytest.raises(error) as raised:
        await desk.update(ticket.id, **changes)
    if error is StoreError:
        assert not isinstance(raised.value, NotFound)
    assert await desk.ticket(ticket.id) == ticket  # nothing changed, not even updated_at
    assert await desk.store.read(queries.latest_seq) == seq


async def test_update_of_a_missing_ticket(desk: Desk) -> None:
    with pytest.raises(NotFound):
        await desk.update(31337, status="open")


async def test_notes_join_the_thread_and_the_search(desk: Desk) -> None:
    alice = await _agent(desk)
    inbound = await desk.inbound("my package is lost")
    note = await desk.store.write(
        writes.add_note, ticket_id=inbound.ticket.id, agent_id=alice.id,
        body="Checked with the courier: parcel 7731 held at depot",
    )
    assert isinstance(note, Note)
    page = await desk.store.read(queries.thread, inbound.ticket.id)
    assert [type(e) for e in page.items] == [Message, Note]
    assert page.items[1] == note
    hits = await desk.store.read(queries.search, "courier depot")
    assert [(h.entry.id, h.ticket_id) for h in hits] == [(note.id, inbound.ticket.id)]
    # a note is private: it does not become the list's preview
    assert (await desk.ticket(inbound.ticket.id)).last_preview == "my package is lost"
    assert desk.events[-1].kind == "note.created"
    with pytest.raises(StoreError):
        await desk.store.write(writes.add_note, ticket_id=inbound.ticket.id, agent_id=None,
                               body="   ")
    with pytest.raises(NotFound):
        await desk.store.write(writes.add_note, ticket_id=999, agent_id=None, body="x")


async def test_log_time(desk: Desk) -> None:
    alice = await _agent(desk)
    ticket = (await desk.inbound("hi")).ticket
    first = await desk.store.write(
        writes.log_time, ticket_id=ticket.id, agent_id=alice.id, seconds=90, note="call"
    )
    second = await desk.store.write(
        writes.log_time, ticket_id=ticket.id, agent_id=alice.id, seconds=30
    )
    assert await desk.store.read(queries.time_entries, ticket.id) == [first, second]
    assert desk.events[-1].kind == "time.logged"
    for seconds in (0, -5):
        with pytest.raises(StoreError):
            await desk.store.write(
                writes.log_time, ticket_id=ticket.id, agent_id=alice.id, seconds=seconds
            )
    with pytest.raises(NotFound):
        await desk.store.write(writes.log_time, ticket_id=999, agent_id=alice.id, seconds=5)
    assert len(await desk.store.read(queries.time_entries, ticket.id)) == 2


# --- accounts, groups, agents -------------------------------------------------------


async def test_agents_are_found_by_their_token_hash(desk: Desk) -> None:
    token = auth.new_token()
    assert token.startswith(auth.TOKEN_PREFIX)
    agent = await desk.store.write(
        writes.add_agent, name=" Alice ", role=Role.ADMIN, token_hash=auth.hash_token(token),
        group_ids=[desk.support.id, desk.billing.id, desk.billing.id],
    )
    assert agent.name == "Alice" and agent.is_admin
    assert agent.group_ids == tuple(sorted((desk.billing.id, desk.support.id)))
    found = await desk.store.read(queries.agent_by_token_hash, auth.hash_token(token))
    assert found == agent
    assert auth.token_matches(token, agent.token_hash)
    assert not auth.token_matches(token + "x", agent.token_hash)
    assert await desk.store.read(queries.agent_by_token_hash, auth.hash_token("sd_wrong")) is None
    # the token hash never goes out in an event
    assert "token_hash" not in desk.events[-1].payload["agent"]

    rotated = auth.new_token()
    await desk.store.write(
        writes.update_agent, agent.id, token_hash=auth.hash_token(rotated), group_ids=[]
    )
    assert await desk.store.read(queries.agent_by_token_hash, auth.hash_token(token)) is None
    now = await desk.store.read(queries.agent_by_token_hash, auth.hash_token(rotated))
    assert now is not None and now.group_ids == ()


async def test_an_agent_in_a_missing_group_is_not_created(desk: Desk) -> None:
    with pytest.raises(NotFound):
        await desk.store.write(
            writes.add_agent, name="bob", role=Role.AGENT, token_hash="h", group_ids=[999]
        )
    assert await desk.store.read(queries.agents) == []


async def test_conflicts(desk: Desk) -> None:
    with pytest.raises(Conflict):
        await desk.store.write(
            writes.add_account, name="Again", sid=desk.account.sid, auth_token="x" * 32
        )
    with pytest.raises(Conflict):
        await desk.store.write(writes.add_group, "billing")  # names ignore case
    with pytest.raises(StoreError):
        await desk.store.write(writes.add_group, "   ")
    await _agent(desk, "alice")
    with pytest.raises(Conflict):
        await _agent(desk, "ALICE")
    other = await desk.store.write(writes.add_account, name="B", sid="AC2", auth_token="y" * 32)
    with pytest.raises(Conflict):
        await desk.store.write(writes.save_number, account_id=other.id, e164=UK)
    assert len(await desk.store.read(queries.accounts)) == 2
    assert [g.name for g in await desk.store.read(queries.groups)] == ["Billing", "Support"]
    assert [a.name for a in await desk.store.read(queries.agents)] == ["alice"]


async def test_auth_tokens_stay_in_the_relay(desk: Desk) -> None:
    account = await desk.store.read(queries.account_by_sid, desk.account.sid)
    assert account is not None and account.auth_token == "secret-auth-token-1234"
    await desk.store.write(writes.update_account, desk.account.id, auth_token="rotated-9876")
    wire = desk.events[-1].payload["account"]
    assert "auth_token" not in wire
    assert wire["auth_token_hint"].endswith("9876")
    with pytest.raises(StoreError):
        await desk.store.write(writes.update_account, desk.account.id, sid="AC999")


async def test_an_unknown_agent_is_refused_in_words(desk: Desk) -> None:
    first = await desk.inbound("hello")
    with pytest.raises(writes.NotFound, match="agent 999"):
        await desk.store.write(writes.add_note, ticket_id=first.ticket.id, agent_id=999, body="x")
    with pytest.raises(writes.NotFound, match="agent 999"):
        await desk.store.write(writes.queue_outbound, ticket_id=first.ticket.id, agent_id=999,
                               body="x")
