"""Business hours: open or closed, the next opening, the closed period's key, open time between
two instants, across weekends, holidays and both DST changes in London and New York."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.business_hours import (
    Calendar,
    Holiday,
    HoursInvalid,
    HoursNow,
    Span,
    business_ms_between,
    calendar_from_dict,
    calendar_to_dict,
    hours_now,
    opening_in_words,
    week_in_words,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
UTC = dt.UTC
HOUR = 3_600_000
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


def office(time_zone: str = "Europe/London", hours: str = "09:00-17:30", *,
           holidays: tuple[str, ...] = (), **days: str) -> Calendar:
    """Mon-Fri `hours`, weekend closed unless a day is given."""
    table: dict[str, object] = {"time_zone": time_zone, **dict.fromkeys(WEEKDAYS, hours)}
    table.update(days)
    table["holidays"] = list(holidays)
    return calendar_from_dict(table)


def ms(zone: dt.tzinfo, *wall: int, fold: int = 0) -> int:
    return round(dt.datetime(*wall, tzinfo=zone, fold=fold).timestamp() * 1000)


def utc_ms(*wall: int) -> int:
    return ms(UTC, *wall)


def opening(hours: HoursNow) -> tuple[int, ...]:
    assert hours.next_opening is not None
    when = hours.next_opening
    return (when.year, when.month, when.day, when.hour, when.minute)


# ------------------------------------------------------------------ open and closed


def test_open_from_the_first_millisecond_to_just_before_closing() -> None:
    calendar = office()  # Tuesday 2026-12-01
    assert hours_now(calendar, ms(LONDON, 2026, 12, 1, 9)) == HoursNow(True, None, None)
    assert hours_now(calendar, ms(LONDON, 2026, 12, 1, 17, 30) - 1).open
    before = hours_now(calendar, ms(LONDON, 2026, 12, 1, 9) - 1)
    assert not before.open and opening(before) == (2026, 12, 1, 9, 0)
    assert before.closed_since == ms(LONDON, 2026, 11, 30, 17, 30)
    after = hours_now(calendar, ms(LONDON, 2026, 12, 1, 17, 30))
    assert not after.open and after.closed_since == ms(LONDON, 2026, 12, 1, 17, 30)
    assert opening(after) == (2026, 12, 2, 9, 0)
    assert after.next_opening is not None and after.next_opening.tzinfo == LONDON


def test_a_lunch_break_is_a_closed_period_of_its_own() -> None:
    calendar = office(monday="09:00-12:30, 13:30-17:30")
    lunch = hours_now(calendar, ms(LONDON, 2026, 11, 30, 13))
    assert not lunch.open and lunch.closed_since == ms(LONDON, 2026, 11, 30, 12, 30)
    assert opening(lunch) == (2026, 11, 30, 13, 30)
    assert hours_now(calendar, ms(LONDON, 2026, 11, 30, 13, 30)).open


def test_spans_that_touch_are_one_open_stretch_even_across_midnight() -> None:
    calendar = calendar_from_dict({"time_zone": "Europe/London", **{
        day: "00:00-24:00" for day in (*WEEKDAYS, "saturday", "sunday")}})
    for at in (ms(LONDON, 2026, 12, 1), ms(LONDON, 2026, 12, 1, 23, 59, 59),
               ms(LONDON, 2026, 3, 29, 1), ms(LONDON, 2026, 10, 25, 1, 30, fold=1)):
        assert hours_now(calendar, at).open
    split = office("Europe/London", "09:00-12:00, 12:00-17:00")
    assert hours_now(split, ms(LONDON, 2026, 12, 1, 12)).open


def test_no_calendar_is_always_open() -> None:
    assert hours_now(None, 0) == HoursNow(True, None, None)
    assert business_ms_between(None, 1_000, 5_000) == 4_000


def test_next_opening_across_a_weekend() -> None:
    calendar = office()
    friday_evening = hours_now(calendar, ms(LONDON, 2026, 12, 4, 18))
    assert opening(friday_evening) == (2026, 12, 7, 9, 0)
    sunday = hours_now(calendar, ms(LONDON, 2026, 12, 6, 23, 59))
    assert opening(sunday) == (2026, 12, 7, 9, 0)
    assert sunday.closed_since == friday_evening.closed_since == ms(LONDON, 2026, 12, 4, 17, 30)


def test_next_opening_skips_a_holiday() -> None:
    calendar = office(holidays=("2026-12-29 Staff day",))  # a Tuesday
    monday_evening = hours_now(calendar, ms(LONDON, 2026, 12, 28, 18))
    assert opening(monday_evening) == (2026, 12, 30, 9, 0)
    during = hours_now(calendar, ms(LONDON, 2026, 12, 29, 11))
    assert not during.open and during.closed_since == monday_evening.closed_since


def test_a_friday_holiday_runs_into_the_weekend() -> None:
    calendar = office(holidays=("2026-12-25 Christmas Day",))  # a Friday
    thursday_evening = hours_now(calendar, ms(LONDON, 2026, 12, 24, 17, 45))
    assert opening(thursday_evening) == (2026, 12, 28, 9, 0)
    assert not hours_now(calendar, ms(LONDON, 2026, 12, 25, 10)).open
    keys = {hours_now(calendar, at).closed_since for at in (
        ms(LONDON, 2026, 12, 24, 17, 30), ms(LONDON, 2026, 12, 25, 10),
        ms(LONDON, 2026, 12, 27, 20), ms(LONDON, 2026, 12, 28, 9) - 1)}
    assert keys == {ms(LONDON, 2026, 12, 24, 17, 30)}


def test_a_calendar_that_never_opens() -> None:
    closed = calendar_from_dict({"time_zone": "Europe/London"})
    first, later = hours_now(closed, 0), hours_now(closed, utc_ms(2030, 6, 1))
    assert first == later == HoursNow(False, None, 0)
    # Closed by holidays for longer than the horizon: "never opens" too, and quickly.
    year_off = office(holidays=tuple(
        (dt.date(2027, 1, 1) + dt.timedelta(days=n)).isoformat() for n in range(450)))
    started = time.perf_counter()
    far = hours_now(year_off, ms(LONDON, 2026, 12, 31, 18))
    assert time.perf_counter() - started < 0.5
    assert not far.open and far.next_opening is None
    assert far.closed_since == ms(LONDON, 2026, 12, 31, 17, 30)


# ---------------------------------------------------------------------------- DST


def test_london_spring_forward_weekend() -> None:
    calendar = office()
    friday = hours_now(calendar, ms(LONDON, 2026, 3, 27, 18))
    assert opening(friday) == (2026, 3, 30, 9, 0)
    assert friday.next_opening is not None
    assert friday.next_opening.timestamp() * 1000 == utc_ms(2026, 3, 30, 8)  # BST now
    assert hours_now(calendar, utc_ms(2026, 3, 27, 9)).open  # GMT: 09:00 is 09:00Z
    assert not hours_now(calendar, utc_ms(2026, 3, 30, 8) - 1).open
    assert hours_now(calendar, utc_ms(2026, 3, 30, 8)).open


def test_london_spans_across_the_gap_hour() -> None:
    # 2026-03-29: 01:00 GMT becomes 02:00 BST; the wall never reads 01:xx.
    calendar = office(sunday="00:30-03:00, 04:00-05:00")
    assert business_ms_between(calendar, utc_ms(2026, 3, 29), utc_ms(2026, 3, 29, 4)) \
        == HOUR * 3 // 2 + HOUR  # 00:30 GMT-03:00 BST is 1.5 h; 04:00-05:00 BST is 1 h
    starts_in_gap = office(sunday="01:30-05:00")
    early = hours_now(starts_in_gap, utc_ms(2026, 3, 29, 0, 30))
    assert not early.open and early.next_opening is not None
    assert early.next_opening.timestamp() * 1000 == utc_ms(2026, 3, 29, 1)  # 02:00 BST
    assert (early.next_opening.hour, early.next_opening.minute) == (2, 0)
    assert not hours_now(starts_in_gap, utc_ms(2026, 3, 29, 1) - 1).open
    assert hours_now(starts_in_gap, utc_ms(2026, 3, 29, 1)).open
    ends_in_gap = office(sunday="00:00-01:30")
    assert business_ms_between(ends_in_gap, utc_ms(2026, 3, 28), utc_ms(2026, 3, 30)) == HOUR


def test_london_fall_back_overlap_hour() -> None:
    # 2026-10-25: 02:00 BST becomes 01:00 GMT; the wall reads 01:xx twice.
    calendar = office(sunday="00:30-03:00")
    assert business_ms_between(calendar, utc_ms(2026, 10, 24), utc_ms(2026, 10, 26)) \
        == HOUR * 7 // 2
    starts_in_overlap = office(sunday="01:30-02:30")  # first pass: 00:30Z, to 02:30Z
    assert not hours_now(starts_in_overlap, utc_ms(2026, 10, 25, 0, 30) - 1).open
    assert hours_now(starts_in_overlap, utc_ms(2026, 10, 25, 0, 30)).open
    assert hours_now(starts_in_overlap, ms(LONDON, 2026, 10, 25, 1, 45, fold=1)).open
    shut = hours_now(starts_in_overlap, utc_ms(2026, 10, 25, 2, 30))
    assert not shut.open and shut.closed_since == utc_ms(2026, 10, 25, 2, 30)
    # A weekday after the change opens at 09:00 GMT.
    assert opening(hours_now(office(), ms(LONDON, 2026, 10, 23, 18))) == (2026, 10, 26, 9, 0)
    assert hours_now(office(), utc_ms(2026, 10, 26, 9)).open
    assert not hours_now(office(), utc_ms(2026, 10, 26, 8, 30)).open


def test_new_york_spring_forward() -> None:
    # 2026-03-08: 02:00 EST becomes 03:00 EDT.
    calendar = office("America/New_York", sunday="01:00-04:00")
    assert business_ms_between(calendar, utc_ms(2026, 3, 8), utc_ms(2026, 3, 9)) == 2 * HOUR
    starts_in_gap = office("America/New_York", sunday="02:30-04:00")
    early = hours_now(starts_in_gap, ms(NEW_YORK, 2026, 3, 8, 1, 30))
    assert early.next_opening is not None
    assert early.next_opening.timestamp() * 1000 == utc_ms(2026, 3, 8, 7)  # 03:00 EDT
    friday = hours_now(office("America/New_York"), ms(NEW_YORK, 2026, 3, 6, 18))
    assert friday.next_opening is not None
    assert friday.next_opening.timestamp() * 1000 == utc_ms(2026, 3, 9, 13)  # 09:00 EDT


def test_new_york_fall_back() -> None:
    # 2026-11-01: 02:00 EDT becomes 01:00 EST.
    calendar = office("America/New_York", sunday="00:00-03:00")
    assert business_ms_between(calendar, utc_ms(2026, 10, 31), utc_ms(2026, 11, 2)) == 4 * HOUR
    second_pass = ms(NEW_YORK, 2026, 11, 1, 1, 30, fold=1)
    assert hours_now(calendar, second_pass).open
    short = office("America/New_York", sunday="01:00-01:45")  # the first pass only
    assert hours_now(short, ms(NEW_YORK, 2026, 11, 1, 1, 30)).open
    later = hours_now(short, second_pass)
    assert not later.open and later.closed_since == ms(NEW_YORK, 2026, 11, 1, 1, 45)
    friday = hours_now(office("America/New_York"), ms(NEW_YORK, 2026, 10, 30, 18))
    assert friday.next_opening is not None
    assert friday.next_opening.timestamp() * 1000 == utc_ms(2026, 11, 2, 14)  # 09:00 EST


# ------------------------------------------------------------ the closed period's key

LONDON_WEEK = office(holidays=("2026-12-25 Christmas Day",))


@given(st.integers(min_value=utc_ms(2026, 1, 1), max_value=utc_ms(2027, 12, 31)))
def test_closed_since_is_one_key_per_closed_period(at: int) -> None:
    """Every instant of a closed period shares its key, the closing instant; the next
    closed period (after the next opening) has another."""
    now = hours_now(LONDON_WEEK, at)
    if now.open:
        assert now.closed_since is None and now.next_opening is None
        return
    assert now.closed_since is not None and now.next_opening is not None
    assert now.closed_since <= at
    assert hours_now(LONDON_WEEK, now.closed_since) == now  # the period's first instant
    reopens = round(now.next_opening.timestamp() * 1000)
    assert hours_now(LONDON_WEEK, reopens - 1) == now  # and its last
    assert hours_now(LONDON_WEEK, reopens).open
    assert hours_now(LONDON_WEEK, now.closed_since - 1).open
    following = hours_now(LONDON_WEEK, reopens + 8 * HOUR + 31 * 60_000)  # after closing
    assert not following.open and following.closed_since != now.closed_since


def test_closed_since_differs_for_the_next_closed_period_across_dst() -> None:
    calendar = office("America/New_York")
    weekend = {hours_now(calendar, at).closed_since for at in (
        ms(NEW_YORK, 2026, 3, 6, 17, 30), ms(NEW_YORK, 2026, 3, 8, 2, 30),
        ms(NEW_YORK, 2026, 3, 8, 3, 30), ms(NEW_YORK, 2026, 3, 9, 9) - 1)}
    monday_night = hours_now(calendar, ms(NEW_YORK, 2026, 3, 9, 20)).closed_since
    assert weekend == {ms(NEW_YORK, 2026, 3, 6, 17, 30)}
    assert monday_night == ms(NEW_YORK, 2026, 3, 9, 17, 30) not in weekend


# ---------------------------------------------------------- open time between instants

ANY_CALENDAR = st.sampled_from([
    LONDON_WEEK,
    office("America/New_York", "08:00-12:00, 13:00-18:00", sunday="01:00-04:00"),
    office("Europe/London", saturday="00:00-24:00", sunday="00:30-02:30"),
    office("Asia/Kolkata", "10:00-19:00"),
])
INSTANTS = st.integers(min_value=utc_ms(2026, 1, 1), max_value=utc_ms(2027, 3, 1))


@given(ANY_CALENDAR, INSTANTS, INSTANTS, INSTANTS)
def test_open_time_adds_up_over_a_split_and_never_exceeds_wall_time(
        calendar: Calendar, first: int, second: int, third: int) -> None:
    start, split, end = sorted((first, second, third))
    whole = business_ms_between(calendar, start, end)
    assert whole == business_ms_between(calendar, start, split) \
        + business_ms_between(calendar, split, end)
    assert 0 <= whole <= end - start
    assert business_ms_between(calendar, end, start) == (0 if end > start else whole)


@given(INSTANTS, INSTANTS)
def test_an_all_closed_calendar_has_no_open_time(first: int, second: int) -> None:
    closed = calendar_from_dict({"time_zone": "America/New_York"})
    assert business_ms_between(closed, min(first, second), max(first, second)) == 0


def test_open_time_in_a_plain_week_and_a_holiday_week() -> None:
    week = (ms(LONDON, 2026, 11, 30), ms(LONDON, 2026, 12, 7))
    assert business_ms_between(LONDON_WEEK, *week) == 5 * 17 * HOUR // 2
    christmas = (ms(LONDON, 2026, 12, 21), ms(LONDON, 2026, 12, 28))
    assert business_ms_between(LONDON_WEEK, *christmas) == 4 * 17 * HOUR // 2
    assert business_ms_between(LONDON_WEEK, ms(LONDON, 2026, 12, 1, 17), ms(
        LONDON, 2026, 12, 2, 9, 15)) == 45 * 60_000


# -------------------------------------------------------------------------- words


@pytest.mark.parametrize(("when", "words"), [
    (dt.datetime(2026, 12, 1, 9, 0, tzinfo=LONDON), "today at 9:00"),
    (dt.datetime(2026, 12, 2, 9, 30, tzinfo=LONDON), "tomorrow at 9:30"),
    (dt.datetime(2026, 12, 3, 13, 5, tzinfo=LONDON), "Thursday at 13:05"),
    (dt.datetime(2026, 12, 7, 9, 0, tzinfo=LONDON), "Monday at 9:00"),
    (dt.datetime(2026, 12, 8, 9, 0, tzinfo=LONDON), "Tue 8 Dec at 9:00"),
    (dt.datetime(2027, 1, 5, 9, 0, tzinfo=LONDON), "Tue 5 Jan at 9:00"),
    (dt.datetime(2027, 11, 30, 9, 0, tzinfo=LONDON), "Tue 30 Nov 2027 at 9:00"),
])
def test_opening_in_words(when: dt.datetime, words: str) -> None:
    assert opening_in_words(when, ms(LONDON, 2026, 12, 1, 8)) == words  # a Tuesday


def test_opening_in_words_counts_days_in_the_calendars_zone() -> None:
    # 23:30 in New York is already tomorrow in UTC; the customer's "today" is New York's.
    at = ms(NEW_YORK, 2026, 12, 1, 23, 30)
    assert opening_in_words(dt.datetime(2026, 12, 2, 9, tzinfo=NEW_YORK), at) == "tomorrow at 9:00"
    closed = hours_now(office("America/New_York"), at)
    assert closed.next_opening is not None
    assert opening_in_words(closed.next_opening, at) == "tomorrow at 9:00"


def test_week_in_words() -> None:
    assert week_in_words(None) == "24×7"
    assert week_in_words(office(holidays=("2026-12-25", "2026-12-28"))) \
        == "Mon-Fri 09:00-17:30 · Europe/London · 2 holidays"
    assert week_in_words(office(monday="09:00-12:30, 13:30-17:30", saturday="10:00-14:00")) \
        == "Mon 09:00-12:30, 13:30-17:30, Tue-Fri 09:00-17:30, Sat 10:00-14:00 · Europe/London"
    assert week_in_words(calendar_from_dict({"time_zone": "UTC"})) == "always closed · UTC"


# ------------------------------------------------------------------- dict form


def test_calendar_to_dict_is_the_documented_form_and_reads_back() -> None:
    calendar = office(monday="09:00-12:30, 13:30-17:30", holidays=("2026-12-25 Christmas Day",))
    table = calendar_to_dict(calendar)
    assert table == {
        "time_zone": "Europe/London", "monday": "09:00-12:30, 13:30-17:30",
        "tuesday": "09:00-17:30", "wednesday": "09:00-17:30", "thursday": "09:00-17:30",
        "friday": "09:00-17:30", "saturday": "closed", "sunday": "closed",
        "holidays": [{"date": "2026-12-25", "name": "Christmas Day"}]}
    assert calendar_from_dict(table) == calendar
    assert calendar.holidays == (Holiday(dt.date(2026, 12, 25), "Christmas Day"),)
    assert calendar.week[0] == (Span(540, 750), Span(810, 1050))


SPANS = st.lists(st.integers(min_value=0, max_value=1440), max_size=6, unique=True).map(
    lambda edges: tuple(Span(a, b) for a, b in zip(sorted(edges)[::2], sorted(edges)[1::2],
                                                   strict=False)))


@given(st.sampled_from(["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe"]),
       st.tuples(*[SPANS] * 7),
       st.dictionaries(st.dates(min_value=dt.date(2000, 1, 1)),
                       st.text(st.characters(categories=["L", "N", "Zs"]), max_size=20)
                       .map(str.strip), max_size=4))
def test_any_calendar_survives_the_dict_form(zone: str, week: tuple[tuple[Span, ...], ...],
                                             holidays: dict[dt.date, str]) -> None:
    calendar = Calendar(zone, week, tuple(Holiday(day, name) for day, name in
                                          sorted(holidays.items())))
    assert calendar_from_dict(calendar_to_dict(calendar)) == calendar


def test_loose_spellings_are_read() -> None:
    calendar = calendar_from_dict({"time_zone": " Europe/London ", "monday": "9:00 - 17:30",
                                   "tuesday": "13:30-17:30,09:00-12:30", "wednesday": "Closed",
                                   "thursday": "", "holidays": "2026-12-25 Christmas Day\n\n"
                                   "2026-12-26\n"})
    assert calendar.week[:4] == ((Span(540, 1050),), (Span(540, 750), Span(810, 1050)), (), ())
    assert [holiday.name for holiday in calendar.holidays] == ["Christmas Day", ""]


@pytest.mark.parametrize(("table", "problem"), [
    ({"time_zone": "Europe/London", "tuesday": "17:00-09:00"},
     "tuesday: 17:00-09:00 ends before it starts"),
    ({"time_zone": "Europe/Lodnon"},
     "time_zone: unknown time zone 'Europe/Lodnon' (an IANA name such as Europe/London)"),
    ({"time_zone": "europe/london"},
     "time_zone: unknown time zone 'europe/london' (did you mean Europe/London?)"),
    ({}, "time_zone: missing (an IANA name such as Europe/London)"),
    ({"time_zone": "UTC", "holidays": ["2026-02-30 Nope"]},
     "holidays: '2026-02-30' is not a date (write YYYY-MM-DD, e.g. 2026-12-25)"),
    ({"time_zone": "UTC", "holidays": [{"date": "25/12/2026"}]},
     "holidays: '25/12/2026' is not a date (write YYYY-MM-DD, e.g. 2026-12-25)"),
    ({"time_zone": "UTC", "holidays": ["2026-12-25", "2026-12-25 again"]},
     "holidays: 2026-12-25 is listed twice"),
    ({"time_zone": "UTC", "thursday": "09:00-13:00, 12:00-17:00"},
     "thursday: 09:00-13:00 and 12:00-17:00 overlap"),
    ({"time_zone": "UTC", "friday": "9-5"},
     "friday: '9-5' is not a time range (write 09:00-17:30, several separated by commas,"
     " or closed)"),
    ({"time_zone": "UTC", "friday": "09:00-24:30"},
     "friday: 24:30 is not a time of day (00:00 to 24:00)"),
    ({"time_zone": "UTC", "monday": "09:00-09:00"},
     "monday: 09:00-09:00 is empty (it ends when it starts)"),
    ({"time_zone": "UTC", "mon": "09:00-17:00"},
     "mon: not an hours setting (time_zone, monday … sunday, holidays)"),
    ({"time_zone": "UTC", "monday": 9}, "monday: 9 is not text"),
])
def test_refusals_in_words(table: dict[str, object], problem: str) -> None:
    with pytest.raises(HoursInvalid) as refused:
        calendar_from_dict(table)
    assert any(line.startswith(problem) for line in refused.value.problems), \
        refused.value.problems


def test_every_problem_is_reported_under_its_field() -> None:
    with pytest.raises(HoursInvalid) as refused:
        calendar_from_dict({"time_zone": "Nowhere/Else", "tuesday": "17:00-09:00",
                            "holidays": ["someday"]})
    fields = refused.value.by_field()
    assert sorted(fields) == ["holidays", "time_zone", "tuesday"]
    assert fields["tuesday"] == ["17:00-09:00 ends before it starts"]
    assert str(refused.value).count("\n") == 2


def test_a_calendar_built_by_hand_is_checked_too() -> None:
    with pytest.raises(ValueError, match="start < end"):
        Span(600, 540)
    with pytest.raises(ValueError, match="7 days"):
        Calendar("UTC", ((),) * 6)
    with pytest.raises(ValueError, match="unknown time zone"):
        Calendar("Mars/Olympus", ((),) * 7)
    with pytest.raises(ValueError, match="in order and apart"):
        Calendar("UTC", ((Span(600, 700), Span(540, 620)),) + ((),) * 6)


# -------------------------------------------------------------------------- speed


def test_hours_now_is_quick() -> None:
    """The relay asks on every inbound text: day by day, never minute by minute. The bound is
    loose (a shared, loaded machine); typical calls take a few microseconds."""
    calendar = office(holidays=("2026-12-25 Christmas Day",))
    instants = [ms(LONDON, 2026, 12, 1, 10), ms(LONDON, 2026, 12, 4, 18),
                ms(LONDON, 2026, 12, 24, 18), ms(LONDON, 2026, 12, 6, 3)]
    for at in instants:
        hours_now(calendar, at)
    started = time.perf_counter()
    for _ in range(500):
        for at in instants:
            hours_now(calendar, at)
    assert (time.perf_counter() - started) / 2000 < 100e-6
