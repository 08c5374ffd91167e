"""SLA clocks on the store and the relay, both backends: the dues a ticket gets in business
hours, the first reply meeting its target, pending pausing and a customer's text resuming,
resolving and reopening, a priority change recomputing, the Overdue view, the watch's
nearing/breached events (once per due, across a new leader), and the admin's commands.

The store's clock is set by each test (as tests/test_bot_relay.py does), so every due is
an exact wall time in London."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import CUSTOMER, Desk
from relay_harness import Harness, relay_on_loopback
from test_bot_commands import _admin_event, _result, database  # noqa: F401

from core import bot_store, email_writes, queries, sla, sla_writes, writes
from core.models import Priority, Role, Ticket, TicketStatus
from server.sla_watch import BREACHED, NEARING, SlaWatch, announce

HOUR = 3_600_000
MINUTE = 60_000
LONDON_WEEKDAYS = {"time_zone": "Europe/London", "monday": "09:00-17:00",
                   "tuesday": "09:00-17:00", "wednesday": "09:00-17:00",
                   "thursday": "09:00-17:00", "friday": "09:00-17:00"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The store's clock (and the reader's, for ``overdue``), set by the test."""
    now = [0]
    monkeypatch.setattr("core.store.now_ms", lambda: now[0])
    monkeypatch.setattr("core.models.now_ms", lambda: now[0])
    yield now


def london(*wall: int) -> int:
    return int(dt.datetime(*wall, tzinfo=ZoneInfo("Europe/London")).timestamp() * 1000)


async def office_desk(desk: Desk, **targets: sla.Target) -> None:
    """The US number keeps London weekday hours; the targets given are set."""
    await desk.store.write(bot_store.save_hours, scope="number", scope_id=desk.us.id,
                           calendar=LONDON_WEEKDAYS)
    await desk.store.write(sla_writes.save_targets,
                           {Priority(name): target for name, target in targets.items()})


async def new_ticket(desk: Desk, body: str = "my order never came") -> Ticket:
    return (await desk.inbound(body)).ticket


async def agent_id(desk: Desk) -> int:
    agent = await desk.store.write(writes.add_agent, name="Bo", role=Role.AGENT,
                                   token_hash="h" * 64)
    return agent.id


# --- the clock on the store ---------------------------------------------------------


async def test_a_friday_afternoon_text_is_due_on_monday(desk: Desk, clock: list[int]) -> None:
    await office_desk(desk, low=sla.Target(first_response=HOUR, resolution=8 * HOUR))
    clock[0] = london(2026, 3, 6, 16, 30)  # Friday
    ticket = await new_ticket(desk)
    assert ticket.first_response_due == london(2026, 3, 9, 9, 30)
    assert ticket.resolution_due == london(2026, 3, 9, 16, 30)  # 30 min Friday, 7h30 Monday
    stored = await desk.ticket(ticket.id)
    assert (stored.first_response_due, stored.resolution_due, stored.sla_since) == (
        ticket.first_response_due, ticket.resolution_due, clock[0])
    created = next(e for e in desk.events if e.kind == "ticket.created")
    assert created.payload["ticket"]["first_response_due"] == ticket.first_response_due
    assert created.payload["ticket"]["overdue"] is False


async def test_no_targets_no_dues_and_the_clock_still_runs(desk: Desk, clock: list[int]) -> None:
    clock[0] = london(2026, 3, 6, 16, 30)
    ticket = await new_ticket(desk)
    stored = await desk.ticket(ticket.id)
    assert (stored.first_response_due, stored.resolution_due) == (None, None)
    assert stored.sla_since == clock[0]  # a target set later counts from creation


async def test_the_first_agent_reply_meets_the_first_response(desk: Desk,
                                                               clock: list[int]) -> None:
    await office_desk(desk, low=sla.Target(first_response=HOUR, resolution=8 * HOUR))
    bo = await agent_id(desk)
    clock[0] = london(2026, 3, 2, 9, 0)
    ticket = await new_ticket(desk)
    clock[0] += 10 * MINUTE
    await desk.store.write(writes.queue_outbound, ticket_id=ticket.id, agent_id=None,
                           body="Thanks, we got it.", by_bot=True)
    assert (await desk.ticket(ticket.id)).first_response_due is not None  # a bot is no agent
    clock[0] += 10 * MINUTE
    await desk.store.write(writes.queue_outbound, ticket_id=ticket.id, agent_id=bo,
                           body="Looking into it now.")
    answered = await desk.ticket(ticket.id)
    assert (answered.first_responded_at, answered.first_response_due) == (clock[0], None)
    assert answered.resolution_due == london(2026, 3, 2, 17, 0)
    replied = [e for e in desk.events if e.kind == "message.created"][-1]
    assert replied.payload["ticket"]["first_response_due"] is None
    clock[0] += HOUR
    await desk.store.write(writes.queue_outbound, ticket_id=ticket.id, agent_id=bo,
                           body="Found it.")
    assert (await desk.ticket(ticket.id)).first_responded_at == london(2026, 3, 2, 9, 20)


