"""Email replies through a real SMTP server on loopback (aiosmtpd), on both backends.

A relay (real store, websockets) with its email settings saved by the admin command
sends an agent's email reply through the mail outbox: the server gets it with the
ticket's headers (Subject "Re: [#N] ...", Message-ID, the Reply-To token address,
In-Reply-To when the customer wrote first, attachments); the agents see it go queued →
sending → accepted with the server's words. A 451 is tried again, a 550 fails with the
server's words, STARTTLS and AUTH work with a self-signed certificate, and the password
never reaches an agent or the log. After an email, a reply without a channel is a text.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from mail_server import PASSWORD, USER, Handler, MailServer, mail_server
from relay_harness import US_TOLL_FREE, AgentClient, Harness, relay_on_loopback

from core import queries
from core.email_settings import email_settings
from core.email_writes import record_inbound_email
from core.models import Channel, MessageStatus
from core.reply_token import ticket_of_reply_address

DOMAIN = "support.example.com"
JO = "jo@example.com"


@pytest.fixture
def database(store_backend: str, request: pytest.FixtureRequest) -> str | None:
    """None: the relay's SQLite file; else a new PostgreSQL database for the relay."""
    if store_backend == "sqlite":
        return None
    return str(request.getfixturevalue("pg_cluster").migrated_database())


@pytest.fixture
async def relay(tmp_path: Path, database: str | None) -> AsyncIterator[Harness]:
    async with relay_on_loopback(tmp_path, database=database) as harness:
        yield harness


def settings_for(server: MailServer, **changes: Any) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": server.port, "smtp_security": "none",
            "from_address": "help@example.com", "from_name": "Acme Help",
            "reply_domain": DOMAIN, **changes}


async def set_up_email(admin: AgentClient, server: MailServer, **changes: Any) -> dict[str, Any]:
    answer = await admin.command("save_email_settings", changes=settings_for(server, **changes))
    assert answer["type"] == "result", answer
    return answer["result"]


async def texting_ticket(relay: Harness, admin: AgentClient, email: str = JO) -> int:
    """A ticket opened by a customer's text, whose contact has an email address."""
    status, _ = await relay.text("Where is my order?")
    assert status == 200
    page = await relay.relay.store.read(queries.list_tickets)
    ticket = page.items[0].ticket
    answer = await admin.command("update_contact", contact_id=ticket.contact_id, email=email)
    assert answer["type"] == "result", answer
    return ticket.id


async def email_reply(relay: Harness, admin: AgentClient, server: MailServer, body: str,
                      **settings: Any) -> int:
    """Email set up, a customer's ticket, and an email reply to it queued: its id."""
    await set_up_email(admin, server, **settings)
    ticket_id = await texting_ticket(relay, admin)
    answer = await admin.command("reply", ticket_id=ticket_id, channel="email", body=body)
    assert answer["type"] == "result", answer
    return int(answer["result"]["id"])


async def eventually(condition: Callable[[], Any], what: str, timeout: float = 15) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def message_state(relay: Harness, message_id: int) -> Any:
    return await relay.relay.store.read(queries.entry, message_id)


async def until_status(relay: Harness, message_id: int, status: MessageStatus,
                       timeout: float = 15) -> Any:
    seen: list[Any] = []

    async def reached() -> Any:
        message = await message_state(relay, message_id)
        seen[:] = [message]
        return message if message.status is status else None
    try:
        return await eventually(reached, f"message {message_id} {status}", timeout)
    except AssertionError:
        raise AssertionError(f"message {message_id} is {seen[0].status}, not {status}:"
                             f" {seen[0].mail_detail}") from None


def recording(client: AgentClient) -> list[str]:
    """Every frame the client gets from now on, as text."""
    frames: list[str] = []
    receive = client.socket.recv

    async def recv(*args: Any, **kwargs: Any) -> Any:
        frame = await receive(*args, **kwargs)
        frames.append(frame if isinstance(frame, str) else frame.decode())
        return frame
    client.socket.recv = recv
    return frames


