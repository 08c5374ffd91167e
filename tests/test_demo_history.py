"""The demo's week of history: the same every run, shaped like a desk's week, written through
the store's writes, and never above today's live conversations in the inbox."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets
from conftest import UK, US
from relay_harness import AgentClient

from core import auth, queries, reports, writes
from core.errors import explain
from core.models import Role, SenderType
from core.sla import NEARING_WITHIN_MS
from core.store import Store
from server.demo import CARLOS, EMMA, NAMED, DemoBackend, start_backend
from server.demo_bot import furnish_bot
from server.demo_history import (
    DAYS,
    HOUR_WEIGHTS,
    LOW_RATING,
    NOT_AFTER,
    PAST_CUSTOMER,
    SLA_TARGETS,
    UK_ZONE,
    US_ZONE,
    furnish_history,
    plan_week,
)

# A Tuesday mid-morning in London, early morning in New York.
NOW = int(datetime(2026, 12, 1, 10, 30, tzinfo=UTC).timestamp() * 1000)
# Every weekday and the small hours, late evening and midday: the plan's shape holds on each.
NOWS = [int(datetime(2026, 11, day, hour, 50, tzinfo=UTC).timestamp() * 1000)
        for day in range(23, 30) for hour in (0, 12, 23)]
LIVE_PHONES = {*NAMED, CARLOS, EMMA}
MINUTE = 60_000


def _of_the_past(phone: str | None) -> bool:
    return PAST_CUSTOMER.fullmatch(phone or "") is not None


def _steps(plan: list[Any]) -> Iterator[Any]:
    for conversation in plan:
        yield from conversation.steps


@pytest.mark.parametrize("now", NOWS)
def test_the_plan_has_a_weeks_shape_whatever_the_day_and_hour(now: int) -> None:
    plan = plan_week(now, US, UK)
    assert plan == plan_week(now, US, UK)  # seeded: the same now, the same week
    assert 40 <= len(plan) <= 60
    phones = [c.phone for c in plan]
    assert len(set(phones)) == len(phones) and all(map(_of_the_past, phones))
    assert not any(map(_of_the_past, LIVE_PHONES))
    opened = [c.steps[0].at for c in plan]
    assert opened == sorted(opened) and opened[-1] < now
    for conversation in plan:
        assert [s.at for s in conversation.steps] == sorted(s.at for s in conversation.steps)
    week = plan[:-2]  # the last two are this morning's, waiting for a first answer
    days = Counter(datetime.fromtimestamp(at / 1000, UTC).date() for at in opened[:-2])
    assert len(days) >= DAYS - 1
    for conversation in week:  # customers text in their daytime
        zone = US_ZONE if conversation.number == US else UK_ZONE
        local = datetime.fromtimestamp(conversation.steps[0].at / 1000, zone)
        assert local.hour in HOUR_WEIGHTS
    hours = Counter(datetime.fromtimestamp(s.at / 1000, UTC).hour for s in _steps(plan)
                    if s.kind == "text")
    assert max(hours.values()) >= 8  # a busiest hour stands out...
    assert not {2, 3, 4, 5, 6, 7} & set(hours)  # ...and nobody texts in the small hours
    ends = Counter(["open", *(s.status for s in c.steps if s.kind == "status"
                              and s.at <= now - NOT_AFTER)][-1] for c in week)  # by now
    assert ends["resolved"] >= len(week) // 2 and ends["pending"] >= 1 and ends["closed"] >= 1
    assert sorted(s.code for s in _steps(plan) if s.code) == [30003, 30005, 30007]
    bodies = [s.body for c in week if c.number == US for s in c.steps if s.kind == "text"]
    assert LOW_RATING[0] in bodies and LOW_RATING[1] in bodies
    assert not [s for s in _steps(plan[-2:]) if s.kind == "reply"]


async def _week_in(store: Store, admin: int, sam: int) -> dict[str, int]:
    return await furnish_history(store, sam=sam, admin=admin, us=US, uk=UK, now=NOW)


def _rows(store: Store, sql: str, *params: Any) -> Any:
    def read(conn: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]
    return store.read(read)


async def test_the_week_goes_through_the_writes_on_both_backends(store: Store) -> None:
    admin, sam = await _bare_demo(store)
    counts = await _week_in(store, admin, sam)
    assert counts["tickets"] == len(plan_week(NOW, US, UK))
    statuses = Counter(dict(await _rows(store, "SELECT status, count(*) FROM tickets"
                                              " GROUP BY status")))
    assert statuses["resolved"] + statuses["closed"] > 0.6 * counts["tickets"]
    assert statuses["pending"] >= 1 and statuses["open"] >= 2
    assert max(at for (at,) in await _rows(store, "SELECT created_at FROM entries")) \
        <= NOW - NOT_AFTER + MINUTE
    # Every text went out and came back with its final status: the outbox has nothing to do.
    assert await store.read(queries.outbox) == []
    outcomes = Counter(dict(await _rows(
        store, "SELECT status, count(*) FROM entries WHERE direction = 'outbound'"
               " GROUP BY status")))
    assert set(outcomes) == {"delivered", "undelivered"} and outcomes["undelivered"] == 3
    codes = [code for (code,) in await _rows(
        store, "SELECT error_code FROM entries WHERE status = 'undelivered' ORDER BY id")]
    assert sorted(codes) == [30003, 30005, 30007]
    assert all(explain(code).explanation for code in codes)  # the catalog says what it means
    # Every reply's first answer was timed: the clock the reports use.
    answered = await _rows(store, "SELECT created_at, first_responded_at FROM tickets"
                                  " WHERE first_responded_at IS NOT NULL")
    delays = sorted(responded - created for created, responded in answered)
    assert len(delays) > 30 and delays[0] < 15 * MINUTE and delays[-1] > 90 * MINUTE
    await _check_surveys(store)
    await _check_service_levels(store)
    day = datetime.fromtimestamp(NOW / 1000, UTC).date()
    _check_report(await store.read(reports.report, reports.request_of(
        start=(day - timedelta(DAYS - 1)).isoformat(), end=day.isoformat())))


def _check_report(figures: dict[str, Any]) -> None:
    """What the Reports screen shows over the last 7 days is filled in."""
    days = figures["days"]
    assert len(days) == DAYS
    assert sum(1 for d in days if d["created"]) >= DAYS - 1
    assert sum(1 for d in days if d["resolved"]) >= DAYS - 2
    assert all(d["inbound"] for d in days[:-1]) and figures["totals"]["outbound"] > 40
    assert figures["first_response"]["count"] > 20 and figures["first_response"]["median_ms"]
    assert figures["resolution"]["median_ms"] and figures["resolution"]["p90_ms"]
    for clock in ("first_response", "resolution"):
        assert 50 < figures["sla"][clock]["percent"] <= 100
    assert figures["sla"]["first_response"]["breached"] >= 1
    csat = figures["csat"]
    assert csat["rated"] >= 5 and 3.5 < csat["average"] < 5 and csat["distribution"]["2"] == 1
    assert 0 < csat["response_rate"] < 100
    assert {f["code"] for f in figures["failures"]} >= {30003, 30007}
    assert all(f["explanation"] for f in figures["failures"])
    assert all(row["cost"] is not None for row in figures["segments"])
    assert max(max(row) for row in figures["busiest_hours"]) >= 3


async def _check_surveys(store: Store) -> None:
    numbers = {n.e164: n for n in await store.read(queries.numbers)}
    assert numbers[US].csat and not numbers[UK].csat
    surveys = await _rows(store, "SELECT s.rating, s.comment, t.status, t.number_id"
                                 " FROM csat_surveys s JOIN tickets t ON t.id = s.ticket_id")
    ratings = [rating for rating, _, _, _ in surveys if rating is not None]
    assert len(surveys) >= 10 and len(ratings) < len(surveys)  # not every customer answers
    assert {3, 4, 5} <= set(ratings) and ratings.count(2) == 1
    assert (2, LOW_RATING[1]) in {(rating, comment) for rating, comment, _, _ in surveys}
    assert {status for _, _, status, _ in surveys} == {"resolved"}  # a rating never reopens
    assert {number for _, _, _, number in surveys} == {numbers[US].id}


async def _check_service_levels(store: Store) -> None:
    targets = {row[0]: row[1:] for row in await _rows(
        store, "SELECT priority, first_response, resolution FROM sla_targets")}
    assert targets["urgent"] == (30 * MINUTE, 4 * 60 * MINUTE)
    assert set(targets) == {p.value for p in SLA_TARGETS}
    waiting = await _rows(store, "SELECT priority, first_response_due FROM tickets"
                                 " WHERE first_responded_at IS NULL AND status = 'open'"
                                 " AND created_at > ? ORDER BY id", NOW - 3 * 60 * MINUTE)
    (urgent, overdue_since), (high, due) = waiting
    assert (urgent, high) == ("urgent", "high")
    assert overdue_since < NOW  # past its 30 minutes
    assert NOW < due < NOW + NEARING_WITHIN_MS  # nearing breach
    # The US number keeps no hours (24x7): its business time is wall time.
    late = await _rows(store, "SELECT count(*) FROM tickets t JOIN sla_targets s"
                              " ON s.priority = t.priority JOIN phone_numbers n"
                              " ON n.id = t.number_id AND n.e164 = ?"
                              " WHERE t.first_responded_at - t.created_at > s.first_response", US)
    assert late[0][0] >= 1  # the week was not perfect either


@pytest.mark.sqlite_only
async def test_the_same_now_writes_the_same_week(tmp_path: Path) -> None:
    written = []
    for name in ("a", "b"):
        async with await Store.open(tmp_path / f"{name}.sqlite3") as store:
            admin, sam = await _bare_demo(store)
            started = time.perf_counter()
            await _week_in(store, admin, sam)
            seconds = time.perf_counter() - started
            written.append((
                await _rows(store, "SELECT id, created_at, status, priority, tags, agent_id,"
                                   " first_responded_at, resolved_at FROM tickets ORDER BY id"),
                await _rows(store, "SELECT ticket_id, body, status, error_code, twilio_sid,"
                                   " created_at FROM entries ORDER BY id"),
                await _rows(store, "SELECT ticket_id, rating, comment FROM csat_surveys"
                                   " ORDER BY id")))
    assert written[0] == written[1]
    assert seconds < 5  # about 0.2 s on a quiet machine; generous for a loaded one


async def _bare_demo(store: Store) -> tuple[int, int]:
    """The demo's account, numbers, groups, agents and UK bot, without the simulator; the
    admin's and Sam's ids."""
    account = await store.write(writes.add_account, name="Demo Shop", sid="AC" + "2" * 32,
                                auth_token="demo-auth-token-0000")
    billing = await store.write(writes.add_group, "Billing")
    shipping = await store.write(writes.add_group, "Shipping")
    numbers = {}
    for e164, group, kind, country in ((US, billing, SenderType.TOLL_FREE, "US"),
                                       (UK, shipping, SenderType.LONG_CODE, "GB")):
        numbers[e164] = await store.write(writes.save_number, account_id=account.id,
                                          e164=e164, mms=e164 == US, default_group_id=group.id,
                                          sender_type=kind, country=country)
    agents = []
    for name, role in (("Demo Admin", Role.ADMIN), ("Sam Rivera", Role.AGENT)):
        agent = await store.write(writes.add_agent, name=name, role=role,
                                  token_hash=auth.hash_token(auth.new_token()),
                                  group_ids=[billing.id, shipping.id])
        agents.append(agent.id)
    await furnish_bot(store, number_id=numbers[UK].id, admin_id=agents[0])
    return agents[0], agents[1]


# --- in the running demo --------------------------------------------------------------------


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[DemoBackend]:
    started = start_backend(tmp_path / "demo", speed=100.0)
    try:
        yield started
    finally:
        started.stop()


async def test_the_live_story_stays_on_top_of_the_inbox(backend: DemoBackend) -> None:
    async with websockets.connect(backend.url) as socket_:
        agent = AgentClient(socket_)
        await agent.send({"type": "hello", "version": 1, "token": backend.token})
        await agent.until("welcome")
        # The inbox's default view: open and pending, most recent activity first.
        listed = (await agent.command("list_tickets", status=["open", "pending"],
                                      limit=200))["result"]["items"]
        every = (await agent.command("list_tickets", limit=200))["result"]["items"]
        agents = {a["name"] for a in (await agent.command("list_agents"))["result"]}
        today = datetime.now(UTC).date()
        figures = (await agent.command("get_report", time_zone="UTC", to=today.isoformat(),
                                       **{"from": (today - timedelta(DAYS - 1)).isoformat()}))
    phones = [row["ticket"]["customer_phone"] or "" for row in listed]
    live = [i for i, phone in enumerate(phones) if phone in LIVE_PHONES]
    past = [i for i, phone in enumerate(phones) if _of_the_past(phone)]
    assert len(live) >= 4 and past  # Maya, Tom, Ana, Jordan at least; the week's open ones
    assert max(live) < min(past)
    assert {"Maya Patel", "Tom Hughes", "Ana Souza", "Jordan Lee"} <= {
        row["contact_name"] for row in listed}
    week = [row for row in every if _of_the_past(row["ticket"]["customer_phone"])]
    assert len(week) >= 40  # the week is there, mostly resolved or closed
    assert len(past) < len(week) / 3
    assert {"Demo Admin", "Sam Rivera", "Alex Morgan"} <= agents
    _check_report(figures["result"])
