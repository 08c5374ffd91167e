"""The email commands: replying to a ticket by email, and the admins' email settings.

A reply with ``channel: "email"`` is judged by the email preflight (core.mail_preflight:
the desk's email set up, the contact's address valid, a body, attachments within the
limit) inside the transaction that queues it, so nothing changes between the check and
the write; the mail outbox (server/mail_outbox.py) sends it. None of the SMS rules
apply. The settings' secrets (the SMTP password, the reply secret) never leave the
relay: every answer and event carries ``EmailSettings.to_wire()`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

from core import contact_rules, email_writes, writes
from core.email_settings import (
    EmailSettings,
    InvalidEmailSettings,
    email_settings,
    save_email_settings,
    settings_with_changes,
)
from core.mail_preflight import mail_preflight
from core.models import Media, Message
from core.writes import WriteContext
from server.commands import (
    REPLY_BY_CHANNEL,
    RETRY_BY_CHANNEL,
    UPLOAD_LIMIT_FOR,
    CommandRefused,
    Context,
    _direct,
    _recorded,
    attachments,
)
from server.mail_outbox import return_path
from server.mail_smtp import MailRefused, MailUnreachable, SmtpConversation, as_bytes


async def email_reply(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Message]:
    """The ``reply`` command with ``channel: "email"``: checked, then queued for the mail
    outbox with its Message-ID."""
    media = await attachments(ctx, args)
    return lambda wctx: queue_email_checked(wctx, ctx.agent.id, args["ticket_id"], args["body"],
                                            args.get("subject", ""), media)


def queue_email_checked(wctx: WriteContext, agent_id: int, ticket_id: int, body: str,
                        subject: str, media: tuple[Media, ...]) -> Message:
    """Queue an email reply once the relay's email preflight passes (the client is not
    trusted), in the transaction that queues it."""
    settings = email_settings(wctx.conn)
    ticket = writes.ticket_by_id(wctx.conn, ticket_id)
    contact = writes.contact_by_id(wctx.conn, ticket.contact_id)
    verdict = mail_preflight(settings=settings, contact_email=contact.email, body=body,
                             attachments=media)
    if not verdict.ok:
        raise writes.FieldRefused(verdict.reason, verdict.refusals[0].field)
    return email_writes.queue_email_reply(
        wctx, ticket_id=ticket.id, agent_id=agent_id, body=body, subject=subject,
        media=media, reply_domain=settings.reply_domain)


def retry_email(wctx: WriteContext, agent_id: int, failed: Message) -> Message:
    """A failed email reply sent again as a new email (a new Message-ID), same subject,
    body and attachments, through the same preflight."""
    return queue_email_checked(wctx, agent_id, failed.ticket_id, failed.body,
                               failed.subject or "", failed.media)


async def email_upload_limit(ctx: Context) -> int:
    """The largest email attachment an agent may upload: the desk's limit."""
    return (await ctx.store.read(email_settings)).max_attachment_bytes


REPLY_BY_CHANNEL["email"] = email_reply
RETRY_BY_CHANNEL["email"] = retry_email
UPLOAD_LIMIT_FOR["email"] = email_upload_limit


@_direct("get_email_settings")
async def _get_email_settings(ctx: Context, args: dict[str, Any]) -> Any:
    return (await ctx.store.read(email_settings)).to_wire()


@_direct("get_email_channel")
async def _get_email_channel(ctx: Context, args: dict[str, Any]) -> Any:
    """What every agent's composer needs to offer email: whether the desk can send it and
    how much may be attached. The settings themselves (the mail server) are the admins'."""
    settings = await ctx.store.read(email_settings)
    return {"enabled": settings.enabled, "max_attachment_bytes": settings.max_attachment_bytes}


@_recorded("save_email_settings")
def _save_email_settings(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    """Checked in words (``field`` names the setting); every admin screen hears of it
    through the ``email_settings.updated`` event, secrets left out."""
    def save(wctx: WriteContext) -> dict[str, Any]:
        try:
            changed = settings_with_changes(email_settings(wctx.conn), args["changes"])
        except InvalidEmailSettings as error:
            raise writes.FieldRefused(str(error), error.field) from None
        except TypeError as error:  # a value of the wrong kind (dataclasses.replace)
            raise writes.StoreError(f"email settings: {error}") from None
        return save_email_settings(wctx, changed).to_wire()
    return save


@_direct("send_test_email")
async def _send_test_email(ctx: Context, args: dict[str, Any]) -> Any:
    """Send a short mail to ``to`` with the saved settings; say what the server said.

    Not recorded: a resend after a reconnect sends a second test mail, which is harmless.
    """
    try:
        to = contact_rules.checked_email(args["to"])
    except contact_rules.InvalidContact as error:
        raise CommandRefused("bad_args", str(error), "to") from None
    if not to:
        raise CommandRefused("bad_args", "say which address the test email goes to", "to")
    settings = await ctx.store.read(email_settings)
    if not settings.enabled:
        raise CommandRefused("refused", "set the mail server, the from address and the reply"
                                        " domain first, then save them")
    return await test_conversation(settings, to)


async def test_conversation(settings: EmailSettings, to: str) -> dict[str, Any]:
    """{ok, said: every reply in order, detail: how it ended, in a line}."""
    conversation = SmtpConversation(settings)
    try:
        await conversation.open()
        await conversation.envelope(return_path(settings), to)
        words = await conversation.data(as_bytes(test_message(settings, to)))
        ok, detail = True, f"the mail server took the test email: {words}"
    except MailRefused as refused:
        ok, detail = False, f"the mail server refused: {refused.words}"
    except MailUnreachable as broken:
        ok, detail = False, f"cannot reach the mail server: {broken}"
    finally:
        await conversation.close()
    return {"ok": ok, "said": conversation.said, "detail": detail}


def test_message(settings: EmailSettings, to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((settings.from_name, settings.from_address))
    message["To"] = to
    message["Subject"] = "smsdesk: a test email"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid("smsdesk.test", domain=settings.reply_domain)
    message.set_content("This is a test email from smsdesk: the desk's outgoing mail works.\n")
    return message
