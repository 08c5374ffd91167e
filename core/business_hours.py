"""Business hours: when a number or group is open, in its own time zone.

A calendar is a week of opening spans in local wall time, plus holidays (closed
all that local day). The relay asks `hours_now` on every inbound text of a bot
number, so it walks day by day (never minute by minute) and keeps each day's
opening instants in a small cache: a typical call costs a few microseconds.

DST is handled in wall time, as people read a shop's sign: a 09:00-17:00 span is
as long as the wall clock says on a change day; a span edge that falls in the
spring-forward gap moves forward to the first instant that exists, and one in
the repeated autumn hour means its first pass (fold=0).

Pure: no I/O beyond the time zone database (the `tzdata` package when the
machine has no /usr/share/zoneinfo).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUTES_PER_DAY = 1440
MINUTE_MS = 60_000
DAY_MS = 86_400_000
OPENING_HORIZON_DAYS = 400  # an opening further away than this is "never opens"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SHORT_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_ONE_DAY = dt.timedelta(days=1)


class HoursInvalid(ValueError):
    """A calendar refused, with one "field: words" line per problem (the editor shows each
    under its field)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems

    def by_field(self) -> dict[str, list[str]]:
        """{"tuesday": ["17:00-09:00 ends before it starts"], ...}: what goes under each field."""
        fields: dict[str, list[str]] = {}
        for problem in self.problems:
            name, _, words = problem.partition(": ")
            fields.setdefault(name, []).append(words)
        return fields