async def test_an_email_reply_reaches_the_server_with_the_ticket_headers_and_live_states(
    relay: Harness, tmp_path: Path
) -> None:
    with mail_server() as server:
        async with relay.agent(relay.admin_token) as admin:
            await set_up_email(admin, server)
            ticket_id = await texting_ticket(relay, admin)
            upload = await admin.command(
                "upload_media", content_type="application/pdf", filename="invoice.pdf",
                purpose="email", data=base64.b64encode(b"%PDF-1.4 invoice").decode())
            assert upload["type"] == "result", upload
            answer = await admin.command(
                "reply", ticket_id=ticket_id, channel="email", body="Your order left today.",
                subject="Where is my order?", media=[upload["result"]])
            assert answer["type"] == "result", answer
            queued = answer["result"]
            assert (queued["channel"], queued["status"]) == ("email", "queued")
            sent = await until_status(relay, queued["id"], MessageStatus.SENT)
            assert sent.mail_detail == "250 2.0.0 Ok: queued as Q1"
            states = []
            while "sent" not in states:
                event = await admin.until("event")
                if event["kind"] in ("message.created", "message.updated") and (
                        event["payload"]["message"]["id"] == queued["id"]):
                    states.append(event["payload"]["message"]["status"])
            assert states == ["queued", "sending", "sent"]

    (received,) = server.handler.received
    mail = received.message
    assert received.rcpt_tos == [JO]
    assert received.mail_from == f"help+bounces@{DOMAIN}"
    assert mail["Subject"] == f"Re: [#{ticket_id}] Where is my order?"
    assert mail["Message-ID"] == queued["mail_id"]
    assert mail["From"] == "Acme Help <help@example.com>"
    assert mail["In-Reply-To"] is None  # the customer texted: no mail to answer
    secret = (await relay.relay.store.read(email_settings)).reply_secret
    reply_to = mail["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith(f"help+t{ticket_id}.")
    assert ticket_of_reply_address(reply_to, secret=secret, domain=DOMAIN) == ticket_id
    assert mail.get_body(("plain",)).get_content().strip() == "Your order left today."
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_filename() == "invoice.pdf"
    assert attachment.get_content() == b"%PDF-1.4 invoice"


async def test_a_reply_to_a_customers_email_threads_under_it(relay: Harness) -> None:
    with mail_server() as server:
        async with relay.agent(relay.admin_token) as admin:
            await set_up_email(admin, server)
            inbound = await relay.relay.store.write(
                record_inbound_email, ticket_id=None, contact_email=JO, contact_name="Jo",
                subject="Broken lamp", body="It arrived broken.",
                mail_id="<first.1@mail.example.com>")
            ticket_id = inbound.message.ticket_id
            answer = await admin.command("reply", ticket_id=ticket_id, channel="email",
                                         body="Sorry! A new one is on its way.")
            assert answer["type"] == "result", answer
            await until_status(relay, answer["result"]["id"], MessageStatus.SENT)
    mail = server.handler.received[0].message
    assert mail["In-Reply-To"] == "<first.1@mail.example.com>"
    assert mail["References"] == "<first.1@mail.example.com>"
    assert mail["Subject"] == f"Re: [#{ticket_id}] Broken lamp"
    assert mail["To"] == "Jo <jo@example.com>"


async def test_a_451_is_tried_again_and_then_accepted(relay: Harness) -> None:
    handler = Handler(rcpt_answers=["451 4.7.1 Greylisted, try again in a moment"])
    with mail_server(handler=handler) as server:
        async with relay.agent(relay.admin_token) as admin:
            message_id = await email_reply(relay, admin, server, "Here is your tracking number.")
            details = []
            while True:
                event = await admin.until("event", timeout=15)
                message = event["payload"].get("message") or {}
                if message.get("id") == message_id and event["kind"] == "message.updated":
                    details.append((message["status"], message["mail_detail"]))
                    if message["status"] == "sent":
                        break
    assert ("queued", "451 4.7.1 Greylisted, try again in a moment") in details
    assert details[-1] == ("sent", "250 2.0.0 Ok: queued as Q1")
    assert len(server.handler.received) == 1


async def test_a_550_fails_the_reply_with_the_servers_words_and_a_retry_is_an_email(
    relay: Harness,
) -> None:
    handler = Handler(rcpt_answers=["550 5.1.1 <jo@example.com>: Recipient address rejected"])
    with mail_server(handler=handler) as server:
        async with relay.agent(relay.admin_token) as admin:
            message_id = await email_reply(relay, admin, server, "Hello?")
            failed = await until_status(relay, message_id, MessageStatus.FAILED)
            assert server.handler.received == []
            # The agent fixed the address with the mail server's admin: retried as an email.
            retried = await admin.command("retry_reply", message_id=message_id)
            assert retried["type"] == "result", retried
            again = retried["result"]
            assert (again["channel"], again["body"]) == ("email", "Hello?")
            assert again["mail_id"] != failed.mail_id
            await until_status(relay, again["id"], MessageStatus.SENT)
    assert failed.mail_detail == "550 5.1.1 <jo@example.com>: Recipient address rejected"
    (received,) = server.handler.received
    assert received.message["Message-ID"] == again["mail_id"]


async def test_starttls_and_auth_and_the_password_reaches_no_agent_and_no_log(
    relay: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with mail_server(tls_dir=tmp_path) as server:
        assert server.cert is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))  # the relay trusts it
        async with relay.agent(relay.admin_token) as admin, relay.agent() as bo:
            seen_by_admin, seen_by_bo = recording(admin), recording(bo)
            saved = await set_up_email(admin, server, smtp_security="starttls",
                                       smtp_username=USER, smtp_password=PASSWORD)
            assert saved["smtp_password_set"] is True
            assert (await admin.command("get_email_settings"))["result"] == saved
            ticket_id = await texting_ticket(relay, admin)
            answer = await admin.command("reply", ticket_id=ticket_id, channel="email",
                                         body="Sent over TLS.")
            await until_status(relay, answer["result"]["id"], MessageStatus.SENT)
            tested = (await admin.command("send_test_email", to="ops@example.com"))["result"]
            await bo.command("list_tickets")
    assert tested["ok"] is True, tested
    assert len(server.handler.received) == 2
    assert [login for _, login in server.handler.logins] == [USER, USER]
    assert any(said.startswith("220 Ready to start TLS") for said in tested["said"])
    assert any(said.startswith("235 ") for said in tested["said"])
    secrets = (PASSWORD, base64.b64encode(PASSWORD.encode()).decode(),
               base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode())
    for secret in secrets:
        assert not any(secret in frame for frame in seen_by_admin + seen_by_bo)
        assert secret not in caplog.text
        assert secret not in repr(tested)