async def test_pending_pauses_and_the_customer_answer_resumes(desk: Desk,
                                                               clock: list[int]) -> None:
    await office_desk(desk, low=sla.Target(resolution=8 * HOUR))
    clock[0] = london(2026, 3, 2, 9, 0)  # Monday
    ticket = await new_ticket(desk)
    clock[0] = london(2026, 3, 2, 11, 0)
    pending = await desk.update(ticket.id, status="pending")
    assert (pending.resolution_due, pending.sla_used, pending.sla_since) == (None, 2 * HOUR, None)
    updated = [e for e in desk.events if e.kind == "ticket.updated"][-1]
    assert updated.payload["ticket"]["resolution_due"] is None
    clock[0] = london(2026, 3, 4, 14, 0)  # Wednesday: two days waiting count for nothing
    reopened = (await desk.inbound("here is the photo")).ticket
    assert reopened.status is TicketStatus.OPEN
    assert reopened.resolution_due == london(2026, 3, 5, 12, 0)  # 6h left: 3h Wed, 3h Thu
    stored = await desk.ticket(ticket.id)
    assert (stored.resolution_due, stored.sla_since, stored.sla_used) == (
        reopened.resolution_due, clock[0], 2 * HOUR)


async def test_resolving_stops_the_clocks_and_reopening_resumes(desk: Desk,
                                                                clock: list[int]) -> None:
    await office_desk(desk, low=sla.Target(first_response=HOUR, resolution=8 * HOUR))
    clock[0] = london(2026, 3, 2, 9, 0)
    ticket = await new_ticket(desk)
    clock[0] = london(2026, 3, 2, 10, 0)
    resolved = await desk.update(ticket.id, status="resolved")
    assert (resolved.first_response_due, resolved.resolution_due) == (None, None)
    assert (resolved.resolved_at, resolved.sla_used) == (clock[0], HOUR)
    clock[0] = london(2026, 3, 2, 11, 0)
    closed = await desk.update(ticket.id, status="closed")
    assert closed.resolved_at == london(2026, 3, 2, 10, 0)  # closing keeps when it was resolved
    clock[0] = london(2026, 3, 3, 9, 0)
    reopened = await desk.update(ticket.id, status="open")
    assert reopened.resolved_at is None
    assert reopened.first_response_due == london(2026, 3, 2, 10, 0)  # still unanswered
    assert reopened.resolution_due == london(2026, 3, 3, 16, 0)  # 7h left
    assert reopened.overdue  # the first response was due yesterday


async def test_a_priority_change_recomputes_both_dues(desk: Desk, clock: list[int]) -> None:
    await office_desk(desk, low=sla.Target(first_response=4 * HOUR, resolution=24 * HOUR),
                      urgent=sla.Target(first_response=30 * MINUTE, resolution=4 * HOUR))
    clock[0] = london(2026, 3, 2, 9, 0)
    ticket = await new_ticket(desk)
    assert ticket.resolution_due == london(2026, 3, 4, 17, 0)
    clock[0] = london(2026, 3, 2, 10, 0)
    urgent = await desk.update(ticket.id, priority="urgent")
    assert urgent.first_response_due == london(2026, 3, 2, 9, 30)
    assert urgent.resolution_due == london(2026, 3, 2, 13, 0)  # 1h used of 4h
    assert urgent.overdue
    high = await desk.update(ticket.id, priority="high")  # no targets for high
    assert (high.first_response_due, high.resolution_due, high.overdue) == (None, None, False)


