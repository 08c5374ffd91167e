"""The relay's inbound mail: an SMTP or LMTP listener for the reply domain.

An MTA (Postfix's transport map) or a mail provider's forwarding hands customers'
replies to this listener. It runs aiosmtpd's protocol classes on the relay's own event
loop (``loop.create_server``), not aiosmtpd's threaded Controller, so the store, the
media store and the agents' hub are the relay's own. What it promises the sending
server, in SMTP codes (docs/operations.md, "Email inbound", lists them):

- 250 only once the mail is committed (a second delivery of a stored Message-ID is
  acknowledged again and stored once), so a crash before the commit means the MTA
  sends it again;
- 550 5.1.1 for a recipient outside the reply domain, 452 4.5.3 past the recipients
  cap, 552 5.3.4 for mail over the size limit (declared with SIZE= or actually sent),
  550 5.6.0 for bytes that are no mail (with the reason), 550 5.1.7 for a sender
  address no ticket could answer;
- 451 4.3.0 when the store cannot take it now: the MTA keeps it and tries again.

Parsing (up to the size limit, 25 MB by default) runs in a thread, never on the loop.
A bounce (core.mail_bounce) marks our outbound email undelivered with its reason;
anything else is threaded (core.mail_threading) and stored as an email message of
the ticket, its attachments and its full original kept as media.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from core import queries
from core.email_settings import EmailSettings, email_settings, reply_secret
from core.email_writes import InboundEmail, mark_email_bounced, record_inbound_email, valid_address
from core.mail_bounce import Bounce, bounce_of
from core.mail_read import InboundMail, MailUnreadable, read_mail
from core.mail_threading import ThreadChoice, thread_of
from core.models import Media
from core.store import Store
from core.writes import StoreError, WriteContext
from server.media import MediaStore

logger = logging.getLogger(__name__)

# Mails parsed at once: each may be max_inbound_bytes, and parsing holds a few copies.
PARSES_AT_ONCE = 2
# Longer DATA lines than RFC 5321's 1000 are common in real (broken) mail: refusing
# them would lose a customer's reply, so the listener takes lines up to this.
LINE_LIMIT = 1024 * 1024
IDENT = "smsdesk"

ORIGINAL_TYPE = "message/rfc822"
ORIGINAL_NAME = "original.eml"


# --- the replies the listener gives ------------------------------------------------


def reply(code: str, words: str) -> str:
    """One SMTP reply line: the code and enhanced code, then words on one ASCII line
    (a reason from a mail's own bytes can carry neither CR/LF nor non-ASCII)."""
    line = " ".join(words.split())
    return f"{code} {line.encode('ascii', 'replace').decode('ascii')}"[:500]


def too_big(limit: int) -> str:
    return reply("552 5.3.4", f"message too big for this desk: at most {limit} bytes")


STORE_DOWN = reply("451 4.3.0", "the desk cannot store mail right now; try again later")

# aiosmtpd's own words for the size refusals it makes itself (SIZE= over the limit,
# DATA over the limit), said with the enhanced code the sending server logs.
_AIOSMTPD_SIZE_REFUSALS = (
    "552 Error: message size exceeds fixed maximum message size",
    "552 Error: Too much mail data",
)
# What aiosmtpd says itself at the end of DATA: one reply, where LMTP needs one a recipient.
_AIOSMTPD_DATA_REFUSALS = (
    "552 Error: Too much mail data",
    "500 Line too long (see RFC5321 4.5.3.1.6)",
)


class _DeskReplies:
    """The listener's protocol says aiosmtpd's size refusals with 552 5.3.4 and the limit."""

    data_size_limit: int | None
    envelope: Envelope | None

    def words_for(self, status: str) -> str:
        return too_big(self.data_size_limit or 0) if status in _AIOSMTPD_SIZE_REFUSALS else status

    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            status = self.words_for(status)
        await super().push(status)  # type: ignore[misc]


class DeskSMTP(_DeskReplies, SMTP):
    line_length_limit = LINE_LIMIT


class DeskLMTP(_DeskReplies, LMTP):
    """LMTP answers the end of DATA once per recipient (RFC 2033 §4.2), refusals too:
    an MTA waiting for the second answer would otherwise wait until it times out."""

    line_length_limit = LINE_LIMIT

    def words_for(self, status: str) -> str:
        words = super().words_for(status)
        recipients = self.envelope.rcpt_tos if self.envelope is not None else []
        if status in _AIOSMTPD_DATA_REFUSALS and recipients:
            return "\r\n".join(words for _ in recipients)
        return words


# --- what the listener does with a mail ---------------------------------------------


class Parsed(NamedTuple):
    """A mail as read in the parsing thread: a bounce, or a mail, or why it is neither."""

    bounce: Bounce | None
    mail: InboundMail | None
    unreadable: str | None


def parsed(raw: bytes) -> Parsed:
    """Read ``raw`` (blocking, CPU-heavy: run in a thread). A bounce is looked for first,
    even in mail too broken to be a customer's."""
    try:
        mail: InboundMail | None = read_mail(raw)
        unreadable = None
    except MailUnreadable as error:
        mail, unreadable = None, error.reason
    return Parsed(bounce_of(mail if mail is not None else raw), mail, unreadable)


class _StoreLookups:
    """core.mail_threading's questions, answered in the write transaction."""

    def __init__(self, ctx: WriteContext) -> None:
        self.conn = ctx.conn

    def ticket_for_mail_ids(self, ids: Sequence[str]) -> int | None:
        return queries.ticket_of_mail_ids(self.conn, list(ids))

    def contact_email_of_ticket(self, ticket_id: int) -> str | None:
        return queries.contact_email_of_ticket(self.conn, ticket_id)


class Stored(NamedTuple):
    recorded: InboundEmail
    choice: ThreadChoice


def store_mail(ctx: WriteContext, mail: InboundMail, *, settings: EmailSettings,
               recipients: Sequence[str], original: Media | None,
               media: tuple[Media, ...]) -> Stored:
    """Thread ``mail`` and store it, in one transaction (the threading's answer cannot
    go stale before the mail is in). A token naming a ticket purged since opens a new
    ticket, as mail matching nothing does."""
    choice = thread_of(mail, reply_domain=settings.reply_domain, secret=settings.reply_secret,
                       lookups=_StoreLookups(ctx), envelope_recipients=recipients)
    ticket_id = choice.ticket_id
    if ticket_id is not None and queries.ticket(ctx.conn, ticket_id) is None:
        ticket_id = None
    recorded = record_inbound_email(
        ctx, ticket_id=ticket_id, contact_email=mail.from_address,
        contact_name=mail.from_name, number_id=settings.new_ticket_number_id,
        subject=mail.subject, body=mail.reply_text or mail.text, mail_id=mail.message_id,
        original=original, media=media)
    return Stored(recorded, choice)


def in_domain(address: str, domain: str) -> bool:
    """Whether ``address`` is at ``domain`` (case and a trailing dot ignored)."""
    _, at, host = address.rpartition("@")
    return bool(at) and bool(domain) and host.lower().rstrip(".") == domain.lower().rstrip(".")


def declared_size(mail_options: Sequence[str]) -> int | None:
    """The SIZE= a client declared in MAIL FROM, if any."""
    for option in mail_options:
        name, _, value = option.partition("=")
        if name.upper() == "SIZE" and value.isdigit():
            return int(value)
    return None


class InboundHandler:
    """aiosmtpd's handler hooks: settings at MAIL, limits at RCPT, the mail at DATA.

    Settings are read from the store at each MAIL, so what an admin changes (domain,
    limits, the number for new tickets) applies to the next mail; only the port needs a
    restart.
    """

    def __init__(self, store: Store, media: MediaStore, *, settings: EmailSettings,
                 lmtp: bool = False) -> None:
        self.store = store
        self.media = media
        self.settings = settings
        self.lmtp = lmtp
        self._parsing = asyncio.Semaphore(PARSES_AT_ONCE)

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        try:
            self.settings = await self.store.read(email_settings)
        except Exception:
            logger.exception("inbound mail: cannot read the email settings")
            return STORE_DOWN
        limit = self.settings.max_inbound_bytes
        server.data_size_limit = limit  # DATA stops buffering past it (552 5.3.4)
        size = declared_size(mail_options)
        if size is not None and size > limit:
            return too_big(limit)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return reply("250 2.1.0", "sender ok")

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        domain = self.settings.reply_domain
        if not domain:
            return reply("451 4.3.0", "email is not set up on this desk: no reply domain")
        if not in_domain(address, domain):
            return reply("550 5.1.1", f"<{address}>: this desk takes mail for {domain} only")
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            return reply("452 4.5.3", f"too many recipients: at most"
                         f" {self.settings.max_recipients} a message")
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return reply("250 2.1.5", "recipient ok")

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        answer = await self.take(raw, list(envelope.rcpt_tos), peer=session.peer)
        if self.lmtp:  # LMTP answers once per recipient (RFC 2033 §4.2)
            return "\r\n".join(answer for _ in envelope.rcpt_tos)
        return answer

    async def take(self, raw: bytes, recipients: list[str], *, peer: Any = None) -> str:
        """Whatever happens, one reply: 250 only after the commit."""
        try:
            return await self._take(raw, recipients)
        except Exception:
            logger.exception("inbound mail from %s: could not store it", peer)
            return STORE_DOWN

    async def _take(self, raw: bytes, recipients: list[str]) -> str:
        limit = self.settings.max_inbound_bytes
        if len(raw) > limit:
            return too_big(limit)
        async with self._parsing:
            found = await asyncio.to_thread(parsed, raw)
        if found.bounce is not None:
            said = await self._bounced(found.bounce)
            if said is not None or found.mail is None:
                return said or reply("250 2.0.0", "delivery report noted")
        if found.mail is None:
            return reply("550 5.6.0", f"not a mail this desk can read: {found.unreadable}")
        return await self._store(found.mail, raw, recipients)

    async def _bounced(self, bounce: Bounce) -> str | None:
        """Mark our email bounced; None when the report is about no mail of ours and the
        mail should be read as a customer's (a guessed notice may be a human's words)."""
        if bounce.delayed:
            logger.info("inbound mail: delivery of %s delayed: %s",
                        bounce.original_message_id, bounce.detail)
            return reply("250 2.0.0", "delay report noted")
        message = None
        if bounce.original_message_id:
            try:
                message = await self.store.write(mark_email_bounced,
                                                 bounce.original_message_id, bounce.detail)
            except StoreError as error:
                logger.warning("inbound mail: bounce for %s not applied: %s",
                               bounce.original_message_id, error)
                return reply("250 2.0.0", "bounce noted")
        if message is not None:
            return reply("250 2.0.0", f"bounce recorded for message {message.id}")
        if bounce.standard:  # a real report, about mail that is not ours: nothing to mark
            logger.info("inbound mail: a bounce for %s, which is not ours",
                        bounce.original_message_id)
            return reply("250 2.0.0", "delivery report noted")
        return None

    async def _store(self, mail: InboundMail, raw: bytes, recipients: list[str]) -> str:
        if not valid_address(mail.from_address):
            return reply("550 5.1.7", f"<{mail.from_address}> is no address the desk can"
                         " answer")
        if mail.message_id:
            seen = await self.store.read(queries.message_by_mail_id, mail.message_id)
            if seen is not None:
                return reply("250 2.0.0", f"already stored as message {seen.id}")
        original = Media(content_type=ORIGINAL_TYPE, size=len(raw),
                         sha256=await self.media.put(raw), filename=ORIGINAL_NAME)
        media = tuple([
            Media(content_type=item.content_type, size=len(item.data),
                  sha256=await self.media.put(item.data), filename=item.filename)
            for item in mail.attachments])
        try:
            stored = await self.store.write(store_mail, mail, settings=self.settings,
                                            recipients=recipients, original=original,
                                            media=media)
        except StoreError as error:  # e.g. no phone number yet: fixable, so try later
            logger.warning("inbound mail from %s not stored: %s", mail.from_address, error)
            return reply("451 4.3.0", f"the desk cannot take this mail now: {error}")
        if stored.choice.token_refused:
            logger.warning("inbound mail from %s names %s, whose reply token is not ours:"
                           " threaded by %s instead", mail.from_address,
                           stored.choice.refused_token, stored.choice.how)
        message = stored.recorded.message
        if not stored.recorded.created:
            return reply("250 2.0.0", f"already stored as message {message.id}")
        return reply("250 2.0.0", f"stored as message {message.id} in ticket"
                     f" #{message.ticket_id}")


# --- the listener --------------------------------------------------------------------


@dataclass
class MailListener:
    """The listening server; ``close`` also ends the connections still open."""

    server: asyncio.Server
    protocols: weakref.WeakSet[SMTP]
    lmtp: bool

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    @property
    def kind(self) -> str:
        return "LMTP" if self.lmtp else "SMTP"

    async def close(self) -> None:
        self.server.close()
        for protocol in list(self.protocols):
            if protocol.transport is not None:
                protocol.transport.close()
        await self.server.wait_closed()


async def start_mail_listener(
    store: Store, media: MediaStore, *, port: int | None, host: str | None, lmtp: bool,
    bind: Callable[[str, int], socket.socket],
) -> MailListener | None:
    """Listen for mail when a port is given (``port``: the CLI's override; None: the
    settings' ``inbound_port``, where 0 means off). ``bind`` makes the listening socket
    (the relay's, which says in one line why a port cannot be had)."""
    settings = await store.read(email_settings)
    if port is None:  # given, 0 is any free port (tests); in the settings, 0 is off
        if not settings.inbound_port:
            return None
        port = settings.inbound_port
    host = host or settings.inbound_host
    await store.write(reply_secret)  # reply tokens are checkable from the first mail on
    settings = await store.read(email_settings)
    listening = bind(host, port)
    handler = InboundHandler(store, media, settings=settings, lmtp=lmtp)
    protocols: weakref.WeakSet[SMTP] = weakref.WeakSet()
    kind = DeskLMTP if lmtp else DeskSMTP

    def protocol() -> SMTP:
        made = kind(handler, data_size_limit=handler.settings.max_inbound_bytes,
                    enable_SMTPUTF8=True, hostname=handler.settings.reply_domain or IDENT,
                    ident=IDENT, loop=asyncio.get_running_loop())
        protocols.add(made)
        return made

    try:
        server = await asyncio.get_running_loop().create_server(protocol, sock=listening)
    except BaseException:
        listening.close()
        raise
    return MailListener(server, protocols, lmtp)
