"""SLA clocks, pure: the business-hours clock across a weekend, both DST changes and a holiday;
its inverse property; pending pauses; a priority change recomputes; targets as admins type them."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_business_hours import ms, office

from core import sla
from core.business_hours import Calendar, add_business_ms, business_ms_between, calendar_from_dict
from core.durations import BadDuration
from core.models import Priority, TicketStatus

LONDON = ZoneInfo("Europe/London")
HOUR = 3_600_000
MINUTE = 60_000


def desk(time_zone: str = "Europe/London", hours: str = "09:00-17:00", **days: Any) -> Calendar:
    """Mon-Fri 09:00-17:00 unless told (test_business_hours' office, with round hours)."""
    return office(time_zone, hours, **days)


def wall(zone: dt.tzinfo, at_ms: int | None) -> tuple[int, ...]:
    assert at_ms is not None
    when = dt.datetime.fromtimestamp(at_ms / 1000, zone)
    return (when.year, when.month, when.day, when.hour, when.minute)


# --------------------------------------------------------------- add_business_ms


def test_no_calendar_is_wall_time() -> None:
    assert add_business_ms(None, 1_000, 4 * HOUR) == 1_000 + 4 * HOUR
    assert add_business_ms(None, 1_000, 0) == 1_000


def test_a_friday_afternoon_ticket_is_due_on_monday() -> None:
    # Friday 2026-03-06 15:00 London, 4h of a 09:00-17:00 week: 2h on Friday, 2h on Monday.
    due = add_business_ms(desk(), ms(LONDON, 2026, 3, 6, 15), 4 * HOUR)
    assert wall(LONDON, due) == (2026, 3, 9, 11, 0)


def test_started_over_the_weekend_counts_from_monday_opening() -> None:
    due = add_business_ms(desk(), ms(LONDON, 2026, 3, 7, 12), 30 * MINUTE)
    assert wall(LONDON, due) == (2026, 3, 9, 9, 30)


def test_exactly_at_closing_is_due_at_closing() -> None:
    due = add_business_ms(desk(), ms(LONDON, 2026, 3, 6, 9), 8 * HOUR)
    assert wall(LONDON, due) == (2026, 3, 6, 17, 0)


def test_a_holiday_is_skipped() -> None:
    calendar = desk(holidays=("2026-12-25 Christmas Day", "2026-12-28 Boxing Day (substitute)"))
    # Thursday 24 Dec 16:00: 1h that day, then Friday 25 and Monday 28 closed, Tuesday 29.
    due = add_business_ms(calendar, ms(LONDON, 2026, 12, 24, 16), 3 * HOUR)
    assert wall(LONDON, due) == (2026, 12, 29, 11, 0)


@pytest.mark.parametrize("zone_name", ["Europe/London", "America/New_York"])
def test_dst_spring_forward_overnight_desk(zone_name: str) -> None:
    """A 00:00-24:00 Sunday loses an hour when clocks go forward: 24h of business time
    from Sunday's midnight ends on Monday 01:00 wall time (Monday is 09:00-17:00)."""
    zone = ZoneInfo(zone_name)
    change = {"Europe/London": (2026, 3, 29), "America/New_York": (2026, 3, 8)}[zone_name]
    calendar = desk(zone_name, sunday="00:00-24:00", monday="00:00-24:00")
    start = ms(zone, *change, 0)
    due = add_business_ms(calendar, start, 24 * HOUR)
    next_day = dt.date(*change) + dt.timedelta(days=1)
    assert wall(zone, due) == (next_day.year, next_day.month, next_day.day, 1, 0)
    assert business_ms_between(calendar, start, due) == 24 * HOUR


def test_dst_fall_back_day_is_one_hour_longer() -> None:
    calendar = desk("Europe/London", sunday="00:00-24:00")
    start = ms(LONDON, 2026, 10, 25, 0)  # clocks go back at 02:00 BST
    due = add_business_ms(calendar, start, 24 * HOUR)
    assert wall(LONDON, due) == (2026, 10, 25, 23, 0)


def test_never_open_has_no_due() -> None:
    closed = calendar_from_dict({"time_zone": "UTC"})
    assert add_business_ms(closed, 0, HOUR) is None


def test_weeks_of_target_are_quick() -> None:
    calendar = desk(holidays=tuple(f"2026-{m:02d}-01" for m in range(1, 13)))
    started = time.perf_counter()
    for offset in range(200):
        add_business_ms(calendar, ms(LONDON, 2026, 1, 5) + offset * HOUR, 1000 * HOUR)
    assert time.perf_counter() - started < 2.0


CALENDARS = [None, desk(), desk("America/New_York", "08:30-12:00, 13:00-18:15",
                                    holidays=("2026-07-03", "2026-11-26")),
             desk("Europe/London", "00:00-24:00", sunday="10:00-14:00")]
START = ms(LONDON, 2026, 1, 1)
YEAR_MS = 366 * 24 * HOUR


@given(st.sampled_from(CALENDARS), st.integers(0, YEAR_MS), st.integers(0, 300 * HOUR))
def test_business_ms_between_inverts_add(calendar: Calendar | None, offset: int,
                                         business: int) -> None:
    start = START + offset
    due = add_business_ms(calendar, start, business)
    assert due is not None and due >= start
    assert business_ms_between(calendar, start, due) == business


@given(st.sampled_from(CALENDARS), st.integers(0, YEAR_MS), st.integers(0, 100 * HOUR),
       st.integers(0, 100 * HOUR))
def test_more_business_time_is_never_earlier(calendar: Calendar | None, offset: int,
                                             less: int, extra: int) -> None:
    earlier = add_business_ms(calendar, START + offset, less)
    later = add_business_ms(calendar, START + offset, less + extra)
    assert earlier is not None and later is not None and earlier <= later


# --------------------------------------------------------------------- the clock


TARGETS = {Priority.LOW: sla.Target(first_response=8 * HOUR, resolution=24 * HOUR),
           Priority.URGENT: sla.Target(first_response=30 * MINUTE, resolution=4 * HOUR)}


def test_a_new_ticket_is_due_from_creation() -> None:
    created = ms(LONDON, 2026, 3, 6, 15)  # Friday 15:00
    clock = sla.started(created, TicketStatus.OPEN, Priority.URGENT)
    dues = sla.dues(clock, TARGETS, desk(), created)
    assert wall(LONDON, dues.first_response_due) == (2026, 3, 6, 15, 30)
    assert wall(LONDON, dues.resolution_due) == (2026, 3, 9, 11, 0)
    assert dues.nearer() == dues.first_response_due
    assert not dues.overdue(created) and dues.overdue(dues.first_response_due + 1)


def test_answering_meets_the_first_response() -> None:
    created = ms(LONDON, 2026, 3, 6, 15)
    clock = sla.answered(sla.started(created, TicketStatus.OPEN, Priority.URGENT), created + 1)
    dues = sla.dues(clock, TARGETS, desk(), created)
    assert dues.first_response_due is None and dues.nearer() == dues.resolution_due
    assert sla.answered(clock, created + 99).first_responded_at == created + 1


def test_pending_pauses_and_open_resumes_from_what_was_left() -> None:
    calendar = desk()
    created = ms(LONDON, 2026, 3, 2, 9)  # Monday 09:00, urgent: 4h
    clock = sla.started(created, TicketStatus.OPEN, Priority.URGENT)
    paused = sla.moved(clock, TicketStatus.PENDING, calendar, ms(LONDON, 2026, 3, 2, 10))
    assert paused.sla_used == HOUR and paused.sla_since is None
    assert sla.dues(paused, TARGETS, calendar, 0).resolution_due is None
    # Two days waiting on the customer count for nothing; 3h left from Wednesday 14:00.
    resumed = sla.moved(paused, TicketStatus.OPEN, calendar, ms(LONDON, 2026, 3, 4, 14))
    due = sla.dues(resumed, TARGETS, calendar, 0).resolution_due
    assert wall(LONDON, due) == (2026, 3, 4, 17, 0)


def test_resolving_stops_both_clocks() -> None:
    created = ms(LONDON, 2026, 3, 2, 9)
    clock = sla.started(created, TicketStatus.OPEN, Priority.URGENT)
    resolved = sla.moved(clock, TicketStatus.RESOLVED, desk(), created + HOUR)
    assert sla.dues(resolved, TARGETS, desk(), created) == sla.Dues(None, None)
    assert resolved.sla_used == HOUR


def test_priority_change_recomputes_from_time_used() -> None:
    calendar = desk()
    created = ms(LONDON, 2026, 3, 2, 9)
    clock = sla.started(created, TicketStatus.OPEN, Priority.LOW)
    clock = sla.moved(clock, TicketStatus.PENDING, calendar, ms(LONDON, 2026, 3, 2, 12))
    clock = sla.moved(clock, TicketStatus.OPEN, calendar, ms(LONDON, 2026, 3, 2, 13))
    low = sla.dues(clock, TARGETS, calendar, 0)
    assert wall(LONDON, low.resolution_due) == (2026, 3, 5, 10, 0)  # 21h left of 24h
    urgent = sla.dues(sla.Clock(**{**_fields(clock), "priority": Priority.URGENT}), TARGETS,
                      calendar, 0)
    assert wall(LONDON, urgent.first_response_due) == (2026, 3, 2, 9, 30)
    assert wall(LONDON, urgent.resolution_due) == (2026, 3, 2, 14, 0)  # 1h left of 4h
    assert sla.dues(sla.Clock(**{**_fields(clock), "priority": Priority.HIGH}), TARGETS,
                    calendar, 0) == sla.Dues(None, None)  # no target for high


def test_a_used_up_clock_is_overdue_when_it_resumes() -> None:
    clock = sla.Clock(created_at=0, status=TicketStatus.OPEN, priority=Priority.URGENT,
                      first_responded_at=1, sla_used=5 * HOUR, sla_since=10 * HOUR)
    dues = sla.dues(clock, TARGETS, None, 10 * HOUR)
    assert dues.resolution_due == 10 * HOUR and dues.overdue(10 * HOUR + 1)


def test_nearing_is_thirty_minutes_or_a_tenth_of_the_target() -> None:
    assert sla.nearing_from(10 * HOUR, HOUR) == 10 * HOUR - 30 * MINUTE
    assert sla.nearing_from(100 * HOUR, 24 * HOUR) == 100 * HOUR - round(2.4 * HOUR)


@pytest.mark.parametrize(("typed", "target"), [
    ("4h", 4 * HOUR), ("1d 2h", 26 * HOUR), ("30m", 30 * MINUTE), ("90", 90 * MINUTE),
    ("", None), ("  ", None), (None, None),
])
def test_targets_as_typed(typed: str | None, target: int | None) -> None:
    assert sla.target_from_text(typed) == target
    if target is not None:
        assert sla.target_from_text(sla.target_in_words(target)) == target


def test_words_for_targets() -> None:
    assert sla.target_in_words(26 * HOUR) == "1d 2h"
    assert sla.target_in_words(90 * MINUTE) == "1h 30m"
    assert sla.target_in_words(None) == ""


def test_a_bad_target_says_what_to_type() -> None:
    with pytest.raises(BadDuration, match="is not a duration"):
        sla.target_from_text("soonish")


def _fields(clock: sla.Clock) -> dict[str, object]:
    return {name: getattr(clock, name) for name in sla.Clock.__slots__}
