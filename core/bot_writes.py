"""The SMS bot on the relay: a customer's text stored, and the bot's answer queued, at once.

``receive_and_answer`` is the inbound webhook's one write job. The text is stored as
always (core.held: into its ticket, or held when its number is out of service); then,
for a new text on a number whose flow is on, the engine (core.bot_engine, pure) decides
the turn and it is applied IN THE SAME TRANSACTION: the bot's texts are queued for the
outbox, the ticket moved or its field filled, the session saved. Twilio is answered 200
only after the commit, so a crash either loses both (Twilio sends the text again) or
keeps both (the outbox sends the reply once): never a reply without its text, nor two.

The bot's texts pass the very preflight agents' replies pass (core.reply_preflight): a
refused one is not queued and a private note says why. It never answers a phone that
has opted out of the number, nor a short code or a name (another machine), nor more
than the flow's ``replies_per_hour`` texts an hour on one ticket (two bots answering
each other stop there). Its changes to the ticket go through ``update_ticket`` as the
bot's (the activity history says so).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, replace

from phonenumbers import PhoneNumberType

from core import bot_store, writes
from core.bot_engine import HANDED_OFF, TAKEN_OVER, Inbound, Session, Turn, answer
from core.bot_flow import Flow, Say, parse_flow
from core.business_hours import hours_now
from core.held import receive_inbound
from core.models import HeldText, Media, Ticket, TicketStatus
from core.preflight import line_kind
from core.reply_preflight import Sending, judge_reply, queue_judged, sending_for
from core.tickets import Routing
from core.writes import InboundResult, InboundText, StoreError, WriteContext

logger = logging.getLogger(__name__)

HOUR_MS = 3_600_000
# Parsed flows by (number, version, saved at): a save makes a new version, so an entry is
# never stale, only unused; the least recently used go first beyond this many.
_FLOW_CACHE_SIZE = 64
_flows: OrderedDict[tuple[int, int, int], Flow] = OrderedDict()

LOOP_GUARD_NOTE = ("The bot stopped answering this ticket for now: it sent {limit} texts in"
                   " the last hour (its flow's replies_per_hour). A person should read it.")
NOT_A_PERSON_NOTE = ("The bot does not answer {phone}: it is not a mobile or landline number"
                     " (a short code or a sender name is another machine). A person should"
                     " read it.")


@dataclass(frozen=True, slots=True)
class Received:
    """What the inbound job did: the text (stored or held), and how many texts the bot
    queued (the relay wakes its outbox when there are some)."""

    result: InboundResult | HeldText
    bot_queued: int = 0


def receive_and_answer(ctx: WriteContext, text: InboundText) -> Received:
    """Store a customer's text and, when its number runs a bot, the bot's answer."""
    result = receive_inbound(ctx, text)
    if not isinstance(result, InboundResult) or result.duplicate:
        return Received(result)
    ticket = result.ticket
    bot = bot_store.bot_for_ticket(ctx.conn, ticket.number_id, ticket.id, ticket.group_id,
                                   bot_texts_since=ctx.now - HOUR_MS)
    if bot is None:
        return Received(result)
    # A bot that fails must not lose the customer's text: its part alone is undone. (On
    # PostgreSQL the SAVEPOINT and RELEASE go with the next statement: core.pg.)
    marked = len(ctx.events)
    ctx.conn.execute("SAVEPOINT bot_turn")
    try:
        queued = answer_text(ctx, result, bot, flow_for(ctx, ticket.number_id, bot.version))
    except Exception:
        logger.exception("the bot failed on ticket #%s; the text waits for a person",
                         ticket.id)
        ctx.conn.execute("ROLLBACK TO SAVEPOINT bot_turn")
        del ctx.events[marked:]
        queued = 0
    ctx.conn.execute("RELEASE SAVEPOINT bot_turn")
    return Received(result, queued)


def flow_for(ctx: WriteContext, number_id: int, version: tuple[int, int]) -> Flow:
    """The number's flow at this version, parsed once per relay process."""
    key = (number_id, *version)
    flow = _flows.get(key)
    if flow is None:
        source = bot_store.flow_source(ctx.conn, number_id)
        assert source is not None  # bot_for_ticket found its row in this transaction
        flow = _flows[key] = parse_flow(source)
        while len(_flows) > _FLOW_CACHE_SIZE:
            _flows.popitem(last=False)
    else:
        _flows.move_to_end(key)
    return flow


def answer_text(ctx: WriteContext, result: InboundResult, bot: bot_store.BotOnTicket,
                flow: Flow) -> int:
    """Run one turn of the flow on the text just stored; return the texts queued."""
    ticket, message = result.ticket, result.message
    conn = ctx.conn
    state = bot.state
    new = result.routing is Routing.NEW
    session = Session.from_json(state) if state is not None and not new else None
    if session is None and not new and _a_person_answered(ctx, ticket.id):
        # The bot was turned on while people were talking: it stays out of it.
        bot_store.save_session_state(ctx, ticket.id, Session(ended=TAKEN_OVER).to_json())
        return 0
    if session is not None and session.ended is not None:
        return 0
    # The number record_inbound read in this batch, when it is the ticket's own.
    number = next((n for n in ctx.numbers.values() if n.id == ticket.number_id), None)
    sending = sending_for(conn, ticket, number=number)
    if sending.contact.opted_out:
        return 0  # STOP stands until START: Twilio's own handling, never the bot's
    if not looks_like_a_person(ticket.customer_phone):
        _note_once(ctx, ticket.id, NOT_A_PERSON_NOTE.format(phone=ticket.customer_phone))
        bot_store.save_session_state(ctx, ticket.id, replace(
            session or Session(), ended=HANDED_OFF).to_json())
        return 0
    turn = answer(flow, session, Inbound(body=message.body, media_count=len(message.media),
                                         new_conversation=new),
                  hours_now(bot.calendar, ctx.now), ctx.now)
    queued = _send(ctx, ticket, sending, turn.says, flow.replies_per_hour,
                   bot.bot_texts_lately)
    _apply_changes(ctx, ticket, turn)
    bot_store.save_session_state(ctx, ticket.id, turn.session.to_json())
    return queued