@dataclass(frozen=True)
class Span:
    """Open from `start` to `end`, in minutes after local midnight (end 1440 = midnight after)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= MINUTES_PER_DAY:
            raise ValueError(f"a span needs 0 <= start < end <= 1440, not {self.start}-{self.end}")

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


@dataclass(frozen=True)
class Holiday:
    """Closed all of this local day."""

    day: dt.date
    name: str = ""


@dataclass(frozen=True)
class Calendar:
    time_zone: str
    week: tuple[tuple[Span, ...], ...]  # 7 entries, Monday first; () = closed that day
    holidays: tuple[Holiday, ...] = ()

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError(f"a week has 7 days, not {len(self.week)}")
        for spans in self.week:
            for earlier, later in pairwise(spans):
                if later.start < earlier.end:
                    raise ValueError(f"spans must be in order and apart: {earlier}, {later}")
        zone_named(self.time_zone)  # an unknown zone is refused here, not on first use
        # Looked up on every call: kept beside the fields (not part of equality or hashing).
        closed_days = frozenset(holiday.day for holiday in self.holidays)
        object.__setattr__(self, "_closed_days", closed_days)
        object.__setattr__(self, "_first_holiday", min(closed_days, default=None))
        object.__setattr__(self, "_ever_open", any(self.week))


ALWAYS_OPEN: Calendar | None = None  # no calendar = 24x7


@dataclass(frozen=True)
class HoursNow:
    open: bool
    next_opening: dt.datetime | None  # aware, in the calendar's zone; None when open or never opens
    closed_since: int | None  # epoch ms the current closed period began (its key); None when open


_OPEN_NOW = HoursNow(open=True, next_opening=None, closed_since=None)


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone called `name`; ValueError (in words) when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as unknown:
        spelled = _zone_spellings().get(name.casefold())
        hint = f"did you mean {spelled}?" if spelled else "an IANA name such as Europe/London"
        raise ValueError(f"unknown time zone {name!r} ({hint})") from unknown


@functools.cache
def _zone_spellings() -> dict[str, str]:
    """Every zone by its casefolded name: "europe/london" -> "Europe/London" (read once)."""
    return {name.casefold(): name for name in zoneinfo.available_timezones()}


# ---------------------------------------------------------------------------- instants


def _wall_ms(day: dt.date, minute: int, zone: ZoneInfo) -> int:
    """The instant (epoch ms) a local wall time names on `day`; minute 1440 is the next midnight.

    A wall time in the spring-forward gap does not exist: it means the first instant
    after the gap. One in the repeated autumn hour means its first pass (fold=0).
    """
    if minute == MINUTES_PER_DAY:
        day, minute = day + _ONE_DAY, 0
    wall = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=zone)
    later_pass = wall.replace(fold=1)
    if later_pass.utcoffset() <= wall.utcoffset():  # type: ignore[operator]
        return round(wall.timestamp()) * 1000
    # In the gap: fold=1 reads it with the offset after the change (an instant before the
    # change), fold=0 with the offset before (an instant after it). The change lies between.
    before, after = round(later_pass.timestamp()), round(wall.timestamp())
    offset_after = later_pass.utcoffset()
    while after - before > 1:
        middle = (before + after) // 2
        if dt.datetime.fromtimestamp(middle, zone).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return after * 1000


@functools.lru_cache(maxsize=8192)
def _open_instants(time_zone: str, spans: tuple[Span, ...], ordinal: int
                   ) -> tuple[tuple[int, int], ...]:
    """The day's spans as (opens, closes) epoch ms, in order; empty spans (all in a gap) dropped.

    Keyed by the zone's name and the spans, not the calendar, so calendars read afresh
    from the database on every inbound text still hit the cache.
    """
    zone = ZoneInfo(time_zone)
    day = dt.date.fromordinal(ordinal)
    midnight = _wall_ms(day, 0, zone)
    if _wall_ms(day, MINUTES_PER_DAY, zone) - midnight == DAY_MS:  # no clock change that day
        return tuple((midnight + span.start * MINUTE_MS, midnight + span.end * MINUTE_MS)
                     for span in spans)
    instants = ((_wall_ms(day, span.start, zone), _wall_ms(day, span.end, zone))
                for span in spans)
    return tuple((opens, closes) for opens, closes in instants if opens < closes)


def _day_instants(calendar: Calendar, day: dt.date) -> tuple[tuple[int, int], ...]:
    if day in calendar._closed_days:  # type: ignore[attr-defined]
        return ()
    spans = calendar.week[day.weekday()]
    return _open_instants(calendar.time_zone, spans, day.toordinal()) if spans else ()


def _local_day(calendar: Calendar, at_ms: int) -> tuple[dt.date, bool]:
    """The local date at `at_ms`, and whether it is a repeated (second-pass) wall time."""
    local = dt.datetime.fromtimestamp(at_ms / 1000, ZoneInfo(calendar.time_zone))
    return local.date(), bool(local.fold)


def _openings_after(calendar: Calendar, day: dt.date) -> Iterator[tuple[int, int]]:
    """Every opening from `day` on, in order, for at most the horizon."""
    for _ in range(OPENING_HORIZON_DAYS + 1):
        yield from _day_instants(calendar, day)
        day += _ONE_DAY


def _last_closing_before(calendar: Calendar, day: dt.date, at_ms: int) -> int:
    """When the last opening on or before `day` closed (at or before `at_ms`).

    Walks back over closed days; past the earliest holiday the plain week repeats,
    so a week more without an opening means none ever: 0, one key for "always closed".
    """
    first_holiday: dt.date | None = calendar._first_holiday  # type: ignore[attr-defined]
    plain_days = 0  # days walked before the earliest holiday, where the plain week repeats
    while True:
        closings = [closes for _, closes in _day_instants(calendar, day) if closes <= at_ms]
        if closings:
            return closings[-1]
        if not calendar._ever_open:  # type: ignore[attr-defined]
            return 0
        if first_holiday is None or day < first_holiday:
            plain_days += 1
            if plain_days > 8:  # only when every span falls in a clock-change gap
                return 0
        day -= _ONE_DAY


# ------------------------------------------------------------------------------ asks


def hours_now(calendar: Calendar | None, at_ms: int) -> HoursNow:
    """Open or closed at `at_ms`; when closed, the next opening and the closed period's key."""
    if calendar is None:
        return _OPEN_NOW
    today, second_pass = _local_day(calendar, at_ms)
    # No earlier day's span reaches past the local midnight, but a repeated hour across
    # midnight can put `at_ms` after the next day's first spans.
    last = today + _ONE_DAY if second_pass else today
    day = today
    while day <= last:
        for opens, closes in _day_instants(calendar, day):
            if opens <= at_ms < closes:
                return _OPEN_NOW
        day += _ONE_DAY
    next_opening = next((opens for opens, _ in _openings_after(calendar, today)
                         if opens > at_ms), None)
    zone = ZoneInfo(calendar.time_zone)
    return HoursNow(
        open=False,
        next_opening=None if next_opening is None
        else dt.datetime.fromtimestamp(next_opening / 1000, zone),
        closed_since=_last_closing_before(calendar, last, at_ms))


def business_ms_between(calendar: Calendar | None, start_ms: int, end_ms: int) -> int:
    """Open time (ms) between two instants: what an SLA clock counts. 0 when end <= start."""
    if end_ms <= start_ms:
        return 0
    if calendar is None:
        return end_ms - start_ms
    day, _ = _local_day(calendar, start_ms)
    last, _ = _local_day(calendar, end_ms)
    day -= _ONE_DAY
    total = 0
    while day <= last + _ONE_DAY:
        for opens, closes in _day_instants(calendar, day):
            total += max(0, min(closes, end_ms) - max(opens, start_ms))
        day += _ONE_DAY
    return total


