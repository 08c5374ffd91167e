"""Reports against a hand-computed fixture, on both backends.

A few days of a small desk are written through the real write paths with chosen clocks
(texts in, replies out, a failure by code, pending and reopened, resolves, a survey and a
rating, an email ticket), and every figure of ``core.reports.report`` is checked against
the values worked out by hand below, in New York time (EST, UTC-5) and in UTC.

Targets: low priority, first response 1h, resolution 24h, 24x7 (no calendar).

    Sun 22 23:00  E texts US                                  (UTC: Mon 04:00)
    Mon 23 09:00  A texts US: ticket 1 (Billing)
           09:30  ticket 1 assigned to Ada
           09:40  Ada replies, 2 segments                     first response 40m: met
           11:00  ticket 1 resolved: survey sent (1 segment)  resolution 2h: met
           11:30  A texts "4": the rating
           23:30  B texts US: ticket 2                        (UTC: Tue 04:30)
    Tue 24 02:00  Ada replies on 2, 1 segment                 first response 2h30: breached
           02:05  that reply fails, 30007
           10:00  ticket 2 pending (10h30 used)
           12:00  B texts: ticket 2 open again
           15:00  C texts UK: ticket 3 (no group)
           15:10  Ada replies, 1 segment                      first response 10m: met
           16:00  Ada replies, 3 segments; it fails, 30003
           17:00  ticket 3 resolved (UK: no survey)           resolution 2h: met
    Wed 25 08:00  ticket 2 resolved: survey sent              resolution 10h30 + 20h: breached
           10:00  D mails: ticket 4 (email, US, Billing)
           10:30  Ada answers by email                        first response 30m: met
    Thu 26 09:00  F texts US (after the range)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import UK, US, Desk

from core import email_writes, reports, sla, sla_writes, writes
from core.errors import explain
from core.models import MessageStatus, Priority, Role, TicketStatus

NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3_600_000
MINUTE = 60_000
A, B, C, E, F = "+15551230001", "+15551230002", "+15551230003", "+15551230005", "+15551230006"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The store's clock (every write's ``now``), set by each test."""
    now = [0]
    for where in ("core.store.now_ms", "core.models.now_ms"):
        monkeypatch.setattr(where, lambda: now[0])
    return now


def ny(day: int, hour: int, minute: int = 0) -> int:
    return int(dt.datetime(2026, 11, day, hour, minute, tzinfo=NEW_YORK).timestamp() * 1000)


@dataclass
class Fixture:
    desk: Desk
    ada: int


async def build(desk: Desk, clock: list[int]) -> Fixture:
    """The timeline of the module docstring, through the real writes."""
    store = desk.store

    async def at(when: int, fn: Any, *args: Any, **kwargs: Any) -> Any:
        clock[0] = when
        return await store.write(fn, *args, **kwargs)

    async def text(when: int, body: str, from_: str, to: str = US) -> Any:
        clock[0] = when
        return await desk.inbound(body, from_=from_, to=to)

    clock[0] = ny(20, 12)
    ada = (await store.write(writes.add_agent, name="Ada", role=Role.AGENT,
                             token_hash="a" * 64)).id
    await store.write(sla_writes.save_targets,
                      {Priority.LOW: sla.Target(first_response=HOUR, resolution=24 * HOUR)})
    await store.write(writes.update_number, desk.us.id, csat=True, segment_price="0.0079")

    await text(ny(22, 23), "hello?", E)
    one = (await text(ny(23, 9), "my order never came", A)).ticket.id
    await at(ny(23, 9, 30), writes.update_ticket, one, by=ada, agent_id=ada)
    await at(ny(23, 9, 40), writes.queue_outbound, ticket_id=one, agent_id=ada,
             body="Sorry! It ships today.", segments=2)
    await at(ny(23, 11), writes.update_ticket, one, by=ada, status=TicketStatus.RESOLVED)
    rated = await text(ny(23, 11, 30), "4", A)
    assert rated.survey_answer is not None and rated.ticket.status is TicketStatus.RESOLVED

    two = (await text(ny(23, 23, 30), "where is my refund", B)).ticket.id
    reply = await at(ny(24, 2), writes.queue_outbound, ticket_id=two, agent_id=ada,
                     body="Looking now", segments=1)
    await at(ny(24, 2, 5), writes.mark_failed, reply.id, error_code=30007)
    await at(ny(24, 10), writes.update_ticket, two, by=ada, status=TicketStatus.PENDING)
    await text(ny(24, 12), "still waiting", B)

    three = (await text(ny(24, 15), "bonjour", C, to=UK)).ticket.id
    await at(ny(24, 15, 10), writes.queue_outbound, ticket_id=three, agent_id=ada,
             body="Hello!", segments=1)
    long = await at(ny(24, 16), writes.queue_outbound, ticket_id=three, agent_id=ada,
                    body="A long answer", segments=3)
    await at(ny(24, 16, 1), writes.mark_failed, long.id, error_code=30003)
    await at(ny(24, 17), writes.update_ticket, three, by=ada, status=TicketStatus.RESOLVED)

    await at(ny(25, 8), writes.update_ticket, two, by=ada, status=TicketStatus.RESOLVED)
    mailed = await at(ny(25, 10), email_writes.record_inbound_email, ticket_id=None,
                      contact_email="dee@example.com", subject="Invoice",
                      body="Please send my invoice", mail_id="<d1@example.com>")
    await at(ny(25, 10, 30), email_writes.queue_email_reply, ticket_id=mailed.message.ticket_id,
             agent_id=ada, body="Attached.", subject="Re: Invoice",
             reply_domain="desk.example.com")
    await text(ny(26, 9), "one more thing", F)
    return Fixture(desk, ada)