def _a_person_answered(ctx: WriteContext, ticket_id: int) -> bool:
    return ctx.conn.execute(
        "SELECT 1 FROM entries WHERE ticket_id = ? AND kind = 'message'"
        " AND direction = 'outbound' AND author_agent_id IS NOT NULL LIMIT 1",
        (ticket_id,)).fetchone() is not None


_PERSON_KINDS = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE,
                           PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.UNKNOWN,
                           PhoneNumberType.PERSONAL_NUMBER})


def looks_like_a_person(phone: str) -> bool:
    """Whether the bot may text this phone: an E.164 number of a line a person holds.

    A short code (``72345``) or a sender name (``ACME``) is a business's machine, and so
    are premium-rate, shared-cost and toll-free lines; answering them starts loops. A
    number the phone metadata does not know is given the benefit of the doubt (Twilio
    delivered a text from it).
    """
    return line_kind(phone) in _PERSON_KINDS


def _send(ctx: WriteContext, ticket: Ticket, sending: Sending, says: tuple[Say, ...],
          per_hour: int, sent_lately: int) -> int:
    """Queue the turn's texts through the preflight, within the loop guard's allowance
    (``sent_lately``: the bot's texts on the ticket in the last hour, before this turn)."""
    if not says:
        return 0
    allowed = max(per_hour - sent_lately, 0)
    if len(says) > allowed:
        _note_once(ctx, ticket.id, LOOP_GUARD_NOTE.format(limit=per_hour),
                   since=ctx.now - HOUR_MS)
    queued = 0
    for say in says[:allowed]:
        queued += _queue_say(ctx, ticket, sending, say)
    return queued


def _queue_say(ctx: WriteContext, ticket: Ticket, sending: Sending, say: Say) -> int:
    body = say.as_sent()
    media = ()
    if sending.number.mms:  # an SMS-only number: the bot sends text only
        media = tuple(Media(content_type=a.content_type, size=a.size, sha256=a.sha256,
                            filename=a.filename) for a in say.attachments)
    judged = judge_reply(sending, body, media)
    if not judged.verdict.ok:
        reasons = " ".join(r.reason for r in judged.verdict.refusals)
        writes.add_note(ctx, ticket_id=ticket.id, agent_id=None,
                        body=f"The bot did not send “{_quoted(body)}”: {reasons}")
        return 0
    queue_judged(ctx, judged, ticket_id=ticket.id, agent_id=None, body=body, media=media,
                 by_bot=True, ticket=ticket)
    return 1


def _quoted(body: str, limit: int = 80) -> str:
    one_line = " ".join(body.split())
    return one_line if len(one_line) <= limit else one_line[:limit - 1] + "…"


def _apply_changes(ctx: WriteContext, ticket: Ticket, turn: Turn) -> None:
    """The turn's route, field and hand-off, each as the bot's ticket change; one the
    desk refuses (a value the field does not take) becomes a note, not a lost turn.
    ``ticket``: as it stands in this transaction (each change hands on the next)."""
    if turn.route is not None:
        group_id = _group_id(ctx, turn.route)
        if group_id is None:
            writes.add_note(ctx, ticket_id=ticket.id, agent_id=None, body=(
                f"The bot could not move this ticket to {turn.route}: there is no such"
                " group now. Fix the flow in the Bot tab."))
        else:
            ticket = writes.update_ticket(ctx, ticket.id, by_bot=True, before=ticket,
                                          group_id=group_id)
    if turn.field is not None:
        key, value = turn.field
        try:
            ticket = writes.update_ticket(ctx, ticket.id, by_bot=True, before=ticket,
                                          custom_fields={key: value})
        except StoreError as refused:
            writes.add_note(ctx, ticket_id=ticket.id, agent_id=None,
                            body=f"The bot could not save “{_quoted(value)}”: {refused}")
    if turn.hand_off and (ticket.status is not TicketStatus.OPEN or not ticket.unread):
        writes.update_ticket(ctx, ticket.id, by_bot=True, before=ticket,
                             status=TicketStatus.OPEN.value, unread=True)


def _group_id(ctx: WriteContext, name: str) -> int | None:
    row = ctx.conn.execute("SELECT id FROM agent_groups WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])


def _note_once(ctx: WriteContext, ticket_id: int, body: str, *, since: int = 0) -> None:
    """A note from the desk, unless the same one was written since ``since``."""
    if ctx.conn.execute(
            "SELECT 1 FROM entries WHERE ticket_id = ? AND kind = 'note'"
            " AND author_agent_id IS NULL AND body = ? AND created_at > ? LIMIT 1",
            (ticket_id, body, since)).fetchone() is None:
        writes.add_note(ctx, ticket_id=ticket_id, agent_id=None, body=body)
