"""The reports' counters, kept by the writes that cause each figure (schema 17).

A report must not walk a year of messages, so every write that makes a figure move adds
to a counter in its own transaction: one upsert per figure, keyed by the UTC hour
(epoch ms // 3_600_000), the number, the group and the agent (0: none) and the channel
('sms', MMS included, or 'email'). core.reports sums them for any range, filter and time
zone. The dimensions are the ticket's at the time of the write.

Metrics: ``created``, ``resolved``, ``inbound``, ``outbound``, ``segments`` (of texts
sent), ``failed:<code>`` (a delivery that failed, by Twilio error code, 0: none),
``csat_sent``, ``csat_rated``, ``csat:<1..5>``, ``fr_met`` / ``fr_breached`` (first
response against its target, at the first agent reply), ``res_met`` / ``res_breached``
(resolution against its target, at each resolve).

The durations the percentiles need are kept on the ticket's row (``first_response_ms``,
``resolution_ms``, business ms) by ``first_response`` and ``resolved`` here.

core.report_backfill counts the same from the rows (the schema 17 migration).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.db import Conn
from core.models import Channel, Direction, Message, Ticket

if TYPE_CHECKING:
    from core.csat import Survey
    from core.writes import WriteContext

HOUR_MS = 3_600_000
FAILED = ("failed", "undelivered")


@dataclass(frozen=True, slots=True)
class Dims:
    """Where a figure is counted: the number, group and agent (0: none), the channel."""

    number_id: int
    group_id: int
    agent_id: int
    channel: str


def channel_of(channel: Channel | str | None) -> str:
    """A report's channel: email, or SMS (an MMS is a text with pictures)."""
    return "email" if channel in (Channel.EMAIL, "email") else "sms"


def dims_of(ticket: Ticket, channel: Channel | str | None,
            number_id: int | None = None) -> Dims:
    return Dims(number_id=number_id or ticket.number_id, group_id=ticket.group_id or 0,
                agent_id=ticket.agent_id or 0, channel=channel_of(channel))


def add(conn: Conn, at: int, dims: Dims, metrics: Mapping[str, int]) -> None:
    """Add to each counter of ``metrics`` for the hour of ``at``: one statement."""
    rows = [(metric, at // HOUR_MS, dims.number_id, dims.group_id, dims.agent_id,
             dims.channel, n) for metric, n in metrics.items() if n]
    if not rows:
        return
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(rows))
    conn.execute(
        "INSERT INTO report_counts(metric, hour, number_id, group_id, agent_id, channel, n)"
        f" VALUES {values} ON CONFLICT (metric, hour, number_id, group_id, agent_id, channel)"
        " DO UPDATE SET n = report_counts.n + excluded.n",
        [value for row in rows for value in row])


# --- one hook per write -------------------------------------------------------------------


def ticket_created(ctx: WriteContext, ticket: Ticket, channel: Channel | str) -> None:
    """A ticket opened, by a customer's text or mail or by an agent."""
    add(ctx.conn, ctx.now, dims_of(ticket, channel), {"created": 1})


def message_stored(ctx: WriteContext, ticket: Ticket, message: Message) -> None:
    """A message in, or a reply queued (counted on the number it goes from, with its
    segments when it is a text)."""
    if message.direction is Direction.INBOUND:
        add(ctx.conn, ctx.now, dims_of(ticket, message.channel), {"inbound": 1})
        return
    dims = dims_of(ticket, message.channel, message.from_number_id)
    segments = message.segments if dims.channel == "sms" else 0
    add(ctx.conn, ctx.now, dims, {"outbound": 1, "segments": segments})


def delivery_failed(ctx: WriteContext, before: Message, after: Message) -> None:
    """A reply was set failed: count it by its code when it has just failed; one marked
    failed again moves to its new code and hour (a failure is counted at its message's
    last change, as the rows say: core.report_backfill)."""
    was, now = before.status in FAILED, after.status in FAILED
    if not now or (was and before.error_code == after.error_code
                   and before.updated_at // HOUR_MS == after.updated_at // HOUR_MS):
        return
    row = ctx.conn.execute("SELECT number_id, group_id, agent_id FROM tickets WHERE id = ?",
                           (after.ticket_id,)).fetchone()
    dims = Dims(number_id=after.from_number_id or row[0], group_id=row[1] or 0,
                agent_id=row[2] or 0, channel=channel_of(after.channel))
    add(ctx.conn, ctx.now, dims, {f"failed:{after.error_code or 0}": 1})
    if was:  # counted already, under its old code, when it failed
        add(ctx.conn, before.updated_at, dims, {f"failed:{before.error_code or 0}": -1})


def first_response(ctx: WriteContext, ticket: Ticket, business_ms: int,
                   target_ms: int | None, channel: str) -> None:
    """The first agent reply (on ``channel``): its time (on the row) and whether it met
    the target."""
    ctx.conn.execute("UPDATE tickets SET first_response_ms = ? WHERE id = ?",
                     (business_ms, ticket.id))
    if target_ms is not None:
        verdict = "fr_met" if business_ms <= target_ms else "fr_breached"
        add(ctx.conn, ctx.now, dims_of(ticket, channel), {verdict: 1})


def resolved(ctx: WriteContext, ticket: Ticket, business_ms: int,
             target_ms: int | None) -> None:
    """The ticket was resolved (or closed while open or pending): counted, its resolution
    time on the row, and whether it met the target."""
    ctx.conn.execute("UPDATE tickets SET resolution_ms = ? WHERE id = ?",
                     (business_ms, ticket.id))
    metrics = {"resolved": 1}
    if target_ms is not None:
        metrics["res_met" if business_ms <= target_ms else "res_breached"] = 1
    add(ctx.conn, ctx.now, dims_of(ticket, ticket.last_channel), metrics)


def survey_sent(ctx: WriteContext, survey: Survey) -> None:
    add(ctx.conn, survey.sent_at, _survey_dims(survey), {"csat_sent": 1})


def survey_rated(ctx: WriteContext, before: Survey, rating: int) -> None:
    """A rating; a second one replaces the first (taken back at the hour it was given)."""
    dims = _survey_dims(before)
    if before.rating is not None and before.rated_at is not None:
        add(ctx.conn, before.rated_at, dims, {"csat_rated": -1, f"csat:{before.rating}": -1})
    add(ctx.conn, ctx.now, dims, {"csat_rated": 1, f"csat:{rating}": 1})


def _survey_dims(survey: Survey) -> Dims:
    return Dims(number_id=survey.number_id, group_id=survey.group_id or 0,
                agent_id=survey.agent_id or 0, channel="sms")