async def report_of(desk: Desk, start: str = "2026-11-21", end: str = "2026-11-25",
                    time_zone: str = "America/New_York", **filters: Any) -> dict[str, Any]:
    request = reports.request_of(start=start, end=end, time_zone=time_zone, **filters)
    return await desk.store.read(reports.report, request)


def day(name: str, created: int, resolved: int, inbound: int, outbound: int) -> dict[str, Any]:
    return {"day": name, "created": created, "resolved": resolved, "inbound": inbound,
            "outbound": outbound}


def failure(code: int) -> dict[str, Any]:
    error = explain(code)
    return {"code": code, "count": 1, "title": error.title, "explanation": error.explanation}


async def test_every_figure_matches_the_hand_computed_fixture(desk: Desk,
                                                              clock: list[int]) -> None:
    await build(desk, clock)
    got = await report_of(desk)
    grid = [[0] * 24 for _ in range(7)]
    grid[6][23] = 1  # Sunday 23:00 (E)
    grid[0][9] = grid[0][11] = grid[0][23] = 1  # Monday: A, A's rating, B
    grid[1][12] = grid[1][15] = 1  # Tuesday: B again, C
    assert got == {
        "from": "2026-11-21", "to": "2026-11-25", "time_zone": "America/New_York",
        "filters": {"number_id": None, "group_id": None, "agent_id": None, "channel": None},
        "days": [day("2026-11-21", 0, 0, 0, 0), day("2026-11-22", 1, 0, 1, 0),
                 day("2026-11-23", 2, 1, 3, 2), day("2026-11-24", 1, 1, 2, 3),
                 day("2026-11-25", 1, 1, 1, 2)],
        "totals": {"created": 5, "resolved": 3, "inbound": 7, "outbound": 7, "segments": 9},
        # 10m, 30m, 40m, 2h30: the 2nd and the 4th (nearest rank)
        "first_response": {"count": 4, "median_ms": 30 * MINUTE, "p90_ms": 150 * MINUTE},
        # 2h, 2h, 30h30
        "resolution": {"count": 3, "median_ms": 2 * HOUR, "p90_ms": 30 * HOUR + 30 * MINUTE},
        "sla": {"first_response": {"met": 3, "breached": 1, "percent": 75.0},
                "resolution": {"met": 2, "breached": 1, "percent": 66.7}},
        "csat": {"sent": 2, "rated": 1, "response_rate": 50.0, "average": 4.0,
                 "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}},
        "failures": [failure(30003), failure(30007)],
        "segments": [
            # ticket 1's reply (2) and survey (1), ticket 2's reply (1) and survey (1)
            {"number_id": desk.us.id, "number": US, "name": "", "segments": 5, "messages": 4,
             "segment_price": "0.0079", "currency": "USD", "cost": "0.04"},
            {"number_id": desk.uk.id, "number": UK, "name": "", "segments": 4, "messages": 2,
             "segment_price": None, "currency": "USD", "cost": None}],
        "busiest_hours": grid,
    }


async def test_days_follow_the_time_zone(desk: Desk, clock: list[int]) -> None:
    """In UTC, E (Sun 23:00 New York) is Monday and B (Mon 23:30) is Tuesday."""
    await build(desk, clock)
    got = await report_of(desk, "2026-11-23", "2026-11-25", "UTC")
    assert [d["created"] for d in got["days"]] == [2, 2, 1]
    assert got["busiest_hours"][0][4] == 1  # E, Monday 04:00 UTC
    assert got["busiest_hours"][1][4] == 1  # B, Tuesday 04:30 UTC


async def test_filters(desk: Desk, clock: list[int]) -> None:
    fixture = await build(desk, clock)
    billing = await report_of(desk, group_id=desk.billing.id)
    # everything but ticket 3 (UK, no group)
    assert billing["totals"] == {"created": 4, "resolved": 2, "inbound": 6, "outbound": 5,
                                 "segments": 5}
    assert billing["failures"] == [failure(30007)]
    email = await report_of(desk, channel="email")
    assert email["totals"] == {"created": 1, "resolved": 0, "inbound": 1, "outbound": 1,
                               "segments": 0}
    assert email["first_response"] == {"count": 1, "median_ms": 30 * MINUTE,
                                       "p90_ms": 30 * MINUTE}
    assert email["resolution"] == {"count": 0, "median_ms": None, "p90_ms": None}
    assert email["sla"]["first_response"] == {"met": 1, "breached": 0, "percent": 100.0}
    assert email["sla"]["resolution"] == {"met": 0, "breached": 0, "percent": None}
    uk = await report_of(desk, number_id=desk.uk.id)
    assert uk["totals"]["created"] == 1 and uk["failures"] == [failure(30003)]
    assert uk["csat"] == {"sent": 0, "rated": 0, "response_rate": None, "average": None,
                          "distribution": dict.fromkeys("12345", 0)}
    # Ada's: ticket 1 from its assignment on (reply, resolve, survey, rating), the only
    # ticket ever assigned to her (the counters keep the ticket's agent at each write).
    ada = await report_of(desk, agent_id=fixture.ada)
    assert ada["totals"] == {"created": 0, "resolved": 1, "inbound": 1, "outbound": 2,
                             "segments": 3}
    assert ada["csat"]["rated"] == 1 and ada["csat"]["sent"] == 1
    both = await report_of(desk, agent_id=fixture.ada, group_id=desk.billing.id)
    assert (both["totals"], both["csat"]) == (ada["totals"], ada["csat"])
    elsewhere = await report_of(desk, agent_id=fixture.ada, group_id=desk.support.id)
    assert elsewhere["totals"] == dict.fromkeys(elsewhere["totals"], 0)
    us_texts = await report_of(desk, number_id=desk.us.id, channel="sms")
    # E, tickets 1 and 2; not the mail (ticket 4) nor the UK's ticket 3
    assert us_texts["totals"] == {"created": 3, "resolved": 2, "inbound": 5, "outbound": 4,
                                  "segments": 5}
    assert [s["number"] for s in us_texts["segments"]] == [US]


async def test_a_failure_is_counted_once_by_its_code(desk: Desk, clock: list[int]) -> None:
    """Delivered, then reported undelivered (30005), then a late "failed": one failure."""
    clock[0] = ny(23, 9)
    ticket = (await desk.inbound("hi", from_=A)).ticket
    reply = await desk.store.write(writes.queue_outbound, ticket_id=ticket.id, agent_id=None,
                                   body="hello")
    await desk.store.write(writes.attach_sid, reply.id, sid="SMfeed",
                           status=MessageStatus.SENT)
    clock[0] = ny(23, 10)
    await desk.store.write(writes.update_status, "SMfeed", MessageStatus.DELIVERED)
    clock[0] = ny(23, 12)
    await desk.store.write(writes.update_status, "SMfeed", MessageStatus.UNDELIVERED, 30005)
    await desk.store.write(writes.update_status, "SMfeed", MessageStatus.FAILED, 30005)
    got = await report_of(desk, "2026-11-23", "2026-11-23")
    assert got["failures"] == [failure(30005)]


@pytest.mark.parametrize(("args", "field"), [
    ({"start": "2026-11-31", "end": "2026-12-01"}, "from"),
    ({"start": "2026-11-01", "end": "soon"}, "to"),
    ({"start": "2026-11-30", "end": "2026-11-01"}, "to"),
    ({"start": "2025-01-01", "end": "2026-01-02"}, "to"),
    ({"start": "2026-11-01", "end": "2026-11-30", "time_zone": "Mars/Olympus"}, "time_zone"),
    ({"start": "2026-11-01", "end": "2026-11-30", "channel": "fax"}, "channel"),
    ({"start": "2026-11-01", "end": "2026-11-30", "group_id": 0}, "group_id"),
    ({"start": "2026-11-01", "end": "2026-11-30", "agent_id": "Ada"}, "agent_id"),
    ({"start": "0001-01-01", "end": "0001-01-02"}, "from"),
    ({"start": "9999-12-30", "end": "9999-12-31"}, "from"),
])
def test_a_request_that_is_not_one_is_refused_naming_its_field(args: dict[str, Any],
                                                               field: str) -> None:
    with pytest.raises(reports.BadReport) as refused:
        reports.request_of(**args)
    assert refused.value.field == field


def test_a_leap_year_fits_and_the_zone_defaults_to_the_desk_setting() -> None:
    request = reports.request_of(start="2024-01-01", end="2024-12-31",
                                 default_zone="Europe/London")
    assert request.time_zone == "Europe/London"
