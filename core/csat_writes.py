"""CSAT over SMS on the relay: the survey sent when a ticket is resolved, and its answers.

Both happen inside another write's transaction, so neither can be lost or doubled by a
crash: the survey is queued with the resolve (core.writes.update_ticket calls
``survey_on_resolve``), and a rating is recorded with the customer's text
(core.writes.record_inbound calls ``record_answer``, having left the ticket resolved).
Survey and follow-up texts pass the preflight every reply passes
(core.reply_preflight) and go through the outbox, exactly once; a refused one (an
opted-out phone, a disabled number) is simply not sent: the customer asked not to be
texted, and an agent has nothing to do about it.
"""

from __future__ import annotations

from typing import Any

from core import records, report_counts, writes
from core.csat import Answer, Survey, SurveyState, expires_at, history_line
from core.csat_surveys import survey_by_id
from core.models import Channel, Message, PhoneNumber, Ticket
from core.reply_preflight import judge_reply, queue_judged, sending_for
from core.writes import WriteContext

SURVEY = "csat_survey"
FOLLOWUP = "csat_followup"
# A ticket whose last message did not reach the customer is not surveyed: the survey
# would likely fail the same way, and "how did we do?" after a failure reads badly.
_FAILED = ("failed", "undelivered")


def survey_wire(survey: Survey) -> dict[str, Any]:
    return dict(records.to_wire(survey))


def survey_on_resolve(ctx: WriteContext, ticket: Ticket, *, bulk: bool) -> Survey | None:
    """Queue the number's survey for a ticket just resolved, when it is to have one."""
    number = writes.number_by_id(ctx.conn, ticket.number_id)
    if not _surveys(ctx, number, ticket, bulk=bulk):
        return None
    sending = sending_for(ctx.conn, ticket, number=number)
    judged = judge_reply(sending, number.csat_text, ())
    if not judged.verdict.ok:
        return None  # opted out, number disabled...: no survey, and nothing to tell
    message = queue_judged(ctx, judged, ticket_id=ticket.id, agent_id=None,
                           body=number.csat_text, media=(), ticket=ticket, purpose=SURVEY)
    survey_id = ctx.conn.execute(
        "INSERT INTO csat_surveys(ticket_id, number_id, agent_id, group_id, message_id,"
        " sent_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (ticket.id, number.id, ticket.agent_id, ticket.group_id, message.id, ctx.now,
         expires_at(ctx.now, number.csat_window_days)),
    ).fetchone()[0]
    survey = survey_by_id(ctx.conn, survey_id)
    report_counts.survey_sent(ctx, survey)
    ctx.emit("csat.sent", ticket.id, {"survey": survey_wire(survey)})
    return survey


def _surveys(ctx: WriteContext, number: PhoneNumber, ticket: Ticket, *, bulk: bool) -> bool:
    """Whether this resolve sends a survey: CSAT on, not in bulk unless the number says
    so, and the conversation's last message an SMS or MMS that did not fail."""
    if not number.csat or (bulk and not number.csat_bulk) or ticket.deleted:
        return False
    last = ctx.conn.execute(
        "SELECT channel, status FROM entries WHERE ticket_id = ? AND kind = 'message'"
        " ORDER BY id DESC LIMIT 1", (ticket.id,)).fetchone()
    return last is not None and last["channel"] != Channel.EMAIL.value \
        and last["status"] not in _FAILED


def record_answer(ctx: WriteContext, answer: Answer, ticket: Ticket, message: Message) -> Survey:
    """Keep a rating (asking the follow-up once, if the number has one) or the comment."""
    survey = answer.survey
    if answer.rating is None:
        ctx.conn.execute("UPDATE csat_surveys SET comment = ?, state = ? WHERE id = ?",
                         (answer.comment, SurveyState.DONE.value, survey.id))
        return _told(ctx, "csat.commented", survey.id, message, {})
    state = survey.state
    if answer.comment is not None:  # "5 - great": the comment came with it
        state = SurveyState.DONE
    elif state is SurveyState.SENT:
        state = SurveyState.ASKED_COMMENT if _ask_followup(ctx, ticket) else SurveyState.RATED
    ctx.conn.execute(
        "UPDATE csat_surveys SET rating = ?, rated_at = ?, comment = coalesce(?, comment),"
        " state = ? WHERE id = ?",
        (answer.rating, ctx.now, answer.comment, state.value, survey.id))
    report_counts.survey_rated(ctx, survey, answer.rating)
    return _told(ctx, "csat.rated", survey.id, message, {
        "rating": answer.rating, "before": survey.rating,
        "line": history_line(answer.rating, survey.rating)})


def _ask_followup(ctx: WriteContext, ticket: Ticket) -> bool:
    """Queue the number's follow-up question; False when it has none or it may not go."""
    number = writes.number_by_id(ctx.conn, ticket.number_id)
    if not number.csat_followup:
        return False
    judged = judge_reply(sending_for(ctx.conn, ticket, number=number), number.csat_followup, ())
    if not judged.verdict.ok:
        return False
    queue_judged(ctx, judged, ticket_id=ticket.id, agent_id=None, body=number.csat_followup,
                 media=(), ticket=ticket, purpose=FOLLOWUP)
    return True


def _told(ctx: WriteContext, kind: str, survey_id: int, message: Message,
          extra: dict[str, Any]) -> Survey:
    survey = survey_by_id(ctx.conn, survey_id)
    ctx.emit(kind, survey.ticket_id,
             {"survey": survey_wire(survey), "message_id": message.id, **extra})
    return survey
