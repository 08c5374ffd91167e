"""Texts that arrive on a number smsdesk no longer answers for: kept, never dropped.

A disabled number, or one whose account was disconnected, may still receive a
text (Twilio kept the webhook, or a retry was in flight). Twilio is answered
200 and the text is stored here instead of opening a ticket nobody expects;
troubleshooting lists them and an admin opens them as tickets when they are
wanted (``open_held_texts`` replays them through the normal inbound path).
"""

from __future__ import annotations

from typing import Any

from core import records
from core.db import Conn
from core.models import HeldText
from core.optout import Keyword, keyword_in, normalized
from core.writes import (
    InboundResult,
    InboundText,
    UnknownNumber,
    WriteContext,
    contact_for_phone,
    record_inbound,
    set_opt_out,
)


def receive_inbound(ctx: WriteContext, text: InboundText) -> InboundResult | HeldText:
    """A customer's text: into its ticket, or held when its number is not in service."""
    row = ctx.conn.execute(
        "SELECT p.id, (p.enabled <> 0 AND a.connected <> 0) AS in_service, a.connected"
        " FROM phone_numbers p"
        " JOIN accounts a ON a.id = p.account_id WHERE p.e164 = ?", (text.to,)).fetchone()
    if row is None:
        raise UnknownNumber(f"no connected number is {text.to}")
    if row["in_service"] or ctx.conn.execute(
            "SELECT 1 FROM entries WHERE twilio_sid = ?", (text.sid,)).fetchone():
        return record_inbound(ctx, text)  # in service, or a retry of a text in a ticket
    return hold_inbound(ctx, text, row["id"], "disabled" if row["connected"] else "disconnected")


def hold_inbound(ctx: WriteContext, text: InboundText, number_id: int, reason: str) -> HeldText:
    """Keep the text once per MessageSid and tell the admins (``text.held``).

    A STOP (or START) still takes effect at once: the customer said it, and Twilio
    honours it whether or not anyone reads the text.
    """
    keyword = keyword_in(text.body)
    if keyword in (Keyword.OPT_OUT, Keyword.OPT_IN):
        contact = contact_for_phone(ctx, text.from_)
        set_opt_out(ctx, contact.id, opted_out=keyword is Keyword.OPT_OUT,
                    source=f"keyword:{normalized(text.body)}", number_id=number_id,
                    phone=text.from_)
    ctx.conn.execute(
        "INSERT INTO held_texts(number_id, message_sid, from_phone, body, media,"
        " segments, reason, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (number_id, text.sid, text.from_, text.body, records.media_to_json(text.media),
         text.segments, reason, ctx.now))
    row = ctx.conn.execute("SELECT * FROM held_texts WHERE message_sid = ?",
                           (text.sid,)).fetchone()
    held = records.held_text_from_row(row)
    ctx.emit("text.held", None, {"number_id": number_id, "reason": held.reason})
    return held


def held_texts(conn: Conn) -> dict[int, list[HeldText]]:
    """Every held text by number, oldest first."""
    found: dict[int, list[HeldText]] = {}
    for row in conn.execute("SELECT * FROM held_texts ORDER BY number_id, id"):
        found.setdefault(row["number_id"], []).append(records.held_text_from_row(row))
    return found


def open_held_texts(ctx: WriteContext, number_id: int) -> list[dict[str, Any]]:
    """Open a number's held texts as tickets, oldest first, each exactly once."""
    opened = []
    number = ctx.conn.execute("SELECT e164 FROM phone_numbers WHERE id = ?",
                              (number_id,)).fetchone()
    if number is None:
        return []
    for row in ctx.conn.execute("SELECT * FROM held_texts WHERE number_id = ? ORDER BY id",
                                (number_id,)).fetchall():
        held = records.held_text_from_row(row)
        result = record_inbound(ctx, InboundText(
            sid=held.message_sid, to=number["e164"], from_=held.from_phone, body=held.body,
            media=held.media, segments=held.segments))
        ctx.conn.execute("DELETE FROM held_texts WHERE id = ?", (held.id,))
        opened.append({"ticket_id": result.ticket.id, "from": held.from_phone})
    return opened
