"""The store's writes for the email channel: replies queued for the mail outbox, their
delivery states, and the mail customers send, threaded into tickets exactly once.

An email is a message of the same ticket as the texts (``entries`` with channel
``email``), so everything here emits the events an SMS message does
(``message.created``, ``message.updated``, ``ticket.created``) and agents see mail
live. Delivery states reuse ``MessageStatus``: QUEUED (in our outbox), SENDING (handed
to SMTP: in doubt after a crash, found again by its Message-ID), SENT (accepted by the
mail server, ``mail_detail`` its reply), FAILED (refused for good, the server's words)
and UNDELIVERED (bounced, the bounce's reason).

Each function runs inside the store's single writer transaction (core.store); PostgreSQL
relays take the store's write lock for each transaction, so reading "is this Message-ID
stored?" and then storing it cannot race, and the unique index on ``entries.mail_id``
backs that up.
"""

from __future__ import annotations

import secrets
from typing import Any, NamedTuple

from core import contact_rules, csat_surveys, queries, records, report_counts, sla_writes
from core.models import (
    Channel,
    Contact,
    Direction,
    Media,
    Message,
    MessageStatus,
    Ticket,
    email_only_phone,
)
from core.tickets import (
    Routing,
    preview_of,
    route_inbound,
    status_after_customer_text,
    status_moves_forward,
    subject_from_body,
)
from core.writes import (
    NotFound,
    StoreError,
    WriteContext,
    agent_by_id,
    contact_by_id,
    entry_by_id,
    number_by_id,
    take_over_from_bot,
    ticket_by_id,
)

# A subject is one header line; longer ones are cut (RFC 5322 advises 78 a line, folded).
MAX_SUBJECT = 998


class InboundEmail(NamedTuple):
    """What ``record_inbound_email`` did: the message, and whether it is new
    (False: this Message-ID was stored before, and nothing changed)."""

    message: Message
    created: bool


def new_mail_id(ticket_id: int, message_id: int, domain: str) -> str:
    """An outbound Message-ID, unique and ours: it names the ticket and the message, so a
    reply's In-Reply-To finds the ticket even without the reply address."""
    return f"<smsdesk.t{ticket_id}.m{message_id}.{secrets.token_hex(6)}@{domain}>"


# --- outbound -----------------------------------------------------------------------


def queue_email_reply(
    ctx: WriteContext,
    *,
    ticket_id: int,
    agent_id: int | None,
    body: str,
    subject: str,
    media: tuple[Media, ...] = (),
    reply_domain: str,
) -> Message:
    """Store an agent's email reply as queued, with its Message-ID: from here the mail
    outbox (queries.email_outbox) owns sending it.

    The Message-ID is assigned now, not when sent, so that a crash between the SMTP
    ``DATA`` and our commit leaves a message whose identity the mail server already
    knows. Refused in words: a deleted ticket, a contact without a valid email address.
    """
    ticket = ticket_by_id(ctx.conn, ticket_id)
    if ticket.deleted:
        raise StoreError(f"ticket #{ticket_id} is deleted")
    if agent_id is not None:
        agent_by_id(ctx.conn, agent_id)
    if not reply_domain.strip():
        raise StoreError("email is not set up: the reply domain is missing")
    address = contact_by_id(ctx.conn, ticket.contact_id).email
    if not valid_address(address):
        raise StoreError(f"ticket #{ticket_id}'s contact has no valid email address:"
                         " add one to the contact to reply by email")
    subject = one_line(subject) or ticket.subject
    message_id = ctx.conn.execute(
        "INSERT INTO entries(ticket_id, kind, direction, channel, body, media, author_agent_id,"
        " status, segments, encoding, created_at, updated_at, subject)"
        " VALUES (?, 'message', 'outbound', 'email', ?, ?, ?, 'queued', 0, '', ?, ?, ?)"
        " RETURNING id",
        (ticket_id, body, records.media_to_json(media), agent_id, ctx.now, ctx.now, subject),
    ).fetchone()[0]
    ctx.conn.execute("UPDATE entries SET mail_id = ? WHERE id = ?",
                     (new_mail_id(ticket_id, message_id, reply_domain.strip()), message_id))
    if agent_id is not None:  # a person answered, by email: the SMS bot stops there
        take_over_from_bot(ctx, ticket_id)
        sla_writes.first_reply(ctx, ticket, "email")
    message = _message(ctx, message_id)
    report_counts.message_stored(ctx, ticket, message)
    _touch_ticket(ctx, ticket, preview_of(body, len(media)))
    ctx.emit("message.created", ticket_id,
             {"ticket": records.to_wire(ticket), "message": records.to_wire(message)})
    return message