def add_business_ms(calendar: Calendar | None, start_ms: int, ms: int) -> int | None:
    """The instant when `ms` of open time have passed from `start_ms`: an SLA clock's due.

    The inverse of `business_ms_between`: business_ms_between(c, s, add_business_ms(c, s, m))
    == m. Walks day by day over the calendar's openings (a few cached tuples a day), so a
    target of weeks costs a few hundred steps. With no calendar (24x7) it is wall time.
    `ms` <= 0 is `start_ms` itself. None when the calendar never opens again (no due).
    """
    if ms <= 0 or calendar is None:
        return start_ms + max(ms, 0)
    if not calendar._ever_open:  # type: ignore[attr-defined]
        return None
    day, _ = _local_day(calendar, start_ms)
    day -= _ONE_DAY  # a repeated hour across midnight: the day before may still be open
    last_holiday = max(calendar._closed_days, default=None)  # type: ignore[attr-defined]
    remaining = ms
    idle_days = 0  # days in a row without a minute open, past the last holiday
    while True:
        counted = False
        for opens, closes in _day_instants(calendar, day):
            if closes <= start_ms:
                continue
            begins = max(opens, start_ms)
            if remaining <= closes - begins:
                return begins + remaining
            remaining -= closes - begins
            counted = True
        if not counted and (last_holiday is None or day > last_holiday):
            idle_days += 1
            if idle_days > 15:  # two plain weeks closed: every span in a clock-change gap
                return None
        elif counted:
            idle_days = 0
        day += _ONE_DAY


def opening_in_words(when: dt.datetime, at_ms: int) -> str:
    """ "today at 9:00", "tomorrow at 9:00", "Monday at 9:00", "Mon 5 Jan at 9:00" (a week or
    more away; with the year when half a year or more away), read in `when`'s zone."""
    today = dt.datetime.fromtimestamp(at_ms / 1000, when.tzinfo).date()
    days = (when.date() - today).days
    clock = f"{when.hour}:{when.minute:02d}"
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    if 1 < days <= 6:
        return f"{WEEKDAYS[when.weekday()].capitalize()} at {clock}"
    date = f"{SHORT_WEEKDAYS[when.weekday()]} {when.day} {when:%b}"
    if not 0 <= days < 183:
        date += f" {when.year}"
    return f"{date} at {clock}"


# ------------------------------------------------------------------- dicts and words


