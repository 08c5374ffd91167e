"""The reports' counters, kept by the writes that cause each figure (schema 17).

A report must not walk a year of messages, so every write that makes a figure move adds
to its counters in its own transaction, in one upsert statement. A counter is keyed by
the metric, a scope, the number and the channel ('sms', MMS included, or 'email') and a
bucket: the UTC hour (epoch ms // 3_600_000; the day and hour of each figure in any time
zone) and, under the scope's ``.d`` twin, the UTC day (its first hour), so a year's sums
read 365 rows and not 8,760; the hourly rows are keyed by their UTC hour of day first,
so the few hours around midnight that a time zone moves to another day are read alone
(core.reports). The scopes are what a report filters on, each read by
itself: ``channel`` (key and channel: the channel; number 0: the unfiltered report, a
row or two an hour), ``all`` (per number), ``group`` (key: the group id, 0 for none) and
``agent`` (key "agent:group", 0 for none): eight rows per figure, where a row per
(number, group, agent, channel) and hour would make a busy desk's counters as many as
its messages, and a year's report seconds. The dimensions are the ticket's at the time
of the write.

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
    """Add to each counter of ``metrics`` for the hour and the UTC day of ``at``, under
    each scope a report reads: one statement."""
    hour = at // HOUR_MS
    rows = [(metric, scope + suffix, key, number, channel, of_day, bucket, n)
            for metric, n in metrics.items() if n
            for scope, key, number, channel in _scopes(dims)
            for suffix, of_day, bucket in (("", hour % 24, hour), (".d", 0, hour - hour % 24))]
    if not rows:
        return
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(rows))
    conn.execute(
        "INSERT INTO report_counts(metric, scope, key, number_id, channel, hour_of_day, hour,"
        f" n) VALUES {values} ON CONFLICT (metric, scope, key, number_id, channel,"
        " hour_of_day, hour) DO UPDATE SET n = report_counts.n + excluded.n",
        [value for row in rows for value in row])


def _scopes(dims: Dims) -> tuple[tuple[str, str, int, str], ...]:
    """(scope, key, number, channel) of each row a figure is added to (the module's
    words)."""
    return (("channel", dims.channel, 0, dims.channel),
            ("all", "", dims.number_id, dims.channel),
            ("group", str(dims.group_id), dims.number_id, dims.channel),
            ("agent", f"{dims.agent_id}:{dims.group_id}", dims.number_id, dims.channel))


# --- one hook per write -------------------------------------------------------------------


def ticket_created(ctx: WriteContext, ticket: Ticket, channel: Channel | str) -> None:
    """A ticket opened, by a customer's text or mail or by an agent."""
    add(ctx.conn, ctx.now, dims_of(ticket, channel), {"created": 1})


def message_stored(ctx: WriteContext, ticket: Ticket, message: Message, *,
                   opened: bool = False) -> None:
    """A message in (``opened``: it opened the ticket, counted in the same statement), or
    a reply queued (counted on the number it goes from, with its segments when it is a
    text)."""
    if message.direction is Direction.INBOUND:
        add(ctx.conn, ctx.now, dims_of(ticket, message.channel),
            {"inbound": 1, "created": int(opened)})
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
