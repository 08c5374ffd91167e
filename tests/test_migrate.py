"""``smsdesk migrate --to``: a SQLite desk with every kind of row, copied into PostgreSQL.

The desk is built through core.writes (as a relay builds one), migrated, and the
PostgreSQL store is then opened as a relay would open it: same rows, same ids and
event seqs (agents resume), identities that continue above the copied ids, media in
the table. Re-running is harmless, an interrupted run resumes, and a database that is
not empty (another desk, a live one) is refused.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core import (
    bot_store,
    bot_writes,
    canned,
    contacts,
    queries,
    scenarios,
    ticket_fields,
    timekeeping,
    trash,
    writes,
)
from core.held import hold_inbound
from core.models import Media, MessageStatus, Role, SenderType
from core.store import Store
from core.writes import InboundText
from server import cli
from server.media import FileMediaStore
from server.media_db import DbMediaStore
from server.migrate import DERIVED, TABLES, MigrationRefused, checksum, migrate

US = "+18885550100"
UK = "+447400900456"


def phone(n: int) -> str:
    return f"+1555{n:07d}"


@dataclass
class Built:
    path: Path
    media: list[str]
    purged_ticket: int  # the newest ticket, purged: its id must never be given again
    last_seq: int


def _no_send(*_: Any) -> None:
    raise AssertionError("the scenario used here sends nothing")


async def build_desk(home: Path, *, tickets: int = 6) -> Built:
    """A desk with a row in every table (ticket_tags by trigger) and media files."""
    path = home / "smsdesk.sqlite3"
    media = FileMediaStore(home / "media")
    store = await Store.open(path)
    try:
        w = store.write
        account = await w(writes.add_account, name="Acme", sid="AC" + "1" * 32,
                          auth_token="secret-auth-token-1234")
        billing = await w(writes.add_group, "Billing")
        await w(writes.add_group, "Support")
        us = await w(writes.save_number, account_id=account.id, e164=US, mms=True,
                     sender_type=SenderType.TOLL_FREE, country="US", default_group_id=billing.id)
        uk = await w(writes.save_number, account_id=account.id, e164=UK, mms=False,
                     sender_type=SenderType.LONG_CODE, country="GB")
        ada = await w(writes.add_agent, name="Ada", role=Role.ADMIN, token_hash="h" * 64,
                      group_ids=[billing.id])
        bo = await w(writes.add_agent, name="Bo", role=Role.AGENT, token_hash="g" * 64)
        digests = [await media.put(f"picture {n}".encode()) for n in range(3)]
        sid = iter(range(1, 1000))
        ticket_ids = []
        for n in range(tickets):
            shown = (Media("image/png", len(f"picture {n % 3}"), digests[n % 3], f"p{n}.png"),)
            text = InboundText(sid=f"SM{next(sid):032x}", to=US if n % 2 else UK,
                               from_=phone(n), body=f"order-{n} is late, café {n}",
                               media=shown if n % 2 else ())
            result = await w(writes.record_inbound, text)
            ticket_ids.append(result.ticket.id)
            await w(writes.record_inbound, InboundText(
                sid=f"SM{next(sid):032x}", to=text.to, from_=text.from_, body="again"))
        first = ticket_ids[0]
        reply = await w(writes.queue_outbound, ticket_id=first, agent_id=ada.id,
                        body="on its way", media=(Media("image/png", 9, digests[0]),))
        await w(writes.mark_sending, reply.id)
        await w(writes.attach_sid, reply.id, sid="SM" + "f" * 32, status=MessageStatus.SENT)
        await w(writes.record_status, "SM" + "e" * 32, MessageStatus.DELIVERED)  # early
        await w(writes.add_note, ticket_id=first, agent_id=bo.id, body="called them")
        await w(writes.update_ticket, first, by=ada.id, tags=["vip", "Late", "É"])
        field = await w(ticket_fields.create_field, label="Order number", kind="text")
        await w(writes.update_ticket, ticket_ids[1], by=ada.id,
                custom_fields={field.key: "A-17"}, status="pending")
        owner = (await store.read(queries.ticket, first)).contact_id
        await w(contacts.add_phone, owner, "+12025550171")
        await w(contacts.add_phone, owner, "+12025550172")
        other = (await store.read(queries.ticket, ticket_ids[2])).contact_id
        await w(contacts.merge_contacts, owner, other)
        await w(writes.set_opt_out, owner, opted_out=True, source="agent",
                phone="+12025550171")
        folder = await w(canned.save_folder, folder_id=None, name="Shipping")
        await w(canned.save_response, agent_id=ada.id, response_id=None, title="Shipped",
                body="It shipped, {{contact.name}}", folder_id=folder.id, personal=False,
                media=(Media("image/png", 9, digests[1]),))
        calm = await w(scenarios.save_scenario, scenario_id=None, name="Calm down", actions=[
            {"set": "status", "value": "pending"}, {"tags_add": ["followup"]},
            {"note": "Handled by the scenario"}])
        await w(scenarios.run_on_ticket, scenario=calm, ticket_id=ticket_ids[3],
                agent_id=ada.id, command_id="c-1", send=_no_send)

        def remembered(ctx: writes.WriteContext) -> None:
            writes.add_note(ctx, ticket_id=ticket_ids[3], agent_id=bo.id, body="noted")
            writes.remember_result(ctx, bo.id, "c-2", json.dumps({"ok": True}))

        await w(remembered)

        # Schema 15: a bot flow on the UK number, hours, and a text the bot answered.
        await w(bot_store.save_flow, number_id=uk.id, source='greeting = "Hi"\n', enabled=True,
                by=ada.id)
        await w(bot_store.save_hours, scope="group", scope_id=billing.id, calendar={
            "time_zone": "Europe/London", "monday": "09:00-17:00", "tuesday": "closed",
            "wednesday": "closed", "thursday": "closed", "friday": "closed",
            "saturday": "closed", "sunday": "closed"})
        answered = await w(bot_writes.receive_and_answer, InboundText(
            sid=f"SM{next(sid):032x}", to=UK, from_=phone(2), body="hi"))
        assert answered.bot_queued == 1
        # Schema 16: an SLA target and a survey sent on a resolve, rated.
        await w(set_sla_target_and_survey, first, us.id, ada.id)
        await w(writes.log_time, ticket_id=first, agent_id=bo.id, seconds=90, note="call",
                billable=True)
        await w(timekeeping.start_timer, agent_id=ada.id, ticket_id=first)
        await w(writes.save_setting, "retention_days", "30")
        await w(hold_inbound, InboundText(sid=f"SM{next(sid):032x}", to=UK,
                                          from_=phone(99), body="held"), uk.id, "disabled")
        newest = ticket_ids[-1]
        await w(trash.delete_tickets, [newest], by=ada.id)
        await w(trash.empty_trash)
        last_seq = await store.read(queries.latest_seq)
    finally:
        await store.close()
    assert us.id and max(ticket_ids) == newest
    return Built(path, digests, newest, last_seq)


def set_sla_target_and_survey(ctx: writes.WriteContext, ticket_id: int, number_id: int,
                              agent_id: int) -> None:
    ctx.conn.execute("INSERT INTO sla_targets(priority, first_response, resolution, updated_at)"
                     " VALUES ('high', 3600000, NULL, 5)")
    message = ctx.conn.execute("SELECT max(id) FROM entries WHERE ticket_id = ?",
                               (ticket_id,)).fetchone()[0]
    ctx.conn.execute(
        "INSERT INTO csat_surveys(ticket_id, number_id, agent_id, message_id, sent_at,"
        " expires_at, rating, rated_at, comment, state) VALUES (?, ?, ?, ?, 5, 9, 4, 7,"
        " 'quick', 'done')", (ticket_id, number_id, agent_id, message))


def lite_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def pg_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
async def built(tmp_path: Path) -> Built:
    return await build_desk(tmp_path)


# --- a whole desk ----------------------------------------------------------------------


async def test_every_row_and_media_item_arrives_verified(built: Built, pg_url: str) -> None:
    report = migrate(built.path, pg_url, chunk_rows=4)
    assert report.ok, report.summary()
    assert not report.already_finished
    counted = {c.name: c for c in report.tables}
    assert set(counted) == {t.name for t in TABLES}
    for name in counted:  # the desk has something in every table
        assert counted[name].source_rows > 0, name
        if name != "contact_phones":  # each contact's first phone came by trigger
            assert counted[name].copied_now == counted[name].source_rows, name
    assert [(c.name, c.source_rows == c.target_rows) for c in report.derived] == [
        ("ticket_tags", True)]
    assert report.media is not None and report.media.target_rows == 3
    assert "Verified" in report.summary()
    # The checks are real: computed independently here, on both sides.
    for table in TABLES:
        sql = f"SELECT * FROM {table.name}" if table.name not in ("entries", "contacts") else (
            f"SELECT {', '.join(c for c in _columns(built.path, table.name))} FROM {table.name}")
        assert checksum(lite_rows(built.path, sql)) == checksum(pg_rows(pg_url, sql)), table
    for name in DERIVED:
        sql = f"SELECT * FROM {name}"  # the two collations order tags differently
        assert sorted(lite_rows(built.path, sql)) == sorted(pg_rows(pg_url, sql))


def _columns(path: Path, table: str) -> list[str]:
    return [r[1] for r in lite_rows(path, f"PRAGMA table_info({table})")]


async def test_a_relay_on_the_copy_sees_the_same_desk(built: Built, pg_url: str,
                                                      tmp_path: Path) -> None:
    assert migrate(built.path, pg_url).ok
    lite = await Store.open(built.path)
    try:
        expected_events = await lite.read(queries.events_after, 0, limit=10_000)
        expected_thread = await lite.read(queries.thread, 1)
        expected_contact = await lite.read(queries.contact_by_phone, "+12025550171")
        expected_agents = await lite.read(queries.agents)
    finally:
        await lite.close()
    store = await Store.open(pg_url)
    try:
        # Agents resume from their last_seq: the same events under the same seqs.
        assert await store.read(queries.events_after, 0, limit=10_000) == expected_events
        assert await store.read(queries.latest_seq) == built.last_seq
        assert await store.read(queries.events_after, built.last_seq - 2) == \
            expected_events[-2:]
        assert await store.read(queries.thread, 1) == expected_thread
        assert await store.read(queries.contact_by_phone, "+12025550171") == expected_contact
        assert await store.read(queries.agents) == expected_agents
        # New rows continue above the copied ids, past the purged ticket's too.
        result = await store.write(writes.record_inbound, InboundText(
            sid="SM" + "a" * 32, to=US, from_=phone(500), body="first on PostgreSQL"))
        assert result.ticket.id == built.purged_ticket + 1
        assert result.message.id > max(r[0] for r in lite_rows(built.path,
                                                                "SELECT id FROM entries"))
        assert await store.read(queries.latest_seq) > built.last_seq
        group = await store.write(writes.add_group, "Night shift")
        assert group.id == 3
        # The media went into the table every relay reads.
        media = DbMediaStore(pg_url)
        try:
            for digest in built.media:
                assert await media.read(digest) == \
                    (tmp_path / "media" / digest[:2] / digest).read_bytes()
        finally:
            await media.close()
    finally:
        await store.close()


# --- running it again ------------------------------------------------------------------


async def test_a_second_run_copies_nothing_and_verifies_again(built: Built,
                                                             pg_url: str) -> None:
    assert migrate(built.path, pg_url).ok
    before = pg_rows(pg_url, "SELECT count(*), max(seq) FROM events")
    again = migrate(built.path, pg_url)
    assert again.ok and again.already_finished
    assert [c.copied_now for c in again.tables] == [0] * len(TABLES)
    assert again.media is not None and again.media.copied_now == 0
    assert pg_rows(pg_url, "SELECT count(*), max(seq) FROM events") == before
    assert "already" in again.summary()


class Stop(Exception):
    pass


async def test_an_interrupted_run_resumes_and_completes(built: Built, pg_url: str) -> None:
    chunks = []

    def stop_after_the_first_tickets(line: str) -> None:
        """Told after each chunk commits: stopping here is a run killed between chunks."""
        chunks.append(line)
        if line.startswith("tickets:"):
            raise Stop

    with pytest.raises(Stop):
        migrate(built.path, pg_url, chunk_rows=2, progress=stop_after_the_first_tickets)
    assert len(chunks) > 5  # several tables' chunks came first
    partial = dict(pg_rows(pg_url, "SELECT 'tickets', count(*) FROM tickets UNION ALL"
                                   " SELECT 'entries', count(*) FROM entries"))
    assert partial == {"tickets": 2, "entries": 0}  # whole chunks, then nothing
    report = migrate(built.path, pg_url, chunk_rows=2)
    assert report.ok, report.summary()
    copied = {c.name: c.copied_now for c in report.tables}
    assert copied["accounts"] == 0 and copied["entries"] > 0  # went on where it stopped
    assert migrate(built.path, pg_url).already_finished


# --- refusals --------------------------------------------------------------------------


async def test_a_database_in_use_is_refused(built: Built, pg_url: str) -> None:
    async with await Store.open(pg_url) as live:
        await live.write(writes.add_group, "Someone else's")
    with pytest.raises(MigrationRefused, match="not empty"):
        migrate(built.path, pg_url)


async def test_another_desks_migration_is_refused(built: Built, pg_url: str,
                                                  tmp_path: Path) -> None:
    assert migrate(built.path, pg_url).ok
    other = await build_desk(tmp_path / "other", tickets=5)
    with pytest.raises(MigrationRefused, match="another desk"):
        migrate(other.path, pg_url)


async def test_a_desk_a_relay_has_open_is_refused(built: Built, pg_url: str) -> None:
    """Another process with the file open (a relay) would write behind the copy's back."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
         " c.execute('SELECT count(*) FROM events').fetchone(); print('open', flush=True);"
         " sys.stdin.read()", str(built.path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(MigrationRefused, match="in use"):
            migrate(built.path, pg_url)
    finally:
        holder.communicate("")
    assert migrate(built.path, pg_url).ok  # once it is closed


async def test_a_changed_source_fails_verification(built: Built, pg_url: str) -> None:
    """What a relay writing during the copy would cause: said, never called verified."""
    assert migrate(built.path, pg_url).ok
    with sqlite3.connect(built.path) as conn:
        conn.execute("UPDATE tickets SET subject = 'changed later' WHERE id = 1")
    report = migrate(built.path, pg_url)
    assert not report.ok
    tickets = next(c for c in report.tables if c.name == "tickets")
    assert not tickets.ok and tickets.source_rows == tickets.target_rows
    assert "NOT verified" in report.summary()


# --- the command -----------------------------------------------------------------------


async def test_the_command_migrates_the_desk_in_smsdesk_home(
        built: Built, pg_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SMSDESK_HOME", str(built.path.parent))
    assert cli.main(["migrate", "--to", pg_url]) == 0
    out = capsys.readouterr().out
    assert "Verified" in out and "entries" in out
    assert cli.main(["migrate", "--to", pg_url, "--from", str(built.path)]) == 0
    assert "already" in capsys.readouterr().out


def test_the_command_wants_a_postgresql_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["migrate", "--to", "/tmp/x.sqlite3"])
    assert exited.value.code == 2
    assert "postgresql://" in capsys.readouterr().err


def test_the_command_refuses_in_one_line(tmp_path: Path, pg_url: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["migrate", "--to", pg_url, "--from", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no SQLite desk" in err


async def test_an_unreachable_database_is_one_line(built: Built,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from pg_cluster import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere?connect_timeout=2"
    assert cli.main(["migrate", "--to", url, "--from", str(built.path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run it again" in err
