"""An SMS/MMS reply judged by the relay's preflight, then queued: agents' and the bot's alike.

The client is not trusted, and the bot has no client: both come here, in the transaction
that queues the reply, so nothing changes between the check and the write. The verdict
judges the number the reply will be sent from (an agent's choice, else the ticket's own)
and the phone it goes to (a STOP blocks the number it was sent to, from the phone that
sent it: core.optout). Twilio bills a trial account's prefix, so segments are counted on
the text as sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from core import records, writes
from core.db import Conn
from core.models import Account, Contact, Media, Message, PhoneNumber, Ticket
from core.optout import opted_out_sql
from core.preflight import Preflight, preflight
from core.sms import analyze, as_sent
from core.writes import WriteContext


@dataclass(frozen=True, slots=True)
class Sending:
    """Who a reply on a ticket goes from and to, as the preflight judges it: the same for
    every text of one turn of the bot, so read once."""

    number: PhoneNumber
    account: Account
    contact: Contact  # as reached at the ticket's phone, its STOP state for ``number``


@dataclass(frozen=True, slots=True)
class JudgedReply:
    """The preflight's verdict on a reply, and what queueing it needs."""

    verdict: Preflight
    number: PhoneNumber
    segments: int
    encoding: str


def sending_for(conn: Conn, ticket: Ticket, *, from_number_id: int | None = None,
                number: PhoneNumber | None = None) -> Sending:
    """``number``: the sender, already read in this transaction (else read here).

    The account, the contact and the phone's STOP state come in one query: on the
    inbound webhook (the bot) every statement is relay CPU, and on PostgreSQL a round trip.
    """
    if number is None:
        number = writes.number_by_id(conn, from_number_id or ticket.number_id)
    row = conn.execute(
        "SELECT a.*, c.id AS c_id, c.name AS c_name, c.email AS c_email,"
        f" c.created_at AS c_created_at, c.note AS c_note, {opted_out_sql('?3', '?4')}"
        " AS c_opted_out FROM accounts a, contacts c WHERE a.id = ?1 AND c.id = ?2",
        (number.account_id, ticket.contact_id, ticket.customer_phone, number.id)).fetchone()
    if row is None:  # one of the two is gone: say which, in the usual words
        writes.account_by_id(conn, number.account_id)
        writes.contact_by_id(conn, ticket.contact_id)
        raise AssertionError("unreachable: the account and the contact both exist")
    contact = Contact(id=row["c_id"], phone=ticket.customer_phone, name=row["c_name"],
                      email=row["c_email"], opted_out=bool(row["c_opted_out"]),
                      created_at=row["c_created_at"], note=row["c_note"])
    return Sending(number, records.account_from_row(row), contact)


def judge_reply(sending: Sending, body: str, media: tuple[Media, ...]) -> JudgedReply:
    verdict = preflight(number=sending.number, account=sending.account,
                        contact=sending.contact, to=sending.contact.phone, body=body,
                        attachments=media)
    cost = analyze(as_sent(body, trial=sending.account.is_trial))
    return JudgedReply(verdict, sending.number, cost.segments, cost.encoding)


def queue_judged(wctx: WriteContext, judged: JudgedReply, *, ticket_id: int,
                 agent_id: int | None, body: str, media: tuple[Media, ...],
                 by_bot: bool = False, ticket: Ticket | None = None) -> Message:
    """Queue a reply the preflight passed (``judge_reply`` in this same transaction);
    ``ticket``: as it stands in this transaction, when the caller holds it."""
    assert judged.verdict.ok
    return writes.queue_outbound(wctx, ticket_id=ticket_id, agent_id=agent_id, body=body,
                                 media=media, segments=judged.segments,
                                 encoding=judged.encoding, from_number_id=judged.number.id,
                                 by_bot=by_bot, ticket=ticket)


def queue_checked(wctx: WriteContext, agent_id: int, ticket_id: int, body: str,
                  media: tuple[Media, ...], *, from_number_id: int | None = None) -> Message:
    """Queue an agent's reply once the preflight passes; refused in its words if not."""
    ticket = writes.ticket_by_id(wctx.conn, ticket_id)
    judged = judge_reply(sending_for(wctx.conn, ticket, from_number_id=from_number_id), body,
                         media)
    if not judged.verdict.ok:
        raise writes.StoreError(" ".join(r.reason for r in judged.verdict.refusals))
    return queue_judged(wctx, judged, ticket_id=ticket.id, agent_id=agent_id, body=body,
                        media=media, ticket=ticket)
