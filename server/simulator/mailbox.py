"""``Mailbox``: the demo's whole mail world on one SMTP port, so email needs no account.

It plays two parts at once. For the desk it is the admin's outgoing mail server: it
takes whatever the relay sends (any sender, any recipient, no login, plain SMTP on
loopback) and answers ``250 2.0.0 Ok: queued as …`` as Postfix does. For the customers
it is their mail provider: it keeps every mail in the recipient's mailbox (in memory,
and as ``.eml`` files when given a folder), and the customers it knows answer after a
short, human delay (``MailCustomer``: replies quoting the desk's mail, with a signature,
one with an attachment), or their provider bounces the mail (an RFC 3464 report) when
the mailbox does not exist.

What customers send goes where a real mail server would send it: to the mail server of
the recipient's domain, which ``route(domain, host, port)`` names (the demo routes the
desk's reply domain to the relay's inbound listener). It is delivered with aiosmtplib,
and what that server answered is kept in ``sent``.

    mailbox = Mailbox(customers=[MailCustomer("maya@example.com", "Maya", replies=(...))])
    host, port = await mailbox.start("127.0.0.1", 0)
    mailbox.route("support.example.com", "127.0.0.1", relay_mail_port)
    ...
    mailbox.mailbox("maya@example.com")   # what the desk sent Maya, oldest first
    await mailbox.settle()                # until every pending reply has been sent
    await mailbox.stop()

It runs aiosmtpd's protocol on the simulator's own event loop (``loop.create_server``),
not aiosmtpd's threaded Controller, like the relay's listener.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

from server.simulator.mail_replies import (
    MailCustomer,
    Reply,
    address_of,
    bounce_for,
    first_mail,
    parsed,
    reply_to,
)

log = logging.getLogger("smsdesk.simulator.mail")

HOSTNAME = "mail.simulator.example"
SEND_TIMEOUT = 30.0


@dataclass
class ReceivedMail:
    """One mail the stand-in took: the envelope, the bytes, and where it was filed."""

    number: int
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes = field(repr=False)
    queued_as: str
    received_at: datetime
    files: tuple[Path, ...] = ()

    @property
    def message(self) -> EmailMessage:
        return parsed(self.raw)


@dataclass
class SentMail:
    """One mail the stand-in delivered onward (a customer's reply, a bounce) and how it went."""

    kind: str  # "reply", "bounce" or "new"
    mail_from: str
    to: str
    host: str
    port: int
    message: EmailMessage = field(repr=False)
    said: str = ""  # the receiving server's last reply, e.g. "250 2.0.0 stored as message 7"
    error: str = ""  # why it was not delivered

    @property
    def delivered(self) -> bool:
        return not self.error


class _Handler:
    """aiosmtpd's hooks: accept everything, keep it, then let the customers act."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or b"")
        sender = (envelope.mail_from or "").strip().removeprefix("<").removesuffix(">")
        mail = await self.mailbox.take(sender, list(envelope.rcpt_tos), raw)
        return f"250 2.0.0 Ok: queued as {mail.queued_as}"


class Mailbox:
    """The mail stand-in. Single-threaded: use it from the event loop it serves on."""

    def __init__(self, customers: Iterable[MailCustomer] = (), *, reply_delay: float = 4.0,
                 folder: Path | None = None,
                 on_mail: Callable[[ReceivedMail], None] = lambda mail: None) -> None:
        self.customers = {customer.address.lower(): customer for customer in customers}
        self.reply_delay = reply_delay
        self.folder = folder
        self.on_mail = on_mail  # told of each mail taken (``smsdesk sim`` prints a line)
        self.received: list[ReceivedMail] = []
        self.sent: list[SentMail] = []
        self.routes: dict[str, tuple[str, int]] = {}
        self._replies_used: dict[str, int] = {}
        self._numbers = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._protocols: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen for SMTP on ``host:port`` (0: a free port); returns where."""
        handler = _Handler(self)

        def protocol() -> SMTP:
            made = SMTP(handler, hostname=HOSTNAME, ident="smsdesk simulator",
                        enable_SMTPUTF8=True, data_size_limit=None,
                        loop=asyncio.get_running_loop())
            self._protocols.add(made)
            return made

        self._server = await asyncio.get_running_loop().create_server(protocol, host, port)
        return self.address

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None, "the mailbox is not started"
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def stop(self) -> None:
        """Stop listening, drop pending replies, close the connections still open."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            for made in list(self._protocols):
                if made.transport is not None:
                    made.transport.close()
            await self._server.wait_closed()
            self._server = None

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every pending reply and bounce has been delivered (or failed)."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def route(self, domain: str, host: str, port: int) -> None:
        """Mail to ``domain`` goes to the SMTP server at ``host:port`` (its "MX")."""
        self.routes[domain.lower().rstrip(".")] = (host, port)

    # -- what came in -------------------------------------------------------------------
    def mailbox(self, address: str) -> list[ReceivedMail]:
        """Every mail sent to ``address``, oldest first."""
        wanted = address.lower()
        return [mail for mail in self.received
                if wanted in (rcpt.lower() for rcpt in mail.rcpt_tos)]

    def addresses(self) -> list[str]:
        """Every address that has mail, in the order they first got some."""
        seen: dict[str, None] = {}
        for mail in self.received:
            for rcpt in mail.rcpt_tos:
                seen.setdefault(rcpt.lower(), None)
        return list(seen)

    async def take(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> ReceivedMail:
        """Keep a mail (and file it), then schedule what its recipients do about it."""
        number = next(self._numbers)
        mail = ReceivedMail(number, mail_from, tuple(rcpt_tos), raw,
                            queued_as=f"SIM{number:05d}", received_at=datetime.now(UTC))
        if self.folder is not None:
            mail.files = tuple(await asyncio.to_thread(self._file, mail))
        self.received.append(mail)
        self.on_mail(mail)
        missing = [rcpt for rcpt in rcpt_tos
                   if (c := self.customers.get(rcpt.lower())) is not None and not c.exists]
        if missing and mail_from:  # never bounce a bounce (its sender is <>)
            self._later(self._bounce(mail, missing))
        for rcpt in rcpt_tos:
            customer = self.customers.get(rcpt.lower())
            if customer is not None and customer.exists:
                answer = self._next_reply(customer)
                if answer is not None:
                    self._later(self._answer(mail, customer, answer))
        return mail

    def _file(self, mail: ReceivedMail) -> list[Path]:
        assert self.folder is not None
        written = []
        for rcpt in mail.rcpt_tos:
            box = self.folder / folder_name(rcpt)
            box.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = box / f"{mail.number:04d}.eml"
            path.write_bytes(mail.raw)
            written.append(path)
        return written

    def _next_reply(self, customer: MailCustomer) -> Reply | None:
        used = self._replies_used.get(customer.address.lower(), 0)
        if used >= len(customer.replies):
            return None
        self._replies_used[customer.address.lower()] = used + 1
        return customer.replies[used]

    # -- what goes out -------------------------------------------------------------------
    def _later(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, mail: ReceivedMail, customer: MailCustomer, answer: Reply) -> None:
        await asyncio.sleep(self.reply_delay)
        message = reply_to(mail.message, customer, answer)
        await self.deliver("reply", customer.address, str(message["To"]), message)

    async def _bounce(self, mail: ReceivedMail, missing: list[str]) -> None:
        await asyncio.sleep(min(self.reply_delay, 1.0))  # a server bounces sooner than people
        report = bounce_for(mail.raw, return_path=mail.mail_from, recipients=missing)
        await self.deliver("bounce", "", mail.mail_from, report)

    async def write(self, address: str, to: str, subject: str, body: str) -> SentMail:
        """A customer the stand-in knows writes a new mail (not a reply) to ``to``."""
        customer = self.customers.get(address.lower()) or MailCustomer(address)
        return await self.deliver("new", customer.address, to,
                                  first_mail(customer, to, subject, body))

    async def deliver(self, kind: str, mail_from: str, to: str,
                      message: EmailMessage) -> SentMail:
        """Send ``message`` to ``to``'s domain's server (``route``); keep how it went."""
        address = address_of(to) or to.strip()  # "Name <a@b>" or a bare address
        domain = address.rpartition("@")[2].lower().rstrip(".")
        host, port = self.routes.get(domain, ("", 0))
        sent = SentMail(kind, mail_from, address, host, port, message)
        self.sent.append(sent)
        if not host:
            sent.error = f"no mail server for {domain or address!r}: route(domain, host, port)"
            log.warning("%s to %s not sent: %s", kind, address, sent.error)
            return sent
        try:
            async with aiosmtplib.SMTP(hostname=host, port=port, use_tls=False,
                                       start_tls=False, local_hostname=HOSTNAME,
                                       timeout=SEND_TIMEOUT) as smtp:
                _, said = await smtp.sendmail(mail_from, [address], message.as_bytes())
            sent.said = said
        except aiosmtplib.SMTPRecipientsRefused as refused:
            sent.error = "; ".join(f"{error.code} {error.message}"
                                   for error in refused.recipients)
        except aiosmtplib.SMTPResponseException as refused:
            sent.error = f"{refused.code} {refused.message}"
        except (aiosmtplib.SMTPException, OSError) as error:
            sent.error = str(error) or type(error).__name__
        if sent.error:
            log.warning("%s to %s not delivered: %s", kind, address, sent.error)
        return sent


def parse_route(text: str) -> tuple[str, str, int]:
    """``DOMAIN=HOST:PORT`` (``smsdesk sim --mail-route``) as (domain, host, port)."""
    domain, equals, target = text.partition("=")
    host, colon, port = target.rpartition(":")
    if not (equals and colon and domain.strip() and host.strip() and port.isdigit()
            and 1 <= int(port) <= 65535):
        raise ValueError(f"{text!r} is not DOMAIN=HOST:PORT (e.g."
                         " support.example.com=127.0.0.1:2525)")
    return domain.strip().lower(), host.strip().strip("[]"), int(port)


def described(mail: ReceivedMail) -> str:
    """One line about a mail taken: its queue id, recipients and subject."""
    subject = mail.message.get("Subject", "") or "(no subject)"
    return f"mail {mail.queued_as} to {', '.join(mail.rcpt_tos)}: {' '.join(str(subject).split())}"


_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


def folder_name(address: str) -> str:
    """A mailbox's folder name: the address, lower case, anything odd replaced by _."""
    return _UNSAFE.sub("_", address.lower()).lstrip(".") or "_"