def mark_email_sending(ctx: WriteContext, message_id: int) -> Message:
    """Record that the reply is about to be handed to the mail server: after a crash it
    may or may not have gone, and is reconciled by its Message-ID, never simply resent.

    Only a queued email moves; one whose author an admin has disabled since it was
    queued is failed instead (the mail outbox sends only what comes back ``sending``).
    """
    message = _email(ctx, message_id)
    if message.status is not MessageStatus.QUEUED:
        return message  # moved on since the outbox read it: never a second attempt
    if message.author_agent_id is not None and ctx.conn.execute(
        "SELECT 1 FROM agents WHERE id = ? AND disabled <> 0", (message.author_agent_id,)
    ).fetchone() is not None:
        return _set_fields(ctx, message, MessageStatus.FAILED,
                           "not sent: its author was disabled before it went out")
    return _set_fields(ctx, message, MessageStatus.SENDING, message.mail_detail)


def mark_email_accepted(ctx: WriteContext, message_id: int, detail: str) -> Message:
    """The mail server took the reply (``detail``: what it said, e.g. "250 2.0.0 Ok")."""
    return _move(ctx, _email(ctx, message_id), MessageStatus.SENT, detail)


def mark_email_deferred(ctx: WriteContext, message_id: int, detail: str) -> Message:
    """A temporary refusal (4xx) or no connection: the reply goes back to the queue, with
    the server's words, to be tried again later. Only a reply being sent goes back."""
    message = _email(ctx, message_id)
    if message.status not in (MessageStatus.QUEUED, MessageStatus.SENDING):
        return message
    return _set_fields(ctx, message, MessageStatus.QUEUED, detail)


def mark_email_failed(ctx: WriteContext, message_id: int, detail: str) -> Message:
    """The mail server refused the reply for good (5xx): ``detail`` is its words."""
    return _move(ctx, _email(ctx, message_id), MessageStatus.FAILED, detail)


def mark_email_bounced(ctx: WriteContext, mail_id: str, detail: str) -> Message | None:
    """A bounce came back for the reply with this Message-ID: mark it undelivered with the
    bounce's reason. None when no reply of ours has that Message-ID."""
    message = queries.message_by_mail_id(ctx.conn, mail_id)
    if message is None or message.direction is not Direction.OUTBOUND:
        return None
    return _move(ctx, message, MessageStatus.UNDELIVERED, detail)


# --- inbound ------------------------------------------------------------------------