_RANGE = re.compile(r"(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_CLOSED_WORDS = frozenset({"", "closed", "-", "none"})
_HOW_SPANS = "write 09:00-17:30, several separated by commas, or closed"
_KNOWN_KEYS = frozenset({"time_zone", "holidays", *WEEKDAYS})


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _minute(hours: str, minutes: str) -> int | None:
    hour, minute = int(hours), int(minutes)
    if minute >= 60 or hour > 24 or (hour == 24 and minute):
        return None
    return hour * 60 + minute


def _spans_from_text(day: str, text: Any, problems: list[str]) -> tuple[Span, ...]:
    if not isinstance(text, str):
        problems.append(f"{day}: {text!r} is not text ({_HOW_SPANS})")
        return ()
    if text.strip().lower() in _CLOSED_WORDS:
        return ()
    spans: list[Span] = []
    for part in (piece.strip() for piece in text.split(",")):
        matched = _RANGE.fullmatch(part)
        if matched is None:
            shown = repr(part) if part else "an empty part"
            problems.append(f"{day}: {shown} is not a time range ({_HOW_SPANS})")
            continue
        start, end = _minute(*matched.group(1, 2)), _minute(*matched.group(3, 4))
        for typed, minute in ((matched.group(1, 2), start), (matched.group(3, 4), end)):
            if minute is None:
                problems.append(f"{day}: {':'.join(typed)} is not a time of day (00:00 to 24:00)")
        if start is None or end is None:
            continue
        shown = f"{_clock(start)}-{_clock(end)}"
        if end < start:
            problems.append(f"{day}: {shown} ends before it starts")
        elif end == start:
            problems.append(f"{day}: {shown} is empty (it ends when it starts)")
        else:
            spans.append(Span(start, end))
    spans.sort(key=lambda span: span.start)
    for earlier, later in pairwise(spans):
        if later.start < earlier.end:
            problems.append(f"{day}: {earlier} and {later} overlap")
    return tuple(spans)


def _holiday_from(item: Any, problems: list[str]) -> Holiday | None:
    if isinstance(item, str):  # "2026-12-25 Christmas Day", as typed one per line
        date_text, _, name = item.strip().partition(" ")
    elif isinstance(item, Mapping):
        date_text, name = str(item.get("date", "")), str(item.get("name", "") or "")
        unknown = sorted(set(item) - {"date", "name"})
        if unknown:
            problems.append(f"holidays: {', '.join(map(str, unknown))}: not a holiday setting"
                            " (date, name)")
    else:
        problems.append(f"holidays: {item!r} is not a holiday (write 2026-12-25 Christmas Day)")
        return None
    try:
        if not _DATE.fullmatch(date_text):
            raise ValueError
        day = dt.date.fromisoformat(date_text)
    except ValueError:
        problems.append(f"holidays: {date_text or 'an empty date'!r} is not a date"
                        " (write YYYY-MM-DD, e.g. 2026-12-25)")
        return None
    return Holiday(day, name.strip())


def _holidays_from(items: Any, problems: list[str]) -> tuple[Holiday, ...]:
    if items is None:
        return ()
    if isinstance(items, str):
        items = [line for line in items.splitlines() if line.strip()]
    if not isinstance(items, Iterable) or isinstance(items, Mapping):
        problems.append("holidays: not a list (one date per line, e.g. 2026-12-25 Christmas Day)")
        return ()
    holidays: dict[dt.date, Holiday] = {}
    for item in items:
        holiday = _holiday_from(item, problems)
        if holiday is None:
            continue
        if holiday.day in holidays:
            problems.append(f"holidays: {holiday.day.isoformat()} is listed twice")
            continue
        holidays[holiday.day] = holiday
    return tuple(sorted(holidays.values(), key=lambda holiday: holiday.day))


def calendar_from_dict(d: Mapping[str, Any]) -> Calendar:
    """A calendar from its JSON/TOML form (see `calendar_to_dict`); a missing weekday is closed.

    Raises HoursInvalid with every problem found, each as "field: words".
    """
    problems: list[str] = []
    if not isinstance(d, Mapping):
        raise HoursInvalid([f"calendar: {d!r} is not a table of settings"])
    for key in sorted(set(map(str, d)) - _KNOWN_KEYS):
        problems.append(f"{key}: not an hours setting (time_zone, monday … sunday, holidays)")
    zone_name = d.get("time_zone")
    if not isinstance(zone_name, str) or not zone_name.strip():
        problems.append("time_zone: missing (an IANA name such as Europe/London)")
    else:
        zone_name = zone_name.strip()
        try:
            zone_named(zone_name)
        except ValueError as unknown:
            problems.append(f"time_zone: {unknown}")
    week = tuple(_spans_from_text(day, d.get(day, "closed"), problems) for day in WEEKDAYS)
    holidays = _holidays_from(d.get("holidays"), problems)
    if problems:
        raise HoursInvalid(problems)
    return Calendar(time_zone=str(zone_name), week=week, holidays=holidays)


def calendar_to_dict(c: Calendar) -> dict[str, Any]:
    """JSON/TOML-ready, and what `calendar_from_dict` reads back to an equal calendar."""
    out: dict[str, Any] = {"time_zone": c.time_zone}
    for day, spans in zip(WEEKDAYS, c.week, strict=True):
        out[day] = ", ".join(map(str, spans)) if spans else "closed"
    out["holidays"] = [{"date": holiday.day.isoformat(), "name": holiday.name}
                       for holiday in sorted(c.holidays, key=lambda holiday: holiday.day)]
    return out


def week_in_words(c: Calendar | None) -> str:
    """One line for a list: "Mon-Fri 09:00-17:30, Sat 10:00-14:00 · Europe/London · 2 holidays";
    "24×7" with no calendar, "always closed" with no open day."""
    if c is None:
        return "24×7"
    runs: list[tuple[int, int, tuple[Span, ...]]] = []
    for index, spans in enumerate(c.week):
        if runs and runs[-1][2] == spans:
            runs[-1] = (runs[-1][0], index, spans)
        else:
            runs.append((index, index, spans))
    days = ", ".join(
        f"{SHORT_WEEKDAYS[first]}{'' if first == last else '-' + SHORT_WEEKDAYS[last]}"
        f" {', '.join(map(str, spans))}" for first, last, spans in runs if spans)
    parts = [days or "always closed", c.time_zone]
    if c.holidays:
        count = len(c.holidays)
        parts.append(f"{count} holiday{'' if count == 1 else 's'}")
    return " · ".join(parts)
