"""The relay's inbound mail over real SMTP on loopback, on both backends.

A relay runs in this process with its mail listener on a port of its own, and a
customer's mail client (aiosmtplib) delivers to it: replies thread by token, headers
and subject (with the right sender), a forged token does not, unknown senders open
tickets, HTML and attachments are kept safely, a bounce marks our email, and every
refusal has its SMTP code. test_mail_inbound_fuzz.py throws broken mail at it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
import pytest
from desk_harness import free_port
from relay_harness import Harness, seed

from core import queries
from core.email_settings import EmailSettings, email_settings, save_email_settings
from core.email_writes import mark_email_accepted, queue_email_reply
from core.mail_read import read_mail
from core.models import Channel, Direction, Message, MessageStatus
from core.reply_token import reply_address
from core.store import Store
from server import mail_inbound
from server.config import Paths
from server.mail_inbound import MailListener
from server.relay import bound_port, running_relay

DOMAIN = "support.example.com"
SUPPORT = f"support@{DOMAIN}"
ANN = "ann@example.org"


@dataclass
class MailDesk:
    harness: Harness
    listener: MailListener

    @property
    def store(self) -> Store:
        return self.harness.relay.store

    @property
    def port(self) -> int:
        return self.listener.address[1]

    async def secret(self) -> str:
        return (await self.store.read(email_settings)).reply_secret

    async def token_address(self, ticket_id: int) -> str:
        return reply_address(ticket_id, secret=await self.secret(), local_part="support",
                             domain=DOMAIN)

    async def deliver(self, raw: bytes | EmailMessage, *, sender: str = ANN,
                      to: Sequence[str] = (SUPPORT,),
                      options: Sequence[str] = ()) -> tuple[int, str]:
        """Send one mail; the listener's (code, words) for the first refusal or the DATA."""
        data = raw.as_bytes() if isinstance(raw, EmailMessage) else raw
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=self.port, timeout=60,
                                   local_hostname="client.example.org", start_tls=False,
                                   use_tls=False) as smtp:
            try:
                await smtp.mail(sender, options=list(options))
                for recipient in to:
                    await smtp.rcpt(recipient)
                answer = await smtp.data(data)
            except aiosmtplib.SMTPResponseException as refused:
                return refused.code, refused.message
            return answer.code, answer.message

    async def message(self, message_id: int) -> Message:
        entry = await self.store.read(queries.entry, message_id)
        assert isinstance(entry, Message), entry
        return entry

    async def stored_id(self, words: str) -> int:
        """The message id a 250 names ("stored as message 7 in ticket #3")."""
        assert "message " in words, words
        return int(words.split("message ", 1)[1].split()[0])

    async def inbound_count(self) -> int:
        return int(await self.store.read(_count_inbound_email))


def _count_inbound_email(conn: object) -> int:
    row = conn.execute(  # type: ignore[attr-defined]
        "SELECT count(*) FROM entries WHERE channel = 'email' AND direction = 'inbound'"
    ).fetchone()
    return int(row[0])


@asynccontextmanager
async def mail_desk(home: Path, database: str | None = None, *, lmtp: bool = False,
                    settings: EmailSettings | None = None) -> AsyncIterator[MailDesk]:
    """A seeded relay (relay_harness.seed) whose email is set up for DOMAIN, taking mail."""
    paths = Paths(home, database)
    admin, agent = await seed_with_email(paths, settings)
    heard: list[MailListener] = []
    async with running_relay(paths, public_url="https://relay.example.test", host="127.0.0.1",
                             port=0, mail_port=0, lmtp=lmtp,
                             on_mail=heard.append) as (relay, server):
        harness = Harness(relay, f"http://127.0.0.1:{bound_port(server)}", admin, agent)
        yield MailDesk(harness, heard[0])


async def seed_with_email(paths: Paths, settings: EmailSettings | None = None
                          ) -> tuple[str, str]:
    """relay_harness.seed, and email set up for DOMAIN; the admin's and agent's tokens."""
    tokens = await seed(paths.store)
    async with await Store.open(paths.store) as store:
        await store.write(save_email_settings, settings or EmailSettings(
            smtp_host="mail.example.com", from_address=SUPPORT, reply_domain=DOMAIN))
    return tokens


