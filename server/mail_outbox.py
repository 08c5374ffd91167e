"""Sending agents' email replies through the admin's mail server: once, or said why not.

An email reply is durable as ``queued`` (with its Message-ID) before the agent is told
it was accepted. The outbox then speaks SMTP in steps: connect, EHLO, STARTTLS, AUTH,
MAIL FROM, RCPT TO; only when the server has said it will take the mail does it commit
"handing over" (status ``sending``), and only then send DATA, and commit the server's
words as "accepted" (``sent``). A refusal for now (4xx) puts the reply back in the queue
and it is tried again later (doubling waits, a cap on tries); a refusal for good (5xx)
fails it with the server's words.

SMTP has no way to ask a server whether it took a message, so a reply left ``sending``
(the relay died, or the line broke, while the server was taking it) is never sent
again: it is failed with words telling the agent to check before resending
(at-most-once; docs/operations.md). A crash before "handing over" leaves it queued, and
it goes normally after the restart.

With several relays on one PostgreSQL database only the leader of ``mail-outbox``
sends; any relay's commit that queues an email wakes it (store commit listeners).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field

from core import email_writes, queries, writes
from core.email_settings import EmailSettings, email_settings, reply_secret
from core.mail_compose import MailAttachment, compose_reply, subject_for
from core.models import Channel, Event, Message, MessageStatus
from core.reply_token import reply_address
from core.store import Lead, Store
from core.writes import WriteContext
from server.mail_smtp import (
    TIMEOUT_SECONDS,
    MailRefused,
    MailUnreachable,
    SmtpConversation,
    as_bytes,
)
from server.media import MediaStore

logger = logging.getLogger(__name__)

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 300.0
MAX_TRIES = 10  # 4xx again and again (about 20 minutes of waits): failed, with the last words
POLL_SECONDS = 5.0
# After taking over from another relay, what it left ``sending`` waits this long: a DATA
# it started has then ended (its timeout) before the reply is declared in doubt.
TAKEOVER_GRACE = TIMEOUT_SECONDS + 5.0
GRACE_VARIABLE = "SMSDESK_MAIL_TAKEOVER_GRACE"  # seconds, instead (tests, a faster server)

HANDING_OVER = "handing over to the mail server"
IN_DOUBT_AFTER_CRASH = ("may have been sent: the relay stopped while the mail server was"
                        " taking it; check before resending")
IN_DOUBT_AFTER_BREAK = ("may have been sent: the connection broke while the mail server"
                        " was taking it ({reason}); check before resending")
NOT_SET_UP = "not sent yet: the desk's email is not set up (an admin sets it in Email settings)"


@dataclass
class MailOutbox:
    store: Store
    media: MediaStore
    takeover_grace: float = field(default_factory=lambda: takeover_grace())
    first_backoff: float = FIRST_BACKOFF
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    # message id: (when to try again, the wait before that, the tries so far)
    _retry_at: dict[int, tuple[float, float, int]] = field(default_factory=dict)
    _lead: Lead | None = None
    _in_doubt_from: float = 0.0

    def wake(self) -> None:
        self._wake.set()

    def notice(self, events: list[Event]) -> None:
        """A store commit listener: wake when a commit (of any relay) queued an email."""
        if any(queues_an_email(event) for event in events):
            self._wake.set()

    async def run(self) -> None:
        """Work until cancelled, whenever this relay leads the mail outbox."""
        while True:
            async with self.store.leadership("mail-outbox") as lead:
                await self._lead_until_lost(lead)
            logger.warning("no longer sending email: waiting to lead the mail outbox again")

    async def _lead_until_lost(self, lead: Lead) -> None:
        self._lead = lead
        self._in_doubt_from = time.monotonic() + (self.takeover_grace if lead.takeover else 0)
        lost = asyncio.create_task(lead.lost.wait())
        lost.add_done_callback(lambda _: self._wake.set())
        try:
            while not lead.lost.is_set():
                self._wake.clear()
                try:
                    await self.work_once()
                except Exception:
                    logger.exception("mail outbox pass failed; trying again shortly")
                await self._sleep_until_due()
        finally:
            lost.cancel()
            self._lead = None

    async def _sleep_until_due(self) -> None:
        next_retry = min((when for when, _, _ in self._retry_at.values()), default=None)
        timeout = POLL_SECONDS if next_retry is None else max(
            0.0, min(POLL_SECONDS, next_retry - time.monotonic()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def work_once(self) -> None:
        """One pass over the queue: what is in doubt is declared so, what is due is sent."""
        for message in await self.store.read(queries.email_outbox):
            if self._lead is not None and self._lead.lost.is_set():
                return  # another relay may lead by now: it sends the rest
            if message.status is MessageStatus.SENDING:
                await self._declare_in_doubt(message)
                continue
            when, _, _ = self._retry_at.get(message.id, (0.0, 0.0, 0))
            if when <= time.monotonic():
                await self.send(message)

    async def _declare_in_doubt(self, message: Message) -> None:
        """A reply left ``sending`` by a relay that stopped: failed, never sent again.

        This relay sends one reply at a time and never leaves one ``sending`` between
        passes, so one found so is another run's (or, just after a takeover, maybe the
        old leader's still: it waits out the grace first)."""
        if time.monotonic() < self._in_doubt_from:
            self._retry_at[message.id] = (self._in_doubt_from, 0.0, 0)
            return
        await self.store.write(email_writes.mark_email_failed, message.id, IN_DOUBT_AFTER_CRASH)
        self._retry_at.pop(message.id, None)

    async def send(self, message: Message) -> None:
        """Send one queued reply through the steps above; its state says how it went."""
        settings = await self.store.read(email_settings)
        if not settings.enabled:
            await self._defer(message, NOT_SET_UP)
            return
        try:
            mail, recipient = await self._composed(message, settings)
        except (writes.StoreError, ValueError) as problem:
            await self.store.write(email_writes.mark_email_failed, message.id,
                                   f"not sent: {problem}")
            return
        conversation = SmtpConversation(settings)
        handed_over = False
        try:
            await conversation.open()
            await conversation.envelope(return_path(settings), recipient)
            claimed = await self.store.write(hand_over, message.id)
            if claimed is None:
                return  # moved on since it was read (another outbox, a disabled author)
            handed_over = True
            words = await conversation.data(mail)
        except MailRefused as refused:
            await self._refused(message, refused)
            return
        except MailUnreachable as broken:
            if handed_over:
                await self.store.write(email_writes.mark_email_failed, message.id,
                                       IN_DOUBT_AFTER_BREAK.format(reason=broken))
                self._retry_at.pop(message.id, None)
            else:
                await self._defer(message, f"not sent yet: {broken}")
            return
        finally:
            await conversation.close()
        await self.store.write(email_writes.mark_email_accepted, message.id, words)
        self._retry_at.pop(message.id, None)

    async def _refused(self, message: Message, refused: MailRefused) -> None:
        if refused.temporary:
            await self._defer(message, refused.words)
            return
        await self.store.write(email_writes.mark_email_failed, message.id, refused.words)
        self._retry_at.pop(message.id, None)

    async def _defer(self, message: Message, words: str) -> None:
        """Back to the queue with the server's words, for a later try; failed at the cap."""
        _, wait, tries = self._retry_at.get(message.id, (0.0, self.first_backoff / 2, 0))
        tries += 1
        if tries >= MAX_TRIES:
            await self.store.write(
                email_writes.mark_email_failed, message.id,
                f"not sent after {tries} tries; the mail server last said: {words}")
            self._retry_at.pop(message.id, None)
            return
        wait = min(wait * 2, MAX_BACKOFF)
        self._retry_at[message.id] = (time.monotonic() + wait, wait, tries)
        await self.store.write(email_writes.mark_email_deferred, message.id, words)

    async def _composed(self, message: Message, settings: EmailSettings) -> tuple[bytes, str]:
        """The reply as bytes for DATA, and the address it goes to."""
        ticket = await self.store.read(writes.ticket_by_id, message.ticket_id)
        contact = await self.store.read(writes.contact_by_id, ticket.contact_id)
        recipient = email_writes.normalized_address(contact.email)
        secret = settings.reply_secret or await self.store.write(reply_secret)
        thread = [mail_id for mail_id in await self.store.read(
            queries.thread_mail_ids, ticket.id) if mail_id != message.mail_id]
        files = []
        for item in message.media:
            data = await self.media.read(item.sha256) if item.sha256 else None
            if data is None:
                raise writes.StoreError(f"the attachment {item.filename or item.sha256}"
                                        " is no longer kept on the relay")
            files.append(MailAttachment(item.filename or "attachment", item.content_type, data))

        def compose() -> bytes:
            return as_bytes(compose_reply(
                from_address=settings.from_address, from_name=settings.from_name,
                to_address=recipient, to_name=contact.name,
                subject=subject_for(ticket.id, message.subject or ticket.subject),
                body=message.body, message_id=message.mail_id or "",
                reply_to=reply_address(ticket.id, secret=secret,
                                       local_part=local_part_of(settings.from_address),
                                       domain=settings.reply_domain),
                thread_ids=thread, attachments=files))
        return await asyncio.to_thread(compose), recipient  # 20 MB of base64 takes a while


