"""The simulator's mail stand-in alone: it takes the desk's mail, files it, and its
customers answer a given listener (an aiosmtpd server standing in for the relay) as
mail clients do, with quotes, signatures, an attachment, or a bounce."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from core.mail_bounce import bounce_of
from core.mail_compose import MailAttachment, compose_reply
from core.mail_read import read_mail
from server.simulator.mail_replies import Attachment, MailCustomer, Reply, parsed
from server.simulator.mailbox import Mailbox, folder_name

DESK = "support.example.com"
TOKEN_ADDRESS = f"support+t7.abcdefghijklmnop@{DESK}"
RETURN_PATH = f"support+bounces@{DESK}"

MAYA = MailCustomer(
    "maya.patel@example.com", "Maya Patel",
    replies=(Reply("Thanks, the new one arrived today!"),
             Reply("Here is the receipt", attachments=(
                 Attachment("receipt.txt", "text/plain", b"Order 4417: 39.00 EUR\n"),))),
    signature="Maya Patel\nSent from my phone")
GHOST = MailCustomer("nobody@example.net", "Nobody", exists=False)


@dataclass
class Listener:
    """The relay's inbound listener, as far as the stand-in can tell: it takes mail."""

    taken: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    answer: str = "250 2.0.0 stored as message 1"
    server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.taken.append((envelope.mail_from, list(envelope.rcpt_tos),
                           bytes(envelope.original_content or b"")))
        return self.answer

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    found = Listener()
    loop = asyncio.get_running_loop()
    found.server = await loop.create_server(lambda: SMTP(found, loop=loop), "127.0.0.1", 0)
    yield found
    found.server.close()
    await found.server.wait_closed()


@pytest.fixture
async def mailbox(tmp_path, listener: Listener) -> AsyncIterator[Mailbox]:
    box = Mailbox([MAYA, GHOST], reply_delay=0.05, folder=tmp_path / "mail")
    await box.start("127.0.0.1", 0)
    box.route(DESK, "127.0.0.1", listener.port)
    yield box
    await box.stop()


def agent_mail(to: str, *, message_id: str = f"<smsdesk.t7.m11.aa@{DESK}>",
               body: str = "Hi Maya,\nthe replacement left today.\nSam") -> bytes:
    return compose_reply(
        from_address=f"support@{DESK}", from_name="Demo Shop", to_address=to,
        subject="Re: [#7] Damaged order", body=body, message_id=message_id,
        reply_to=TOKEN_ADDRESS, thread_ids=["<first@example.com>"],
        attachments=[MailAttachment("label.txt", "text/plain", b"label")]).as_bytes()


async def send_as_desk(mailbox: Mailbox, to: str, raw: bytes) -> tuple[dict, str]:
    host, port = mailbox.address
    async with aiosmtplib.SMTP(hostname=host, port=port, start_tls=False) as smtp:
        return await smtp.sendmail(RETURN_PATH, [to], raw)


async def test_it_takes_the_desks_mail_and_files_it(mailbox: Mailbox, tmp_path) -> None:
    raw = agent_mail("someone@example.org")
    errors, said = await send_as_desk(mailbox, "someone@example.org", raw)
    assert errors == {}
    assert said.startswith("2.0.0 Ok: queued as SIM")
    [mail] = mailbox.mailbox("Someone@Example.org")
    assert mail.mail_from == RETURN_PATH
    assert mail.raw.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert mail.message["Subject"] == "Re: [#7] Damaged order"
    assert mailbox.addresses() == ["someone@example.org"]
    [path] = mail.files
    assert path.parent == tmp_path / "mail" / "someone@example.org"
    assert path.read_bytes() == mail.raw
    await mailbox.settle()
    assert mailbox.sent == []  # a stranger reads and says nothing


async def test_a_customer_replies_like_a_mail_client(mailbox: Mailbox,
                                                     listener: Listener) -> None:
    await send_as_desk(mailbox, MAYA.address, agent_mail(MAYA.address))
    await mailbox.settle()
    [(mail_from, rcpt_tos, raw)] = listener.taken
    assert mail_from == MAYA.address
    assert rcpt_tos == [TOKEN_ADDRESS]  # to the Reply-To, not the From
    reply = parsed(raw)
    assert reply["To"] == TOKEN_ADDRESS
    assert reply["From"].addresses[0].display_name == "Maya Patel"
    assert reply["Subject"] == "Re: [#7] Damaged order"
    assert reply["In-Reply-To"] == f"<smsdesk.t7.m11.aa@{DESK}>"
    assert reply["References"].split() == ["<first@example.com>",
                                           f"<smsdesk.t7.m11.aa@{DESK}>"]
    assert reply["Message-ID"].endswith("@example.com>")
    text = reply.get_content().replace("\r\n", "\n")
    assert "\n-- \nMaya Patel\nSent from my phone\n" in text
    assert "> the replacement left today." in text
    assert " wrote:\n>" in text
    read = read_mail(raw)
    assert read.reply_text == "Thanks, the new one arrived today!"  # quotes and signature go
    [sent] = mailbox.sent
    assert sent.kind == "reply" and sent.delivered and sent.said.startswith("2.0.0 stored")