async def test_a_ticket_opened_by_mail_or_by_an_agent_gets_its_dues(desk: Desk,
                                                                  clock: list[int]) -> None:
    await office_desk(desk, low=sla.Target(first_response=HOUR, resolution=8 * HOUR))
    clock[0] = london(2026, 3, 2, 9, 0)
    mailed = await desk.store.write(
        email_writes.record_inbound_email, ticket_id=None, contact_email="ann@example.com",
        number_id=desk.us.id, subject="Refund", body="Where is my refund?", mail_id="<a@x>")
    ticket = await desk.ticket(mailed.message.ticket_id)
    assert ticket.first_response_due == london(2026, 3, 2, 10, 0)
    bo = await agent_id(desk)
    started = await desk.store.write(writes.open_conversation, phone="+15555550199",
                                     number_id=desk.us.id, agent_id=bo, subject="Your order")
    assert started.resolution_due == london(2026, 3, 2, 17, 0)


async def test_the_overdue_view(desk: Desk, clock: list[int]) -> None:
    await office_desk(desk, low=sla.Target(first_response=HOUR),
                      urgent=sla.Target(resolution=2 * HOUR))
    clock[0] = london(2026, 3, 2, 9, 0)
    late = await new_ticket(desk)
    on_time = (await desk.inbound("hi", from_="+15555550177")).ticket
    await desk.update(on_time.id, priority="urgent")
    clock[0] = london(2026, 3, 2, 10, 30)
    view = queries.TicketFilter(overdue_at=clock[0])
    page = await desk.store.read(queries.list_tickets, view)
    assert [row.ticket.id for row in page.items] == [late.id]
    assert page.items[0].ticket.overdue
    assert await desk.store.read(queries.count_tickets, view) == 1
    clock[0] = london(2026, 3, 2, 11, 30)
    page = await desk.store.read(queries.list_tickets, queries.TicketFilter(overdue_at=clock[0]))
    assert sorted(row.ticket.id for row in page.items) == sorted([late.id, on_time.id])
    assert CUSTOMER in {row.contact_phone for row in page.items}


# --- the watch ----------------------------------------------------------------------------


def _said(desk: Desk) -> list[tuple[str, int | None, str, int]]:
    return [(e.kind, e.ticket_id, e.payload["which"], e.payload["due"]) for e in desk.events
            if e.kind in (NEARING, BREACHED)]


async def test_the_watch_says_nearing_then_breached_once_per_due(desk: Desk,
                                                                   clock: list[int]) -> None:
    await office_desk(desk, low=sla.Target(first_response=HOUR, resolution=8 * HOUR))
    clock[0] = london(2026, 3, 2, 9, 0)
    ticket = await new_ticket(desk)
    first_due, resolution_due = london(2026, 3, 2, 10, 0), london(2026, 3, 2, 17, 0)
    watch = SlaWatch(desk.store)
    assert await watch.watch_once() == 0  # nothing near yet
    clock[0] = london(2026, 3, 2, 9, 31)  # within 30 minutes of the first response
    await watch.watch_once()
    assert _said(desk) == [(NEARING, ticket.id, "first_response", first_due)]
    nearing = next(e for e in desk.events if e.kind == NEARING).payload
    assert (nearing["agent_id"], nearing["priority"], nearing["in_ms"]) == (None, "low",
                                                                             29 * MINUTE)
    await watch.watch_once()
    assert len(_said(desk)) == 1
    clock[0] = london(2026, 3, 2, 10, 1)
    await watch.watch_once()
    clock[0] = london(2026, 3, 2, 16, 12)  # 48 min (10 % of 8h) before the resolution due
    await watch.watch_once()
    await SlaWatch(desk.store).watch_once()  # a new leader, nothing in memory: the log says
    assert _said(desk) == [(NEARING, ticket.id, "first_response", first_due),
                           (BREACHED, ticket.id, "first_response", first_due),
                           (NEARING, ticket.id, "resolution", resolution_due)]
    clock[0] = london(2026, 3, 2, 16, 30)
    await desk.update(ticket.id, status="pending")  # paused: nothing due, nothing to say
    clock[0] = london(2026, 3, 3, 16, 30)
    await desk.update(ticket.id, status="open")  # resumed with 30 min left: a new due
    await watch.watch_once()
    assert _said(desk)[-1] == (NEARING, ticket.id, "resolution", london(2026, 3, 3, 17, 0))
    clock[0] = london(2026, 3, 3, 17, 5)
    await watch.watch_once()
    assert _said(desk)[-1] == (BREACHED, ticket.id, "resolution", london(2026, 3, 3, 17, 0))
    assert len(_said(desk)) == 5