def record_inbound_email(
    ctx: WriteContext,
    *,
    ticket_id: int | None,
    contact_email: str,
    contact_name: str = "",
    number_id: int | None = None,
    subject: str = "",
    body: str = "",
    mail_id: str | None,
    original: Media | None = None,
    media: tuple[Media, ...] = (),
) -> InboundEmail:
    """Store a customer's mail in a ticket, once per Message-ID.

    ``ticket_id`` is the ticket threading found (core.mail_threading); it takes the mail as
    it takes a text: unread, pending or resolved open again, and a closed or deleted one
    is left alone for a new ticket of the same contact on the same number. With no
    ticket, a new one opens for the contact with that email address (a new contact when
    none has it) on ``number_id`` (None: the desk's first number), so an agent can
    answer by SMS too once a phone is known. A second delivery of a stored Message-ID
    returns the stored message, ``created`` False.
    """
    mail_id = (mail_id or "").strip() or None
    if mail_id is not None:
        seen = queries.message_by_mail_id(ctx.conn, mail_id)
        if seen is not None:
            return InboundEmail(seen, created=False)
    subject = one_line(subject)
    preview = preview_of(body, len(media))
    latest = ticket_by_id(ctx.conn, ticket_id) if ticket_id is not None else None
    routing = route_inbound(latest)
    contact: Contact | None = None
    if latest is None:
        contact = contact_for_email(ctx, contact_email, contact_name)
        ticket = _open_ticket(ctx, contact, _number_for_new_ticket(ctx, number_id),
                              subject, body, preview, phone=_phone_of(contact))
    elif routing is Routing.NEW:  # closed or deleted: a new ticket, as for a text
        contact = contact_by_id(ctx.conn, latest.contact_id)
        ticket = _open_ticket(ctx, contact, latest.number_id, subject, body, preview,
                              phone=latest.customer_phone)
    else:
        ticket = latest
        reopened = status_after_customer_text(ticket.status) is not ticket.status
        ticket.status = status_after_customer_text(ticket.status)
        ticket.unread = True
        ctx.conn.execute("UPDATE tickets SET status = ?, unread = 1 WHERE id = ?",
                         (ticket.status.value, ticket.id))
        if routing is Routing.REOPEN:  # an email is never a rating: the survey closes
            csat_surveys.close_on_reopen(ctx.conn, ticket.id)
        if reopened:
            sla_writes.follow(ctx, ticket)
        _touch_ticket(ctx, ticket, preview)

    entry_id = ctx.conn.execute(
        "INSERT INTO entries(ticket_id, kind, direction, channel, body, media, status,"
        " segments, encoding, created_at, updated_at, subject, mail_id, mail_original)"
        " VALUES (?, 'message', 'inbound', 'email', ?, ?, 'received', 0, '', ?, ?, ?, ?, ?)"
        " RETURNING id",
        (ticket.id, body, records.media_to_json(media), ctx.now, ctx.now, subject, mail_id,
         records.media_ref_to_json(original)),
    ).fetchone()[0]
    message = _message(ctx, entry_id)
    report_counts.message_stored(ctx, ticket, message)
    payload: dict[str, Any] = {"ticket": records.to_wire(ticket),
                               "message": records.to_wire(message)}
    if contact is not None:
        payload["contact"] = records.to_wire(contact)
        ctx.emit("ticket.created", ticket.id, payload)
    else:
        ctx.emit("message.created", ticket.id, payload)
    return InboundEmail(message, created=True)


def contact_for_email(ctx: WriteContext, email: str, name: str = "") -> Contact:
    """The contact with this email address (the oldest, if several share it), created
    when nobody has it: named ``name``, and without a phone until an agent adds one."""
    address = normalized_address(email)
    found = queries.contact_by_email(ctx.conn, address)
    if found is not None:
        return found
    name = contact_rules.checked_name(one_line(name)[:contact_rules.MAX_NAME])
    phone = email_only_phone(address)
    if ctx.conn.execute("SELECT 1 FROM contacts WHERE phone = ?", (phone,)).fetchone():
        phone += f"#{secrets.token_hex(4)}"  # its first owner's address has changed since
    contact_id = ctx.conn.execute(
        "INSERT INTO contacts(phone, name, email, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        (phone, name, address, ctx.now),
    ).fetchone()[0]
    return contact_by_id(ctx.conn, contact_id)


# --- words and addresses ------------------------------------------------------------


def normalized_address(email: str) -> str:
    """An address as contacts keep it (core.contact_rules: syntax checked, domain lower
    case), or a refusal in words for mail whose sender has no valid address."""
    try:
        address = contact_rules.checked_email(email)
    except contact_rules.InvalidContact as error:
        raise StoreError(str(error)) from None
    if not address:
        raise StoreError("mail without a sender address cannot open a ticket")
    return address