def takeover_grace() -> float:
    """How long a new leader waits before declaring what the old one left ``sending`` in
    doubt: ``SMSDESK_MAIL_TAKEOVER_GRACE`` seconds if set, else the SMTP timeout and more."""
    try:
        return float(os.environ[GRACE_VARIABLE])
    except (KeyError, ValueError):
        return TAKEOVER_GRACE


def hand_over(ctx: WriteContext, message_id: int) -> Message | None:
    """Commit "handing over" (``sending``) for a queued reply, just before DATA; None when
    it is no longer queued (checked under the store's write lock: one outbox only)."""
    current = writes.entry_by_id(ctx.conn, message_id)
    if not isinstance(current, Message) or current.status is not MessageStatus.QUEUED:
        return None
    # The words go with the state, in its event: "sending" alone would keep a 4xx's words.
    ctx.conn.execute("UPDATE entries SET mail_detail = ? WHERE id = ?", (HANDING_OVER, message_id))
    handed = email_writes.mark_email_sending(ctx, message_id)
    return handed if handed.status is MessageStatus.SENDING else None


def local_part_of(address: str) -> str:
    """The from address's mailbox without any sub-address: ``support`` of
    ``support+desk@example.com``; reply addresses add their own ``+t123.<mac>``."""
    return address.rpartition("@")[0].split("+", 1)[0] or "support"


def return_path(settings: EmailSettings) -> str:
    """The envelope sender: at the reply domain, so that bounces come back to the relay's
    listener (which marks the reply bounced), not to a person's mailbox."""
    return f"{local_part_of(settings.from_address)}+bounces@{settings.reply_domain}"


def queues_an_email(event: Event) -> bool:
    """Whether ``event`` leaves an email reply queued for the mail outbox."""
    if event.kind not in ("message.created", "message.updated"):
        return False
    message = event.payload.get("message")
    return isinstance(message, dict) and message.get("channel") == Channel.EMAIL.value \
        and message.get("status") == MessageStatus.QUEUED.value \
        and message.get("direction") == "outbound"
