"""The Reports screen's words and tables, from the relay's ``get_report`` answer.

Pure (no Textual): the screen and its charts only lay out what is decided here, so the
figures an agent reads can be checked against the report dict without a terminal, and
the CLI (``smsdesk report``) and the screen can be held to the same numbers.
The wire shape is documented in docs/protocol.md ("Reports").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from core.durations import span_in_words

MAX_DAYS = 366  # the relay refuses longer ranges (bad_args); the screen says so first
QUICK_RANGES = (7, 30, 90)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CHANNELS = (("SMS", "sms"), ("Email", "email"))
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_SEPARATORS = re.compile(r"\s*(?:\.\.|→|–|—|\bto\b|\s)\s*", re.IGNORECASE)
DATE_HOW = 'Type two dates as YYYY-MM-DD, like "2026-11-01 2026-11-30".'


# --- the range and filters the report is asked for ---------------------------------


@dataclass(frozen=True)
class ReportQuery:
    """What the screen asks the relay: an inclusive range of days and optional filters."""

    first: date
    last: date
    number_id: int | None = None
    group_id: int | None = None
    agent_id: int | None = None
    channel: str | None = None

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def args(self) -> dict[str, Any]:
        """``get_report``'s arguments: filters only when set (absent means all)."""
        args: dict[str, Any] = {"from": self.first.isoformat(), "to": self.last.isoformat()}
        for name in ("number_id", "group_id", "agent_id", "channel"):
            value = getattr(self, name)
            if value is not None:
                args[name] = value
        return args

    def with_days(self, first: date, last: date) -> ReportQuery:
        return replace(self, first=first, last=last)

    def with_filter(self, name: str, value: Any) -> ReportQuery:
        return replace(self, **{name: value})


def today_in(zone: tzinfo | None, now_ms: int) -> date:
    """The calendar day ``now_ms`` falls on in ``zone`` (None: the machine's zone)."""
    return datetime.fromtimestamp(now_ms / 1000, tz=zone).date() if zone else \
        datetime.fromtimestamp(now_ms / 1000).astimezone().date()


def last_days(count: int, today: date) -> tuple[date, date]:
    """The last ``count`` days, today included."""
    return today - timedelta(days=count - 1), today


def parse_range(text: str) -> tuple[date, date]:
    """Two typed dates (any of "A B", "A to B", "A..B", "A – B"); raises ValueError in words."""
    typed = text.strip()
    spaced = typed.replace(" - ", " ")  # "A - B": a dash between spaces separates too
    if not typed:
        raise ValueError(f"No dates given. {DATE_HOW}")
    parts = [part for part in _SEPARATORS.split(spaced) if part]
    if len(parts) != 2:
        raise ValueError(f"“{typed}” is not two dates. {DATE_HOW}")
    first, last = (_parse_day(part) for part in parts)
    if last < first:
        raise ValueError(f"{last.isoformat()} is before {first.isoformat()}: the range must "
                         "start first.")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise ValueError(f"That is {days} days; a report covers at most {MAX_DAYS} days.")
    return first, last


def range_problem(text: str) -> str | None:
    """What is wrong with typed dates, in words, or None when they make a range."""
    try:
        parse_range(text)
    except ValueError as error:
        return str(error)
    return None


