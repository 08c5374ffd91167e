"""The email channel's store side, on both backends: replies queued with their Message-ID
and moved through their delivery states, customers' mail threaded into tickets once per
Message-ID (even when delivered twice at once), the Twilio outbox never touching email,
the settings kept without their secrets on the wire, and schema v13 reached from v12."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import CUSTOMER, Desk, force_close, plain_connect

from core import queries, records, schema, writes
from core.email_settings import (
    EmailSettings,
    InvalidEmailSettings,
    email_settings,
    reply_secret,
    save_email_settings,
    settings_with_changes,
)
from core.email_writes import (
    mark_email_accepted,
    mark_email_bounced,
    mark_email_deferred,
    mark_email_failed,
    mark_email_sending,
    queue_email_reply,
    record_inbound_email,
)
from core.media_refs import referenced_digests
from core.models import Channel, Direction, Media, Message, MessageStatus, TicketStatus
from core.store import Store

DOMAIN = "support.example.com"
ORIGINAL = Media(content_type="message/rfc822", size=1234, sha256="ab" * 32,
                 filename="original.eml")


async def emailable_ticket(desk: Desk, email: str = "jo@example.com") -> int:
    """A ticket opened by a text whose contact has an email address."""
    inbound = await desk.inbound("my order never came")
    await desk.store.write(writes.update_contact, inbound.ticket.contact_id, email=email)
    return inbound.ticket.id


async def queued(desk: Desk, ticket_id: int, body: str = "Here are the details") -> Message:
    return await desk.store.write(queue_email_reply, ticket_id=ticket_id, agent_id=None,
                                  body=body, subject="Re: [#1] my order", reply_domain=DOMAIN)


def events_of(desk: Desk, kind: str) -> list[dict[str, Any]]:
    return [e.payload for e in desk.events if e.kind == kind]


# --- replies --------------------------------------------------------------------------


async def test_an_email_reply_is_queued_with_its_message_id_and_marks_the_ticket(
        desk: Desk) -> None:
    ticket_id = await emailable_ticket(desk)
    message = await queued(desk, ticket_id)
    assert message.channel is Channel.EMAIL and message.status is MessageStatus.QUEUED
    assert message.direction is Direction.OUTBOUND and message.subject == "Re: [#1] my order"
    assert re.fullmatch(rf"<smsdesk\.t{ticket_id}\.m{message.id}\.[0-9a-f]{{12}}@{DOMAIN}>",
                        message.mail_id or "")
    ticket = await desk.ticket(ticket_id)
    assert ticket.last_channel is Channel.EMAIL and ticket.last_preview == "Here are the details"
    created = events_of(desk, "message.created")[-1]
    assert created["message"]["mail_id"] == message.mail_id
    assert created["message"]["channel"] == "email"
    assert created["ticket"]["last_channel"] == "email"
    # Only the mail outbox sees it; the Twilio outbox never does.
    assert [m.id for m in await desk.store.read(queries.email_outbox)] == [message.id]
    assert await desk.store.read(queries.outbox) == []


async def test_an_sms_reply_after_an_email_marks_the_ticket_sms_again(desk: Desk) -> None:
    ticket_id = await emailable_ticket(desk)
    await queued(desk, ticket_id)
    sms = await desk.store.write(writes.queue_outbound, ticket_id=ticket_id, agent_id=None,
                                 body="or by text", media=(Media("image/png", 10, "c" * 64),))
    assert sms.channel is Channel.MMS
    assert (await desk.ticket(ticket_id)).last_channel is Channel.SMS
    assert [m.id for m in await desk.store.read(queries.outbox)] == [sms.id]
    await queued(desk, ticket_id)
    await desk.inbound("a text back")
    assert (await desk.ticket(ticket_id)).last_channel is Channel.SMS


async def test_a_contact_without_a_valid_email_cannot_be_emailed(desk: Desk) -> None:
    inbound = await desk.inbound("hello")
    with pytest.raises(writes.StoreError, match="no valid email address"):
        await queued(desk, inbound.ticket.id)
    await desk.update(inbound.ticket.id, deleted=True)
    with pytest.raises(writes.StoreError, match="deleted"):
        await queued(desk, inbound.ticket.id)
    assert await desk.store.read(queries.email_outbox) == []


async def test_a_reply_moves_through_sending_accepted_and_bounced(desk: Desk) -> None:
    ticket_id = await emailable_ticket(desk)
    message = await queued(desk, ticket_id)
    sending = await desk.store.write(mark_email_sending, message.id)
    assert sending.status is MessageStatus.SENDING
    again = await desk.store.write(mark_email_sending, message.id)
    assert again.status is MessageStatus.SENDING and again.updated_at == sending.updated_at
    accepted = await desk.store.write(mark_email_accepted, message.id,
                                      "250 2.0.0 Ok: queued as 4F1A2")
    assert accepted.status is MessageStatus.SENT
    assert accepted.mail_detail == "250 2.0.0 Ok: queued as 4F1A2"
    assert await desk.store.read(queries.email_outbox) == []
    bounced = await desk.store.write(mark_email_bounced, message.mail_id,
                                     "smtp; 550 5.1.1 <jo@example.com>: user unknown")
    assert bounced is not None and bounced.status is MessageStatus.UNDELIVERED
    assert bounced.mail_detail == "smtp; 550 5.1.1 <jo@example.com>: user unknown"
    # A late "accepted" never hides the bounce; an unknown Message-ID bounces nothing.
    late = await desk.store.write(mark_email_accepted, message.id, "250 Ok")
    assert late.status is MessageStatus.UNDELIVERED
    assert await desk.store.write(mark_email_bounced, "<nobody@else>", "550") is None
    updates = [p["message"] for p in events_of(desk, "message.updated")]
    assert [u["status"] for u in updates] == ["sending", "sent", "undelivered"]
    assert updates[-1]["mail_detail"].endswith("user unknown")
    stored = await desk.store.read(queries.entry, message.id)
    assert stored == bounced


async def test_a_temporary_refusal_requeues_and_a_permanent_one_fails(desk: Desk) -> None:
    ticket_id = await emailable_ticket(desk)
    message = await queued(desk, ticket_id)
    await desk.store.write(mark_email_sending, message.id)
    deferred = await desk.store.write(mark_email_deferred, message.id,
                                      "451 4.7.1 Try again later")
    assert deferred.status is MessageStatus.QUEUED
    assert deferred.mail_detail == "451 4.7.1 Try again later"
    assert [m.id for m in await desk.store.read(queries.email_outbox)] == [message.id]
    await desk.store.write(mark_email_sending, message.id)
    failed = await desk.store.write(mark_email_failed, message.id,
                                    "554 5.7.1 Relay access denied")
    assert failed.status is MessageStatus.FAILED
    assert failed.mail_detail == "554 5.7.1 Relay access denied"
    # A failed reply does not go back to the queue.
    kept = await desk.store.write(mark_email_deferred, message.id, "421 busy")
    assert kept.status is MessageStatus.FAILED
    assert await desk.store.read(queries.email_outbox) == []


async def test_a_reply_of_a_disabled_agent_is_failed_not_sent(desk: Desk) -> None:
    ticket_id = await emailable_ticket(desk)
    agent = await desk.store.write(writes.add_agent, name="Sam", role="agent",
                                   token_hash="h-sam")
    message = await desk.store.write(queue_email_reply, ticket_id=ticket_id, agent_id=agent.id,
                                     body="hi", subject="", reply_domain=DOMAIN)
    assert message.subject == (await desk.ticket(ticket_id)).subject
    await desk.store.write(writes.update_agent, agent.id, disabled=True)
    refused = await desk.store.write(mark_email_sending, message.id)
    assert refused.status is MessageStatus.FAILED and "disabled" in (refused.mail_detail or "")


async def test_sms_messages_are_not_the_mail_outboxs(desk: Desk) -> None:
    inbound = await desk.inbound("hello")
    sms = await desk.store.write(writes.queue_outbound, ticket_id=inbound.ticket.id,
                                 agent_id=None, body="hi")
    for mark in (mark_email_sending, mark_email_accepted, mark_email_failed):
        args = () if mark is mark_email_sending else ("250 Ok",)
        with pytest.raises(writes.NotFound, match="not an email reply"):
            await desk.store.write(mark, sms.id, *args)
    assert await desk.store.write(mark_email_bounced, "<x@y>", "550") is None


# --- customers' mail ----------------------------------------------------------------


async def test_a_reply_joins_its_ticket_and_opens_it_again(desk: Desk) -> None:
    ticket_id = await emailable_ticket(desk)
    reply = await queued(desk, ticket_id)
    await desk.update(ticket_id, status="resolved", unread=False)
    got = await desk.store.write(
        record_inbound_email, ticket_id=ticket_id, contact_email="jo@example.com",
        subject="Re: [#1] my order", body="Thanks, it arrived", mail_id="<abc@mail.example>",
        original=ORIGINAL, media=(Media("application/pdf", 99, "d" * 64, "receipt.pdf"),))
    assert got.created
    message = got.message
    assert message.ticket_id == ticket_id and message.channel is Channel.EMAIL
    assert message.direction is Direction.INBOUND and message.status is MessageStatus.RECEIVED
    assert message.mail_original == ORIGINAL and message.media[0].filename == "receipt.pdf"
    assert message.subject == "Re: [#1] my order" and message.mail_id == "<abc@mail.example>"
    ticket = await desk.ticket(ticket_id)
    assert ticket.status is TicketStatus.OPEN and ticket.unread
    assert ticket.last_channel is Channel.EMAIL and ticket.last_preview == "Thanks, it arrived"
    created = events_of(desk, "message.created")[-1]
    assert created["ticket"]["status"] == "open"
    assert created["message"]["mail_original"]["filename"] == "original.eml"
    # The threading lookups find it.
    assert await desk.store.read(queries.ticket_of_mail_ids,
                                 ["<unknown@x>", reply.mail_id or ""]) == ticket_id
    assert await desk.store.read(queries.ticket_of_mail_ids, ["<unknown@x>"]) is None
    assert await desk.store.read(queries.ticket_of_mail_ids, []) is None
    assert await desk.store.read(queries.thread_mail_ids, ticket_id) == [
        reply.mail_id, "<abc@mail.example>"]
    assert await desk.store.read(queries.contact_email_of_ticket, ticket_id) == "jo@example.com"
    assert await desk.store.read(queries.message_by_mail_id, "<abc@mail.example>") == message
    # The media sweep keeps the original's file as it keeps attachments'.
    assert {ORIGINAL.sha256, "d" * 64} <= await desk.store.read(referenced_digests)


async def test_the_same_mail_delivered_twice_is_stored_once(desk: Desk) -> None:
    ticket_id = await emailable_ticket(desk)
    kwargs: dict[str, Any] = dict(ticket_id=ticket_id, contact_email="jo@example.com",
                                  body="twice", mail_id="<dup@mail.example>")
    first = await desk.store.write(record_inbound_email, **kwargs)
    second = await desk.store.write(record_inbound_email, **{**kwargs, "body": "changed"})
    assert first.created and not second.created
    assert second.message == first.message and second.message.body == "twice"
    assert len(events_of(desk, "message.created")) == 1


async def test_a_double_delivery_at_once_from_two_relays_is_stored_once(desk: Desk) -> None:
    """Two relays on one database take the same mail at the same moment: one row."""
    ticket_id = await emailable_ticket(desk)
    other = await Store.open(desk.locator)
    try:
        kwargs: dict[str, Any] = dict(ticket_id=None, contact_email="new@example.com",
                                      body="at once", mail_id="<race@mail.example>")
        results = await asyncio.gather(
            *(store.write(record_inbound_email, **kwargs)
              for store in (desk.store, other, desk.store, other)))
    finally:
        await force_close(other)
    assert sorted(r.created for r in results) == [False, False, False, True]
    assert len({r.message.id for r in results}) == 1
    with plain_connect(desk.locator) as conn:
        count = conn.execute("SELECT count(*) FROM entries WHERE mail_id = ?",
                             ("<race@mail.example>",)).fetchone()[0]
        tickets = conn.execute("SELECT count(*) FROM tickets WHERE id <> ?",
                               (ticket_id,)).fetchone()[0]
    assert (count, tickets) == (1, 1)


async def test_mail_from_a_stranger_opens_a_ticket_and_a_contact(desk: Desk) -> None:
    got = await desk.store.write(
        record_inbound_email, ticket_id=None, contact_email="Ana.Lopez@Example.COM",
        contact_name="Ana López", subject="Where is my\r\n refund?", body="Order A-1042",
        mail_id="<first@example.com>")
    ticket = await desk.ticket(got.message.ticket_id)
    assert ticket.number_id == desk.us.id and ticket.group_id == desk.billing.id
    assert ticket.subject == "Where is my refund?" and ticket.customer_phone == ""
    assert ticket.unread and ticket.last_channel is Channel.EMAIL
    contact = await desk.store.read(queries.contact, ticket.contact_id)
    assert contact is not None and not contact.has_phone
    assert (contact.name, contact.email) == ("Ana López", "Ana.Lopez@example.com")
    created = events_of(desk, "ticket.created")[-1]
    assert created["contact"]["email"] == "Ana.Lopez@example.com"
    assert created["message"]["subject"] == "Where is my refund?"
    # The next stranger's mail from the same address (any case) is the same contact, on
    # the number configured for new tickets.
    again = await desk.store.write(
        record_inbound_email, ticket_id=None, contact_email="ana.lopez@example.com",
        number_id=desk.uk.id, body="me again", mail_id="<second@example.com>")
    second = await desk.ticket(again.message.ticket_id)
    assert second.contact_id == contact.id and second.number_id == desk.uk.id
    assert second.subject == "me again"
    found = await desk.store.read(queries.contact_by_email, "ANA.LOPEZ@example.com")
    assert found is not None and found.id == contact.id
    assert await desk.store.read(queries.contact_by_email, "") is None


async def test_mail_for_a_ticket_of_a_known_contact_finds_the_contact(desk: Desk) -> None:
    ticket_id = await emailable_ticket(desk)
    contact_id = (await desk.ticket(ticket_id)).contact_id
    got = await desk.store.write(record_inbound_email, ticket_id=None,
                                 contact_email="JO@example.com", body="by mail now",
                                 mail_id="<m@x>")
    ticket = await desk.ticket(got.message.ticket_id)
    assert ticket.id != ticket_id and ticket.contact_id == contact_id
    assert ticket.customer_phone == CUSTOMER  # an agent may answer it by text


async def test_mail_to_a_closed_ticket_opens_a_new_one_as_a_text_would(desk: Desk) -> None:
    ticket_id = await emailable_ticket(desk)
    await desk.update(ticket_id, status="closed")
    got = await desk.store.write(record_inbound_email, ticket_id=ticket_id,
                                 contact_email="jo@example.com", body="one more thing",
                                 mail_id="<late@x>")
    ticket = await desk.ticket(got.message.ticket_id)
    closed = await desk.ticket(ticket_id)
    assert ticket.id != ticket_id and closed.status is TicketStatus.CLOSED
    assert (ticket.contact_id, ticket.number_id) == (closed.contact_id, closed.number_id)
    assert ticket.customer_phone == CUSTOMER


async def test_mail_without_a_valid_sender_or_a_number_is_refused_in_words(
        store: Store) -> None:
    with pytest.raises(writes.StoreError, match="not a valid email address"):
        await store.write(record_inbound_email, ticket_id=None, contact_email="not an address",
                          body="x", mail_id="<a@b>")
    with pytest.raises(writes.StoreError, match="before the desk has a phone number"):
        await store.write(record_inbound_email, ticket_id=None, contact_email="a@example.com",
                          body="x", mail_id="<a@b>")
    assert await store.read(queries.count_tickets) == 0


# --- the wire ------------------------------------------------------------------------


async def test_an_sms_message_on_the_wire_has_no_email_values(desk: Desk) -> None:
    inbound = await desk.inbound("hello")
    wire = records.to_wire(inbound.message)
    assert {k: wire[k] for k in ("subject", "mail_id", "mail_detail", "mail_original")} == {
        "subject": None, "mail_id": None, "mail_detail": None, "mail_original": None}
    assert records.to_wire(inbound.ticket)["last_channel"] == "sms"
    json.dumps(wire)


# --- settings ------------------------------------------------------------------------


FULL = EmailSettings(smtp_host="smtp.example.com", smtp_username="desk",
                     smtp_password="hunter2-secret", from_address="Help@Example.COM",
                     from_name="Acme Help", reply_domain="Support.Example.com.",
                     inbound_port=2525)


async def test_settings_round_trip_without_their_secrets_on_the_wire(desk: Desk) -> None:
    assert await desk.store.read(email_settings) == EmailSettings()
    assert not EmailSettings().enabled
    saved = await desk.store.write(save_email_settings, FULL)
    assert saved.from_address == "Help@example.com" and saved.reply_domain == DOMAIN
    assert len(saved.reply_secret) == 64 and saved.enabled
    read = await desk.store.read(email_settings)
    assert read == saved
    wire = read.to_wire()
    text = json.dumps(wire) + repr(read) + json.dumps(events_of(desk, "email_settings.updated"))
    assert "hunter2" not in text and saved.reply_secret not in text
    assert "smtp_password" not in wire and "reply_secret" not in wire
    assert wire["smtp_password_set"] is True and wire["enabled"] is True
    assert wire["smtp_port"] == 587 and wire["max_attachment_bytes"] == 20 * 1024 * 1024
    # The reply secret is made once and kept, whatever the next save carries.
    changed = settings_with_changes(read, {"smtp_port": 465, "smtp_security": "tls"})
    resaved = await desk.store.write(save_email_settings, changed)
    assert resaved.reply_secret == saved.reply_secret
    assert await desk.store.write(reply_secret) == saved.reply_secret
    assert (await desk.store.read(email_settings)).smtp_port == 465


def test_a_blank_password_keeps_the_stored_one_and_unknown_names_are_refused() -> None:
    kept = settings_with_changes(FULL, {"smtp_password": "", "from_name": "Desk"})
    assert kept.smtp_password == "hunter2-secret" and kept.from_name == "Desk"
    assert settings_with_changes(FULL, {"smtp_password": "new"}).smtp_password == "new"
    cleared = settings_with_changes(FULL, {"smtp_password_clear": True})
    assert cleared.smtp_password == "" and not cleared.to_wire()["smtp_password_set"]
    for changes, field in (({"reply_secret": "mine"}, "reply_secret"),
                           ({"colour": "blue"}, "colour")):
        with pytest.raises(InvalidEmailSettings, match="email settings have no") as refused:
            settings_with_changes(FULL, changes)
        assert refused.value.field == field


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"from_address": "help at example"}, "from_address", "not a valid email address"),
    ({"reply_domain": "help@example.com"}, "reply_domain", "not an address"),
    ({"reply_domain": "exa mple.com"}, "reply_domain", "not a valid reply domain"),
    ({"smtp_port": 0}, "smtp_port", "between 1 and 65535"),
    ({"smtp_port": "587"}, "smtp_port", "whole number"),
    ({"inbound_port": 70000}, "inbound_port", "between 0 and 65535"),
    ({"smtp_security": "ssl"}, "smtp_security", "starttls, tls, none"),
    ({"smtp_host": "smtp example.com"}, "smtp_host", "has spaces"),
    ({"from_name": "Acme\r\nBcc: x@y"}, "from_name", "one line"),
    ({"max_recipients": 0}, "max_recipients", "between 1"),
    ({"max_inbound_bytes": True}, "max_inbound_bytes", "whole number"),
])
def test_settings_are_refused_in_words(changes: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidEmailSettings, match=words) as refused:
        settings_with_changes(FULL, changes)
    assert refused.value.field == field


# --- schema v13 from v12 ----------------------------------------------------------------

V12_ROWS = """
    INSERT INTO accounts(id, name, sid, auth_token, created_at) VALUES (1, 'A', 'AC1', 't', 0);
    INSERT INTO phone_numbers(id, account_id, e164) VALUES (1, 1, '+18885550100');
    INSERT INTO contacts(id, phone, created_at) VALUES (1, '+15125550133', 0);
    INSERT INTO tickets(id, contact_id, number_id, created_at, updated_at, last_message_at)
        VALUES (7, 1, 1, 0, 0, 0);
    INSERT INTO entries(ticket_id, kind, direction, channel, body, status, created_at,
        updated_at) VALUES (7, 'message', 'inbound', 'sms', 'hi', 'received', 0, 0);