def customer_mail(body: str = "Hello, my printer jams.", *, sender: str = ANN,
                  name: str = "Ann Lee", to: str = SUPPORT, subject: str = "Printer",
                  **headers: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"{name} <{sender}>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="example.org")
    for name_, value in headers.items():
        mail[name_.replace("_", "-")] = value
    mail.set_content(body)
    return mail


@pytest.fixture
def database(store_backend: str, request: pytest.FixtureRequest) -> str | None:
    return None if store_backend == "sqlite" else str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def inbox(tmp_path: Path, database: str | None,
                monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MailDesk]:
    monkeypatch.setenv("SMSDESK_TWILIO_API_URL", "http://127.0.0.1:9")  # refused at once
    async with mail_desk(tmp_path, database) as desk:
        yield desk


async def stored(inbox: MailDesk, mail: bytes | EmailMessage, **kwargs: object) -> Message:
    code, words = await inbox.deliver(mail, **kwargs)  # type: ignore[arg-type]
    assert code == 250 and words.startswith("2.0.0 stored as message"), (code, words)
    return await inbox.message(await inbox.stored_id(words))


async def agents_reply(inbox: MailDesk, ticket_id: int) -> Message:
    """An agent's email reply, queued with its Message-ID (as the mail outbox sends it)."""
    ours = await inbox.store.write(queue_email_reply, ticket_id=ticket_id, agent_id=None,
                                   body="Try turning it off and on", subject="Re: Printer",
                                   reply_domain=DOMAIN)
    assert ours.mail_id is not None
    return ours


# --- threading ---------------------------------------------------------------------


async def test_mail_from_an_unknown_address_opens_a_ticket_and_a_contact(
        inbox: MailDesk) -> None:
    message = await stored(inbox, customer_mail(subject="Printer jams"))
    assert (message.channel, message.direction) == (Channel.EMAIL, Direction.INBOUND)
    assert message.body == "Hello, my printer jams." and message.subject == "Printer jams"
    ticket = await inbox.store.read(queries.ticket, message.ticket_id)
    assert ticket is not None and ticket.last_channel is Channel.EMAIL
    contact = await inbox.store.read(queries.contact, ticket.contact_id)
    assert contact is not None and (contact.email, contact.name) == (ANN, "Ann Lee")
    assert not contact.has_phone
    original = message.mail_original
    assert original is not None and original.content_type == "message/rfc822"
    kept = await inbox.harness.relay.media.read(original.sha256)
    assert kept is not None and message.mail_id is not None
    assert message.mail_id.encode() in kept and b"Hello, my printer jams." in kept


async def test_a_reply_threads_by_token_even_from_another_address(inbox: MailDesk) -> None:
    first = await stored(inbox, customer_mail())
    token = await inbox.token_address(first.ticket_id)
    reply = customer_mail("Still jams.\n\nOn Monday support wrote:\n> Try this", to=token,
                          sender="colleague@example.net", subject="something else")
    again = await stored(inbox, reply, sender="colleague@example.net", to=[token])
    assert again.ticket_id == first.ticket_id
    assert again.body == "Still jams."  # the quoted history stripped


async def test_a_reply_threads_by_in_reply_to_of_our_email(inbox: MailDesk) -> None:
    first = await stored(inbox, customer_mail())
    ours = await agents_reply(inbox, first.ticket_id)
    reply = customer_mail("It worked", subject="no number here", In_Reply_To=str(ours.mail_id),
                          References=f"{first.mail_id} {ours.mail_id}")
    assert (await stored(inbox, reply)).ticket_id == first.ticket_id


async def test_a_reply_threads_by_references_alone(inbox: MailDesk) -> None:
    first = await stored(inbox, customer_mail())
    reply = customer_mail("me again", subject="hm", References=str(first.mail_id))
    assert (await stored(inbox, reply)).ticket_id == first.ticket_id


async def test_the_subject_number_threads_only_for_the_tickets_own_sender(
        inbox: MailDesk) -> None:
    first = await stored(inbox, customer_mail())
    tagged = f"Re: [#{first.ticket_id}] Printer"
    same = await stored(inbox, customer_mail("more", subject=tagged))
    assert same.ticket_id == first.ticket_id
    other = await stored(inbox, customer_mail("mine too", subject=tagged,
                                              sender="bob@example.net"),
                         sender="bob@example.net")
    assert other.ticket_id != first.ticket_id
    ticket = await inbox.store.read(queries.ticket, other.ticket_id)
    assert ticket is not None
    contact = await inbox.store.read(queries.contact, ticket.contact_id)
    assert contact is not None and contact.email == "bob@example.net"


async def test_a_forged_token_does_not_thread(inbox: MailDesk,
                                              caplog: pytest.LogCaptureFixture) -> None:
    first = await stored(inbox, customer_mail())
    real = await inbox.token_address(first.ticket_id)
    local, domain = real.split("@")
    forged = f"{local[:-4]}{'0000' if not local.endswith('0000') else '1111'}@{domain}"
    mail = customer_mail("let me in", to=forged, sender="mallory@example.net")
    with caplog.at_level("WARNING", logger="server.mail_inbound"):
        landed = await stored(inbox, mail, sender="mallory@example.net", to=[forged])
    assert landed.ticket_id != first.ticket_id
    assert any("token is not ours" in r.getMessage() for r in caplog.records)


async def test_an_html_only_mail_is_stored_as_safe_text(inbox: MailDesk) -> None:
    mail = customer_mail(subject="html")
    mail.set_content("<html><head><script>alert('x')</script></head><body><p>Order"
                     " <b>1234</b> is late.</p><img src='http://tracker.example/p.gif'>"
                     "</body></html>", subtype="html")
    message = await stored(inbox, mail)
    assert "Order 1234 is late." in message.body
    assert "<" not in message.body and "alert" not in message.body
    assert "tracker.example" not in message.body


async def test_attachments_are_kept_as_media(inbox: MailDesk) -> None:
    mail = customer_mail("see attached")
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
    mail.add_attachment(pdf, maintype="application", subtype="pdf", filename="invoice.pdf")
    message = await stored(inbox, mail)
    assert [(m.filename, m.content_type, m.size) for m in message.media] == [
        ("invoice.pdf", "application/pdf", len(pdf))]
    assert await inbox.harness.relay.media.read(message.media[0].sha256) == pdf


async def test_a_duplicate_message_id_is_acknowledged_and_stored_once(inbox: MailDesk) -> None:
    mail = customer_mail("only once")
    first = await stored(inbox, mail)
    code, words = await inbox.deliver(mail)
    assert code == 250 and f"already stored as message {first.id}" in words
    assert await inbox.inbound_count() == 1


async def test_agents_see_the_inbound_email_live(inbox: MailDesk) -> None:
    async with inbox.harness.agent(inbox.harness.admin_token) as agent:
        await agent.until("caught_up")
        await stored(inbox, customer_mail("are you there?", subject="Hello"))
        live = await agent.until("event")
        assert live["kind"] == "ticket.created"
        message = live["payload"]["message"]
        assert (message["channel"], message["body"], message["subject"]) == (
            "email", "are you there?", "Hello")


# --- bounces -------------------------------------------------------------------------


def dsn_for(mail_id: str, recipient: str) -> bytes:
    """A Postfix delivery status notification about our mail ``mail_id``."""
    return f"""From: MAILER-DAEMON@mail.example.com (Mail Delivery System)
To: {SUPPORT}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Message-Id: <dsn.{mail_id.strip('<>')}>
Content-Type: multipart/report; report-type=delivery-status; boundary="B0"

--B0
Content-Type: text/plain; charset=us-ascii

Your message could not be delivered.

--B0
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.com

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown

--B0
Content-Type: text/rfc822-headers

From: {SUPPORT}
To: {recipient}
Subject: Re: [#1] Printer
Message-ID: {mail_id}

--B0--
""".replace("\n", "\r\n").encode()


async def test_a_bounce_marks_our_email_bounced_with_the_reason(inbox: MailDesk) -> None:
    first = await stored(inbox, customer_mail())
    ours = await agents_reply(inbox, first.ticket_id)
    await inbox.store.write(mark_email_accepted, ours.id, "250 2.0.0 Ok: queued as X")
    async with inbox.harness.agent(inbox.harness.admin_token) as agent:
        await agent.until("caught_up")
        code, words = await inbox.deliver(dsn_for(str(ours.mail_id), ANN), sender="")
        assert code == 250 and f"bounce recorded for message {ours.id}" in words
        live = await agent.until("event")
        assert live["kind"] == "message.updated"
        assert live["payload"]["message"]["status"] == "undelivered"
    bounced = await inbox.message(ours.id)
    assert bounced.status is MessageStatus.UNDELIVERED
    assert bounced.mail_detail is not None and "User unknown" in bounced.mail_detail
    assert "5.1.1" in bounced.mail_detail
    assert await inbox.inbound_count() == 1  # the report is no customer's message


# --- refusals --------------------------------------------------------------------------

MB = 1024 * 1024


def big_mail(size: int) -> bytes:
    line = b"QUJD" * 249 + b"\r\n"  # long lines (RFC 5321 allows 998), fewer to read
    head = customer_mail("big").as_bytes().split(b"\n\n", 1)[0].replace(b"\n", b"\r\n")
    return head + b"\r\n\r\n" + line * (size // len(line))


async def test_a_30_mb_mail_is_refused_with_552(inbox: MailDesk) -> None:
    code, words = await inbox.deliver(big_mail(30 * MB))
    assert (code, words.split()[0]) == (552, "5.3.4"), words
    declared, said = await inbox.deliver(customer_mail(), options=[f"SIZE={30 * MB}"])
    assert (declared, said.split()[0]) == (552, "5.3.4"), said
    assert await inbox.inbound_count() == 0


async def test_a_mail_for_another_domain_is_refused_with_550(inbox: MailDesk) -> None:
    code, words = await inbox.deliver(customer_mail(), to=["someone@elsewhere.example"])
    assert (code, words.split()[0]) == (550, "5.1.1"), words


async def test_too_many_recipients_get_452_and_the_rest_is_stored_once(
        inbox: MailDesk) -> None:
    mail = customer_mail("to many")
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=inbox.port, start_tls=False,
                               local_hostname="client.example.org") as smtp:
        await smtp.mail(ANN)
        said = [await smtp.execute_command(b"RCPT", f"TO:<support+{n}@{DOMAIN}>".encode())
                for n in range(51)]
        assert {r.code for r in said[:50]} == {250}
        assert (said[50].code, said[50].message.split()[0]) == (452, "4.5.3")
        answer = await smtp.data(mail.as_bytes())
    assert answer.code == 250 and await inbox.inbound_count() == 1


async def test_unreadable_mail_is_refused_with_550_and_the_reason(inbox: MailDesk) -> None:
    code, words = await inbox.deliver(b"just some words, no headers at all\r\n")
    assert (code, words.split()[0]) == (550, "5.6.0"), words
    assert "not a mail this desk can read" in words


async def test_a_store_that_cannot_write_gets_451_and_the_mail_comes_again(
        inbox: MailDesk, monkeypatch: pytest.MonkeyPatch) -> None:
    mail = customer_mail("try me later")

    async def down(*args: object, **kwargs: object) -> None:
        raise OSError("the database is not answering")

    with monkeypatch.context() as patch:
        patch.setattr(inbox.store, "write", down)
        code, words = await inbox.deliver(mail)
    assert (code, words.split()[0]) == (451, "4.3.0"), words
    assert await inbox.inbound_count() == 0
    assert (await stored(inbox, mail)).body == "try me later"  # the MTA's retry lands


# --- LMTP ----------------------------------------------------------------------------


async def lmtp_exchange(port: int, lines: list[bytes], data: bytes, replies: int) -> list[bytes]:
    """Speak LMTP by hand (aiosmtplib has no LHLO): the replies to DATA's end, in order."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await reader.readline()  # greeting
        answers: list[bytes] = []
        for line in lines:
            writer.write(line + b"\r\n")
            await writer.drain()
            while True:
                answer = await reader.readline()
                if answer[3:4] != b"-":
                    break
        writer.write(data.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n")
        await writer.drain()
        for _ in range(replies):
            answers.append(await asyncio.wait_for(reader.readline(), 30))
        return answers
    finally:
        writer.close()


async def test_lmtp_answers_once_per_recipient(tmp_path: Path, database: str | None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDESK_TWILIO_API_URL", "http://127.0.0.1:9")
    async with mail_desk(tmp_path, database, lmtp=True) as desk:
        assert desk.listener.kind == "LMTP"
        first = await desk.token_address(1)
        lines = [b"LHLO mta.example.org", f"MAIL FROM:<{ANN}>".encode(),
                 f"RCPT TO:<{SUPPORT}>".encode(), f"RCPT TO:<{first}>".encode(), b"DATA"]
        answers = await lmtp_exchange(desk.port, lines, customer_mail().as_bytes(), 2)
        assert [a[:3] for a in answers] == [b"250", b"250"], answers
        assert await desk.inbound_count() == 1


async def test_lmtp_refuses_too_big_a_mail_once_per_recipient(
        tmp_path: Path, database: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDESK_TWILIO_API_URL", "http://127.0.0.1:9")
    small = EmailSettings(reply_domain=DOMAIN, max_inbound_bytes=2000)
    async with mail_desk(tmp_path, database, lmtp=True, settings=small) as desk:
        lines = [b"LHLO mta.example.org", f"MAIL FROM:<{ANN}>".encode(),
                 f"RCPT TO:<{SUPPORT}>".encode(), f"RCPT TO:<help@{DOMAIN}>".encode(), b"DATA"]
        answers = await lmtp_exchange(desk.port, lines, big_mail(10_000), 2)
        assert [a[:9] for a in answers] == [b"552 5.3.4", b"552 5.3.4"], answers
        assert await desk.inbound_count() == 0


# --- where the listener listens ------------------------------------------------------


async def test_the_settings_port_starts_the_listener_and_0_leaves_it_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDESK_TWILIO_API_URL", "http://127.0.0.1:9")
    paths = Paths(tmp_path)
    port = free_port()
    await seed_with_email(paths, EmailSettings(reply_domain=DOMAIN, inbound_port=port))
    heard: list[MailListener] = []
    async with running_relay(paths, public_url="https://relay.example.test", host="127.0.0.1",
                             port=0, on_mail=heard.append):
        assert [(m.kind, m.address) for m in heard] == [("SMTP", ("127.0.0.1", port))]
    async with await Store.open(paths.store) as store:
        await store.write(save_email_settings, EmailSettings(reply_domain=DOMAIN))
    async with running_relay(paths, public_url="https://relay.example.test", host="127.0.0.1",
                             port=0, on_mail=heard.append):
        assert len(heard) == 1  # inbound_port 0: no listener


async def test_smsdesk_relay_mail_port_and_lmtp_on_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    await seed_with_email(Paths(home), EmailSettings(reply_domain=DOMAIN,
                                                     inbound_port=free_port()))
    mail_port = free_port()
    argv = [sys.executable, "-m", "server.cli", "relay", "--port", str(free_port()),
            "--public-url", "https://relay.example.test", "--mail-port", str(mail_port),
            "--lmtp"]
    env = {**os.environ, "SMSDESK_HOME": str(home), "SMSDESK_TWILIO_API_URL": "http://127.0.0.1:9"}
    env.pop("SMSDESK_DATABASE", None)
    process = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    try:
        assert process.stdout is not None
        said = b""
        while b"takes mail" not in said:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line, said
            said += line
        assert f"takes mail (LMTP) on 127.0.0.1:{mail_port}".encode() in said
        lines = [b"LHLO mta.example.org", f"MAIL FROM:<{ANN}>".encode(),
                 f"RCPT TO:<{SUPPORT}>".encode(), b"DATA"]
        answers = await lmtp_exchange(mail_port, lines, customer_mail().as_bytes(), 1)
        assert answers[0].startswith(b"250 2.0.0 stored as message 1"), answers
    finally:
        process.terminate()
        await process.wait()


async def test_a_big_mail_is_parsed_off_the_event_loop(inbox: MailDesk,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The relay's loop (the agents' websocket, the webhooks) keeps turning while a
    20 MB mail is read: the mail is read in another thread, and the loop's longest stall
    is under what reading the mail takes (on the loop it would stall about twice that:
    reading, then looking for a bounce). The bound is loose: the machine may be busy."""
    readers: list[int] = []

    def read_and_note(raw: bytes) -> object:
        readers.append(threading.get_ident())
        return read_mail(raw)

    monkeypatch.setattr(mail_inbound, "read_mail", read_and_note)
    mail = customer_mail("the photos")
    mail.add_attachment(bytes(range(256)) * (60 * 1024), maintype="image", subtype="png",
                        filename="photo.png")
    raw = mail.as_bytes().replace(b"\n", b"\r\n")
    started = time.monotonic()
    read_mail(raw)
    reading = time.monotonic() - started
    stalls: list[float] = []

    async def tick() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.005)
            stalls.append(time.monotonic() - before)

    conversation = (f"EHLO client.example.org\r\nMAIL FROM:<{ANN}>\r\nRCPT TO:<{SUPPORT}>\r\n"
                    "DATA\r\n").encode() + raw.replace(b"\n.", b"\n..") + b".\r\nQUIT\r\n"

    def send() -> bytes:
        """The client in a thread, all prepared: sockets let go of the GIL, so what
        stalls the loop is the relay's own work."""
        with socket.create_connection(("127.0.0.1", inbox.port), timeout=60) as client:
            client.sendall(conversation)
            said = b""
            while chunk := client.recv(65536):
                said += chunk
            return said

    ticking = asyncio.create_task(tick())
    try:
        said = await asyncio.to_thread(send)
    finally:
        ticking.cancel()
    last = [line for line in said.decode().splitlines() if line.startswith("250 2.0.0")]
    assert last, said
    message = await inbox.message(await inbox.stored_id(last[0]))
    assert message.media[0].size == 256 * 60 * 1024
    assert readers and threading.get_ident() not in readers
    assert max(stalls) < reading, (max(stalls), reading)