def valid_address(email: str) -> bool:
    """True when ``email`` is an address mail can go to (syntax only, no network)."""
    try:
        return bool(contact_rules.checked_email(email))
    except contact_rules.InvalidContact:
        return False


def one_line(text: str) -> str:
    """A header's text on one line (no CR/LF a header could be forged with), trimmed."""
    return " ".join(text.split())[:MAX_SUBJECT]


# --- inside the transaction ---------------------------------------------------------


def _message(ctx: WriteContext, entry_id: int) -> Message:
    entry = entry_by_id(ctx.conn, entry_id)
    assert isinstance(entry, Message)
    return entry


def _email(ctx: WriteContext, message_id: int) -> Message:
    """An outbound email by id; anything else is refused (the Twilio outbox owns SMS)."""
    entry = entry_by_id(ctx.conn, message_id)
    if (not isinstance(entry, Message) or entry.channel is not Channel.EMAIL
            or entry.direction is not Direction.OUTBOUND):
        raise NotFound(f"message {message_id} is not an email reply")
    return entry


def _move(ctx: WriteContext, message: Message, status: MessageStatus, detail: str) -> Message:
    """Apply a delivery state, only ever forward (a late "accepted" never hides a bounce)."""
    if not status_moves_forward(message.status, status):
        return message
    return _set_fields(ctx, message, status, detail)


def _set_fields(ctx: WriteContext, message: Message, status: MessageStatus,
                detail: str | None) -> Message:
    ctx.conn.execute(
        "UPDATE entries SET status = ?, mail_detail = ?, updated_at = ? WHERE id = ?",
        (status.value, detail, ctx.now, message.id),
    )
    updated = _message(ctx, message.id)
    report_counts.delivery_failed(ctx, message, updated)
    ctx.emit("message.updated", updated.ticket_id, {"message": records.to_wire(updated)})
    return updated


def _touch_ticket(ctx: WriteContext, ticket: Ticket, preview: str) -> None:
    """A message joined the ticket: its activity, preview and channel mark move on."""
    ctx.conn.execute(
        "UPDATE tickets SET updated_at = ?, last_message_at = ?, last_preview = ?,"
        " last_channel = 'email' WHERE id = ?",
        (ctx.now, ctx.now, preview, ticket.id),
    )
    ticket.updated_at = ticket.last_message_at = ctx.now
    ticket.last_preview = preview
    ticket.last_channel = Channel.EMAIL


def _open_ticket(ctx: WriteContext, contact: Contact, number_id: int, subject: str,
                 body: str, preview: str, *, phone: str) -> Ticket:
    number = number_by_id(ctx.conn, number_id)
    ticket_id = ctx.conn.execute(
        "INSERT INTO tickets(contact_id, number_id, subject, group_id, created_at, updated_at,"
        " last_message_at, last_preview, customer_phone, last_channel)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'email') RETURNING id",
        (contact.id, number.id, subject_from_body(subject or body), number.default_group_id,
         ctx.now, ctx.now, ctx.now, preview, phone),
    ).fetchone()[0]
    ticket = ticket_by_id(ctx.conn, ticket_id)
    sla_writes.start(ctx, ticket)
    report_counts.ticket_created(ctx, ticket, Channel.EMAIL)
    return ticket


def _number_for_new_ticket(ctx: WriteContext, number_id: int | None) -> int:
    """The number a ticket opened by mail belongs to: the one configured, else the first."""
    if number_id is not None:
        return number_by_id(ctx.conn, number_id).id
    row = ctx.conn.execute("SELECT id FROM phone_numbers ORDER BY id LIMIT 1").fetchone()
    if row is None:
        raise StoreError("mail cannot open a ticket before the desk has a phone number")
    return int(row[0])


def _phone_of(contact: Contact) -> str:
    """The phone a new ticket of this contact talks to: none for an email-only contact."""
    return contact.phone if contact.has_phone else ""