"""


@pytest.mark.sqlite_only
async def test_a_v12_sqlite_desk_gains_the_email_columns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v12.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    with monkeypatch.context() as patched:
        patched.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:12])
        patched.setattr(schema, "SCHEMA_VERSION", 12)
        schema.migrate(conn)
    conn.executescript(V12_ROWS)
    conn.close()
    store = await Store.open(path)
    try:
        ticket = await store.read(queries.ticket, 7)
        message = await store.read(queries.entry, 1)
    finally:
        await store.close()
    assert ticket is not None and ticket.last_channel is Channel.SMS
    assert isinstance(message, Message) and message.mail_id is None and message.subject is None
    conn = sqlite3.connect(path, isolation_level=None)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION >= 13
    insert = ("INSERT INTO entries(ticket_id, kind, mail_id, created_at, updated_at)"
              " VALUES (7, 'message', ?, 0, 0)")
    conn.execute(insert, (None,))
    conn.execute(insert, (None,))  # NULLs are many: SMS messages have none
    conn.execute(insert, ("<a@b>",))
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(insert, ("<a@b>",))
    conn.close()


def test_a_v12_postgresql_desk_gains_the_email_columns(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    psycopg = pytest.importorskip("psycopg")
    from core import schema_pg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        with monkeypatch.context() as patched:
            patched.setattr(schema_pg, "SCHEMA_VERSION", 12)
            assert schema_pg.migrate_pg(conn) == 0
        for statement in filter(str.strip, V12_ROWS.split(";")):
            conn.execute(statement)
        assert schema_pg.migrate_pg(conn) == 12
        versions = conn.execute("SELECT version FROM smsdesk_schema").fetchall()
        assert versions == [(schema_pg.SCHEMA_VERSION,)]
        assert conn.execute("SELECT last_channel FROM tickets").fetchall() == [("sms",)]
        assert conn.execute("SELECT subject, mail_id, mail_detail, mail_original"
                            " FROM entries").fetchall() == [(None, None, None, None)]
        insert = ("INSERT INTO entries(ticket_id, kind, mail_id, created_at, updated_at)"
                  " VALUES (7, 'message', %s, 0, 0)")
        conn.execute(insert, (None,))
        conn.execute(insert, ("<a@b>",))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert, ("<a@b>",))


async def test_a_nameless_stranger_by_email_is_named_by_address_in_the_list(desk: Desk) -> None:
    """Found using it: a new ticket from an address with no display name showed an empty
    Contact column (no name, and the stand-in phone is never shown). The list row carries
    the contact's email, which the inbox shows in its place."""
    from tui.widgets.ticket_list import contact_label

    got = await desk.store.write(
        record_inbound_email, ticket_id=None, contact_email="mallory@evil.example",
        body="hi", mail_id="<nameless@evil.example>")
    page = await desk.store.read(queries.list_tickets)
    row = next(r for r in page.items if r.ticket.id == got.message.ticket_id)
    assert (row.contact_name, row.contact_phone, row.contact_email) == (
        "", "", "mallory@evil.example")
    assert contact_label(records.to_wire(row)) == "mallory@evil.example"