async def test_the_second_reply_carries_an_attachment_and_then_she_is_quiet(
        mailbox: Mailbox, listener: Listener) -> None:
    for n in range(3):
        await send_as_desk(mailbox, MAYA.address,
                           agent_mail(MAYA.address, message_id=f"<m{n}@{DESK}>"))
        await mailbox.settle()
    assert len(listener.taken) == 2  # two replies scripted, the third mail goes unanswered
    second = read_mail(listener.taken[1][2])
    assert second.in_reply_to == (f"<m1@{DESK}>",)
    [attachment] = second.attachments
    assert (attachment.filename, attachment.content_type) == ("receipt.txt", "text/plain")
    assert attachment.data == b"Order 4417: 39.00 EUR\n"


async def test_mail_to_a_mailbox_that_does_not_exist_bounces(mailbox: Mailbox,
                                                             listener: Listener) -> None:
    await send_as_desk(mailbox, GHOST.address, agent_mail(GHOST.address))
    await mailbox.settle()
    [(mail_from, rcpt_tos, raw)] = listener.taken
    assert mail_from == "<>"  # a bounce's envelope sender is <>, so it is never bounced back
    assert rcpt_tos == [RETURN_PATH]  # to the envelope sender, not the From or Reply-To
    report = parsed(raw)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    bounce = bounce_of(raw)
    assert bounce is not None and bounce.standard
    assert bounce.action == "failed"
    assert bounce.original_message_id == f"<smsdesk.t7.m11.aa@{DESK}>"
    assert bounce.recipient == GHOST.address
    assert bounce.status == "5.1.1"
    assert "User unknown" in bounce.diagnostic
    assert [sent.kind for sent in mailbox.sent] == ["bounce"]


async def test_a_bounce_to_the_stand_in_is_never_bounced_again(mailbox: Mailbox,
                                                               listener: Listener) -> None:
    host, port = mailbox.address
    async with aiosmtplib.SMTP(hostname=host, port=port, start_tls=False) as smtp:
        await smtp.sendmail("", [GHOST.address], agent_mail(GHOST.address))
    await mailbox.settle()
    assert listener.taken == [] and mailbox.sent == []
    assert len(mailbox.mailbox(GHOST.address)) == 1


async def test_what_the_listener_refuses_is_kept_with_its_words(mailbox: Mailbox,
                                                                listener: Listener) -> None:
    listener.answer = "550 5.6.0 not a mail this desk can read"
    await send_as_desk(mailbox, MAYA.address, agent_mail(MAYA.address))
    await mailbox.settle()
    [sent] = mailbox.sent
    assert not sent.delivered
    assert sent.error == "550 5.6.0 not a mail this desk can read"


async def test_mail_to_a_domain_without_a_route_is_not_sent(tmp_path) -> None:
    box = Mailbox([MAYA], reply_delay=0.0)
    await box.start()
    try:
        await send_as_desk(box, MAYA.address, agent_mail(MAYA.address))
        await box.settle()
        [sent] = box.sent
        assert sent.to == TOKEN_ADDRESS and not sent.delivered
        assert "no mail server for 'support.example.com'" in sent.error
    finally:
        await box.stop()


async def test_a_customer_writes_a_new_mail(mailbox: Mailbox, listener: Listener) -> None:
    sent = await mailbox.write(MAYA.address, f"support@{DESK}", "Opening hours",
                               "Are you open on Sunday?")
    assert sent.delivered
    [(mail_from, rcpt_tos, raw)] = listener.taken
    assert (mail_from, rcpt_tos) == (MAYA.address, [f"support@{DESK}"])
    read = read_mail(raw)
    assert read.subject == "Opening hours" and read.in_reply_to == ()
    assert read.reply_text == "Are you open on Sunday?"


def test_mailbox_folders_are_plain_names() -> None:
    assert folder_name("Maya.Patel@Example.com") == "maya.patel@example.com"
    assert folder_name("../x/y@z") == "_x_y@z"