def _parse_day(text: str) -> date:
    if not _DATE.fullmatch(text):
        raise ValueError(f"“{text}” is not a date. {DATE_HOW}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"“{text}” is not a date on the calendar. {DATE_HOW}") from None


def range_words(query: ReportQuery) -> str:
    """ "2026-11-24 → 2026-11-30 (7 days)" """
    days = query.days
    return (f"{query.first.isoformat()} → {query.last.isoformat()} "
            f"({days} day{'' if days == 1 else 's'})")


# --- figures in words -----------------------------------------------------------------


def duration_words(ms: int | None) -> str:
    """Business time as an agent reads it: "9m", "2h 10m", "1d 2h"; "—" when not known."""
    return "—" if ms is None else span_in_words(ms)


def percent_words(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def count_words(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def is_empty(report: dict[str, Any]) -> bool:
    """Nothing happened in the range under these filters: no figure worth a chart."""
    totals = report.get("totals") or {}
    csat = report.get("csat") or {}
    return (not any(totals.get(key) for key in ("created", "resolved", "inbound", "outbound",
                                                  "segments"))
            and not csat.get("sent") and not csat.get("rated")
            and not report.get("failures"))


def empty_words(report: dict[str, Any], filters: str) -> str:
    return (f"Nothing to report from {report.get('from')} to {report.get('to')}"
            f"{' for ' + filters if filters else ''}: no tickets were created or resolved, "
            "no texts came in or went out, no surveys were sent and nothing failed.")


# --- tables ---------------------------------------------------------------------------


@dataclass
class Table:
    """A table as rows of words; the first ``numeric`` columns from the right align right."""

    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    right: frozenset[int] = frozenset()  # indexes of columns aligned right (numbers)


def overview_table(report: dict[str, Any]) -> Table:
    totals = report.get("totals") or {}
    first = report.get("first_response") or {}
    resolution = report.get("resolution") or {}
    sla = report.get("sla") or {}
    csat = report.get("csat") or {}
    rows = [
        ["Tickets created", str(totals.get("created", 0))],
        ["Tickets resolved", str(totals.get("resolved", 0))],
        ["Texts in / out", f"{totals.get('inbound', 0)} / {totals.get('outbound', 0)}"],
        ["First response (median · p90)",
         f"{duration_words(first.get('median_ms'))} · {duration_words(first.get('p90_ms'))}"],
        ["Resolution (median · p90)",
         f"{duration_words(resolution.get('median_ms'))} · "
         f"{duration_words(resolution.get('p90_ms'))}"],
        ["SLA met: first response", sla_words(sla.get("first_response") or {})],
        ["SLA met: resolution", sla_words(sla.get("resolution") or {})],
        ["CSAT average", average_words(csat)],
    ]
    return Table(["", ""], rows)


def sla_words(part: dict[str, Any]) -> str:
    met, breached = part.get("met", 0), part.get("breached", 0)
    if not met and not breached:
        return "— (no ticket with a target)"
    return f"{percent_words(part.get('percent'))} ({met} met, {breached} breached)"


def average_words(csat: dict[str, Any]) -> str:
    average = csat.get("average")
    if average is None:
        return "— (no ratings)"
    return f"{average:.2f} of 5 from {count_words(csat.get('rated', 0), 'rating')}"


def per_day_table(report: dict[str, Any], first: str, second: str) -> Table:
    """One row per day of the range (zeros too), and a total."""
    days = report.get("days") or []
    rows = [[_day_label(day["day"]), str(day.get(first, 0)), str(day.get(second, 0))]
            for day in days]
    rows.append(["Total", str(sum(d.get(first, 0) for d in days)),
                 str(sum(d.get(second, 0) for d in days))])
    return Table(["Day", first.capitalize(), second.capitalize()], rows, frozenset({1, 2}))


def _day_label(iso: str, *, short: bool = False) -> str:
    """ "Tue 2026-11-24" ("Tue 11-24" short): the weekday helps read a week's rhythm. """
    return f"{WEEKDAYS[date.fromisoformat(iso).weekday()]} {iso[5:] if short else iso}"


def per_day_summary(report: dict[str, Any], first: str, second: str) -> list[str]:
    """The numbers beside a per-day chart: totals, a daily average, the busiest day."""
    days = report.get("days") or []
    lines = []
    for key in (first, second):
        total = sum(d.get(key, 0) for d in days)
        busiest = max(days, key=lambda d: d.get(key, 0), default=None)
        line = f"{key.capitalize()}: {total}"
        if days:
            line += f", {total / len(days):.1f} a day"
        lines.append(line)
        if busiest and busiest.get(key):
            lines.append(f"  most on {_day_label(busiest['day'], short=True)}: {busiest[key]}")
    return lines


def times_table(report: dict[str, Any]) -> Table:
    sla = report.get("sla") or {}
    rows = []
    for key, label in (("first_response", "First response"), ("resolution", "Resolution")):
        times = report.get(key) or {}
        part = sla.get(key) or {}
        rows.append([label, str(times.get("count", 0)), duration_words(times.get("median_ms")),
                     duration_words(times.get("p90_ms")), str(part.get("met", 0)),
                     str(part.get("breached", 0)), percent_words(part.get("percent"))])
    return Table(["", "Tickets", "Median", "p90", "SLA met", "Breached", "Met %"], rows,
                 frozenset({1, 2, 3, 4, 5, 6}))


def has_times(report: dict[str, Any]) -> bool:
    sla = report.get("sla") or {}
    return any((report.get(key) or {}).get("count") or (sla.get(key) or {}).get("met")
               or (sla.get(key) or {}).get("breached")
               for key in ("first_response", "resolution"))


def csat_table(report: dict[str, Any]) -> Table:
    csat = report.get("csat") or {}
    distribution = csat.get("distribution") or {}
    rated = sum(int(distribution.get(str(score), 0)) for score in range(1, 6))
    rows = []
    for score in range(5, 0, -1):
        count = int(distribution.get(str(score), 0))
        share = f"{100 * count / rated:.0f}%" if rated else "—"
        rows.append([f"{score} {'★' * score}", str(count), share])
    return Table(["Rating", "Ratings", "Share"], rows, frozenset({1, 2}))


def csat_summary(report: dict[str, Any]) -> list[str]:
    csat = report.get("csat") or {}
    return [f"Average: {average_words(csat)}",
            f"Surveys sent: {csat.get('sent', 0)} · rated: {csat.get('rated', 0)}",
            f"Response rate: {percent_words(csat.get('response_rate'))}"]


def failures_table(report: dict[str, Any]) -> Table:
    rows = [[str(f.get("code") or "none"), str(f.get("count", 0)), f.get("title") or "",
             f.get("explanation") or ""] for f in report.get("failures") or []]
    return Table(["Code", "Failed", "What", "Explanation"], rows, frozenset({1}))


def segments_table(report: dict[str, Any]) -> Table:
    rows = []
    for row in report.get("segments") or []:
        price = row.get("segment_price")
        currency = row.get("currency") or ""
        rows.append([row.get("number") or "", row.get("name") or "", str(row.get("messages", 0)),
                     str(row.get("segments", 0)),
                     f"{price} {currency}" if price else "not set",
                     f"{row['cost']} {currency}" if row.get("cost") is not None else "—"])
    return Table(["Number", "Name", "Texts", "Segments", "Price/segment", "Cost"], rows,
                 frozenset({2, 3, 4, 5}))


def cost_summary(report: dict[str, Any]) -> list[str]:
    """Estimated cost per currency, and which numbers have no price (their cost is unknown)."""
    totals: dict[str, float] = {}
    unpriced = []
    for row in report.get("segments") or []:
        if row.get("cost") is None:
            if row.get("segments"):
                unpriced.append(row.get("name") or row.get("number") or "?")
            continue
        currency = row.get("currency") or ""
        totals[currency] = totals.get(currency, 0.0) + float(row["cost"])
    lines = [f"Segments sent: {(report.get('totals') or {}).get('segments', 0)}"]
    lines += [f"Estimated cost: {amount:.2f} {currency}" for currency, amount in totals.items()]
    if unpriced:
        lines.append(f"No segment price for {', '.join(unpriced)} (set it in Admin › Numbers)")
    return lines


def busiest_grid(report: dict[str, Any]) -> list[list[int]]:
    """7 rows (Monday first) of 24 counts; missing rows or hours count as zero."""
    rows = report.get("busiest_hours") or []
    grid = []
    for day in range(7):
        row = list(rows[day]) if day < len(rows) else []
        grid.append([int(row[hour]) if hour < len(row) else 0 for hour in range(24)])
    return grid


def busiest_table(report: dict[str, Any]) -> Table:
    """The heat table turned on its side: an hour per row, a weekday per column."""
    grid = busiest_grid(report)
    rows = [[f"{hour:02d}:00", *(str(grid[day][hour]) for day in range(7))]
            for hour in range(24)]
    return Table(["Hour", *WEEKDAYS], rows, frozenset(range(1, 8)))


def busiest_words(report: dict[str, Any]) -> str:
    grid = busiest_grid(report)
    top = max(((grid[d][h], d, h) for d in range(7) for h in range(24)), default=(0, 0, 0))
    if not top[0]:
        return "No texts came in during this range."
    count, day, hour = top
    return (f"Busiest: {WEEKDAYS[day]} {hour:02d}:00–{(hour + 1) % 24:02d}:00 with "
            f"{count_words(count, 'text')} in")