async def test_implicit_tls_with_a_login(relay: Harness, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with mail_server(tls_dir=tmp_path, implicit_tls=True) as server:
        assert server.cert is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
        async with relay.agent(relay.admin_token) as admin:
            message_id = await email_reply(relay, admin, server, "Over TLS", smtp_security="tls",
                                           smtp_username=USER, smtp_password=PASSWORD)
            await until_status(relay, message_id, MessageStatus.SENT)
    assert [login for _, login in server.handler.logins] == [USER]
    assert server.handler.received[0].message.get_content().strip() == "Over TLS"


async def test_send_test_email_reports_what_the_server_said_in_order(relay: Harness) -> None:
    handler = Handler(rcpt_answers=["250 2.1.5 Ok", "550 5.7.1 Relaying denied"])
    with mail_server(handler=handler) as server:
        async with relay.agent(relay.admin_token) as admin:
            await set_up_email(admin, server)
            good = (await admin.command("send_test_email", to="ops@example.com"))["result"]
            bad = (await admin.command("send_test_email", to="ops@example.com"))["result"]
    assert good["ok"] is True
    assert good["said"][0] == "220 mx.test test ESMTP"
    assert good["said"][1].startswith("250-mx.test")
    assert good["said"][2:] == ["250 OK", "250 2.1.5 Ok",
                                "250 2.0.0 Ok: queued as Q1", "221 Bye"]
    assert good["detail"] == "the mail server took the test email: 250 2.0.0 Ok: queued as Q1"
    assert bad["ok"] is False
    assert bad["said"][-2:] == ["550 5.7.1 Relaying denied", "221 Bye"]
    assert bad["detail"] == "the mail server refused: 550 5.7.1 Relaying denied"
    test_mail = server.handler.received[0].message
    assert test_mail["Subject"] == "smsdesk: a test email"


async def test_after_an_email_a_reply_without_channel_is_a_text_from_the_tickets_number(
    relay: Harness,
) -> None:
    with mail_server() as server:
        async with relay.agent(relay.admin_token) as admin:
            await set_up_email(admin, server)
            ticket_id = await texting_ticket(relay, admin)
            by_email = await admin.command("reply", ticket_id=ticket_id, channel="email",
                                           body="The long answer, by email.")
            await until_status(relay, by_email["result"]["id"], MessageStatus.SENT)
            ticket = await relay.relay.store.read(queries.ticket, ticket_id)
            assert ticket.last_channel is Channel.EMAIL
            by_text = await admin.command("reply", ticket_id=ticket_id, body="Sent you an email")
    assert by_text["type"] == "result", by_text
    text = by_text["result"]
    assert text["channel"] == "sms"
    assert text["mail_id"] is None
    number = next(n for n in await relay.relay.store.read(queries.numbers)
                  if n.e164 == US_TOLL_FREE)
    ticket = await relay.relay.store.read(queries.ticket, ticket_id)
    assert ticket.number_id == number.id
    assert text["from_number_id"] in (None, number.id)
    assert ticket.last_channel is Channel.SMS
    assert len(server.handler.received) == 1  # the text did not go by mail
