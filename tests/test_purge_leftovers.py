"""What a purge must not leave behind: media files nothing names, remembered results
holding the purged tickets' words. Relay-level: a real relay, its store and media folder."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from relay_harness import Harness, relay_on_loopback

from core import queries, schema
from core.models import Media
from core.records import media_to_json
from server.media import path_of, store_bytes
from server.media_sweep import GRACE_S, sweep_media
from server.trash_keeper import purge_expired_once


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Harness]:
    async with relay_on_loopback(tmp_path) as harness:
        yield harness


async def _tickets(relay: Harness, count: int) -> list[int]:
    for n in range(count):
        await relay.text(f"hello {n}", from_=f"+1202555010{n}")
    page = await relay.relay.store.read(queries.list_tickets)
    return sorted(row.ticket.id for row in page.items)


def _aged(path: Path) -> None:
    """As if written before the sweep's grace period."""
    old = time.time() - GRACE_S - 60
    os.utime(path, (old, old))


async def _attach(relay: Harness, ticket_id: int, data: bytes) -> str:
    """A file in the relay's media folder, named by the ticket's first message."""
    digest = store_bytes(relay.relay.media.folder, data)
    found = path_of(relay.relay.media.folder, digest)
    assert found is not None
    _aged(found)
    media = media_to_json((Media("image/png", len(data), digest, "a.png"),))

    def name_it(ctx):  # type: ignore[no-untyped-def]
        ctx.conn.execute("UPDATE entries SET media = ? WHERE id ="
                         " (SELECT min(id) FROM entries WHERE ticket_id = ?)", (media, ticket_id))
    await relay.relay.store.write(name_it)
    return digest


async def test_emptying_the_trash_removes_the_files_only_the_purged_tickets_named(
        relay: Harness) -> None:
    ids = await _tickets(relay, 3)
    folder = relay.relay.media.folder
    only_purged = await _attach(relay, ids[0], b"purged ticket's photo")
    shared = await _attach(relay, ids[1], b"the same photo twice")
    await _attach(relay, ids[2], b"the same photo twice")  # kept: ticket 3 names it
    fresh_upload = path_of(folder, store_bytes(folder, b"uploaded, its reply not sent yet"))
    async with relay.agent() as bo, relay.agent(token=relay.admin_token) as ada:
        await bo.until("caught_up")
        await bo.command("delete_tickets", ticket_ids=ids[:2])
        done = await ada.command("empty_trash")
        assert done["result"] == {"purged": ids[:2]}
    assert path_of(folder, only_purged) is None
    assert path_of(folder, shared) is not None
    assert fresh_upload is not None and fresh_upload.exists()  # within the grace period


async def test_a_file_a_crash_left_unnamed_goes_at_the_next_sweep_and_a_held_texts_stays(
        relay: Harness) -> None:
    ids = await _tickets(relay, 1)
    folder = relay.relay.media.folder
    store = relay.relay.store
    orphan = store_bytes(folder, b"purge committed, then the relay stopped")
    held = store_bytes(folder, b"a held text's picture")
    for digest in (orphan, held):
        found = path_of(folder, digest)
        assert found is not None
        _aged(found)
    media = media_to_json((Media("image/png", 1, held, ""),))

    def hold(ctx):  # type: ignore[no-untyped-def]
        ctx.conn.execute("INSERT INTO held_texts(number_id, message_sid, from_phone, media,"
                         " reason, received_at) VALUES (1, 'SMheld', '+12025550199', ?,"
                         " 'disabled', 0)", (media,))
    await store.write(hold)
    partial = folder / orphan[:2] / "f00d.part"  # a write cut short
    partial.write_bytes(b"half")
    _aged(partial)
    assert await purge_expired_once(store) == []
    removed = await sweep_media(store, relay.relay.media)
    assert removed == sorted([orphan, "f00d.part"])
    assert path_of(folder, held) is not None
    assert await store.read(queries.ticket, ids[0]) is not None


async def test_purging_scrubs_the_remembered_results_of_the_purged_tickets(
        relay: Harness) -> None:
    ids = await _tickets(relay, 2)
    store = relay.relay.store
    async with relay.agent() as bo, relay.agent(token=relay.admin_token) as ada:
        await bo.until("caught_up")
        await bo.command("add_note", command_id="note-1", ticket_id=ids[0],
                         body="refund code 4417")
        await bo.command("add_note", command_id="note-2", ticket_id=ids[1], body="kept note")
        started = await bo.command("start_conversation", command_id="start-1",
                                   to="+12025550177", from_number_id=1,
                                   body="your parcel code is 9931")
        new_id = started["result"]["ticket"]["id"]
        await bo.command("delete_tickets", ticket_ids=[ids[0], new_id])
        await store.write(lambda ctx: ctx.conn.execute(
            "UPDATE entries SET status = 'failed' WHERE ticket_id = ?", (new_id,)))
        await ada.command("empty_trash")

        def words(conn: sqlite3.Connection) -> int:
            return conn.execute("SELECT count(*) FROM command_results WHERE result LIKE ?"
                                " OR result LIKE ?", ("%4417%", "%9931%")).fetchone()[0]
        assert await store.read(words) == 0
        # Resent under their ids: told, not redone (no second ticket is opened).
        again = await bo.command("start_conversation", command_id="start-1",
                                 to="+12025550177", from_number_id=1,
                                 body="your parcel code is 9931")
        assert again["type"] == "error" and "purged" in again["message"]
        note = await bo.command("add_note", command_id="note-1", ticket_id=ids[0],
                                body="refund code 4417")
        assert note["type"] == "error" and "purged" in note["message"]
        kept = await bo.command("add_note", command_id="note-2", ticket_id=ids[1],
                                body="kept note")
        assert kept["result"]["body"] == "kept note"
    assert await store.read(queries.count_tickets) == 1


def test_results_remembered_before_the_upgrade_are_linked_to_their_tickets(
        tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.sqlite3", isolation_level=None)
    for script in schema.MIGRATIONS[:11]:  # a desk at version 11: 12 links the results
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 11")
    rows = [("reply", {"ticket_id": 7, "body": "hi"}),
            ("start", {"ticket": {"id": 8}, "message": {"ticket_id": 8}}),
            ("set", {"id": 9, "contact_id": 2, "subject": "s"}),
            ("groups", {"id": 3, "name": "Billing"})]
    conn.executemany("INSERT INTO command_results VALUES (1, ?, ?, 0)",
                     [(name, json.dumps(value)) for name, value in rows])
    schema.migrate(conn)
    linked = conn.execute("SELECT ticket_id, command_id FROM command_result_tickets"
                          " ORDER BY ticket_id").fetchall()
    assert linked == [(7, "reply"), (8, "start"), (9, "set")]


async def test_a_canned_responses_attachment_is_never_swept(relay: Harness) -> None:
    """Canned responses keep media too: a sweep after a purge leaves their files."""
    folder = relay.relay.media.folder
    digest = store_bytes(folder, b"the returns label every canned reply attaches")
    found = path_of(folder, digest)
    assert found is not None
    _aged(found)
    async with relay.agent(token=relay.admin_token) as ada:
        await ada.until("caught_up")
        saved = await ada.command("save_canned", title="Returns", body="Label attached", media=[
            {"sha256": digest, "content_type": "image/png", "size": 46, "filename": "l.png"}])
        assert saved["type"] == "result", saved
    assert await sweep_media(relay.relay.store, relay.relay.media) == []
    assert path_of(folder, digest) is not None