async def test_the_watch_skips_what_the_event_log_already_holds(desk: Desk,
                                                                 clock: list[int]) -> None:
    await office_desk(desk, low=sla.Target(first_response=HOUR))
    clock[0] = london(2026, 3, 2, 9, 0)
    ticket = await new_ticket(desk)
    clock[0] = london(2026, 3, 2, 10, 30)
    said = await desk.store.write(announce, frozenset())
    assert said == [(ticket.id, "first_response", london(2026, 3, 2, 10, 0), BREACHED)]
    again = await desk.store.write(announce, frozenset())  # known from the log, not said again
    assert again == said and len(_said(desk)) == 1


# --- the commands on a relay --------------------------------------------------------------


@pytest.fixture
async def relay(tmp_path: Path, database: str | None) -> AsyncIterator[Harness]:  # noqa: F811
    async with relay_on_loopback(tmp_path, database) as harness:
        yield harness


async def test_admins_set_targets_as_they_type_them(relay: Harness) -> None:
    async with relay.agent(relay.admin_token) as ada, relay.agent() as bo:
        await ada.until("caught_up")
        await bo.until("caught_up")
        empty = _result(await ada.command("get_sla_targets"))["targets"]
        assert [(t["priority"], t["first_response"], t["resolution"]) for t in empty] == [
            ("low", None, None), ("medium", None, None), ("high", None, None),
            ("urgent", None, None)]
        saved = _result(await ada.command("save_sla_targets", command_id="t1", targets=[
            {"priority": "urgent", "first_response": "30m", "resolution": "1d 2h"},
            {"priority": "low", "first_response": "", "resolution": "8h"}]))["targets"]
        by_priority = {t["priority"]: t for t in saved}
        assert (by_priority["urgent"]["first_response"], by_priority["urgent"]["resolution"]) \
            == (30 * MINUTE, 26 * HOUR)
        assert (by_priority["urgent"]["resolution_text"], by_priority["low"]["first_response"]) \
            == ("1d 2h", None)
        event = await _admin_event(ada, "sla.targets_saved")
        assert event["payload"]["targets"] == saved
        assert _result(await ada.command("save_sla_targets", command_id="t1",
                                         targets=[]))["targets"] == saved  # answered again

        bad = await ada.command("save_sla_targets", targets=[
            {"priority": "high", "first_response": "soonish"}])
        assert (bad["code"], bad["field"]) == ("bad_args", "high.first_response")
        assert "is not a duration" in bad["message"]
        unknown = await ada.command("save_sla_targets", targets=[{"priority": "asap"}])
        assert (unknown["code"], unknown["field"]) == ("bad_args", "priority")
        assert (await bo.command("get_sla_targets"))["code"] == "forbidden"
        assert (await bo.command("save_sla_targets", targets=[]))["code"] == "forbidden"
    stored = await relay.relay.store.read(sla_writes.targets)
    assert stored[Priority.URGENT] == sla.Target(30 * MINUTE, 26 * HOUR)
    assert stored[Priority.HIGH] == sla.NO_TARGET


async def test_the_list_and_count_take_overdue(relay: Harness) -> None:
    store = relay.relay.store
    await store.write(sla_writes.save_targets,
                      {Priority.LOW: sla.Target(first_response=1)})  # due 1 ms after creation
    numbers = {n.e164: n for n in await store.read(queries.numbers)}
    number = next(iter(numbers.values()))
    await store.write(writes.record_inbound, writes.InboundText(
        sid="SM" + "7" * 32, to=number.e164, from_="+15555550123", body="late"))
    await store.write(sla_writes.save_targets, {Priority.LOW: sla.NO_TARGET})
    await store.write(writes.record_inbound, writes.InboundText(
        sid="SM" + "8" * 32, to=number.e164, from_="+15555550124", body="no target"))
    async with relay.agent() as bo:
        await bo.until("caught_up")
        every = _result(await bo.command("list_tickets"))["items"]
        late = _result(await bo.command("list_tickets", overdue=True))["items"]
        assert len(every) >= 2 and [row["ticket"]["customer_phone"] for row in late] == [
            "+15555550123"]
        assert late[0]["ticket"]["overdue"] is True
        assert {"first_response_due", "resolution_due"} <= set(late[0]["ticket"])
        assert _result(await bo.command("count_tickets", overdue=True)) == 1

