"""A report over a range of days: the figures the Reports screen, ``get_report`` and
``smsdesk report`` show, computed by SQL over the counters (core.report_counts) and the
tickets' durations, never by loading rows into Python.

Days and busiest hours are in the requested time zone: each hourly counter belongs to
the local day and hour its bucket starts in (a zone whose offset is not whole hours,
such as Asia/Kolkata, is read to the hour its UTC bucket starts). A range is at most
366 days. Percentiles are nearest-rank (the median of 4 values is the 2nd), in business
ms; a percent, an average or a median is None when there is nothing to count.

The filters (number, group, agent, channel) apply to the counters as the ticket was at
each write, and to the durations as the ticket is now (its number, group, agent and
the channel of its last message).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from core.business_hours import zone_named
from core.db import Conn
from core.dialect import dialect_of
from core.errors import explain
from core.queries import setting
from core.report_counts import HOUR_MS

MAX_DAYS = 366
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 2), dt.date(9998, 12, 30)  # epoch hours stay sane
DAY_METRICS = ("created", "resolved", "inbound", "outbound")
SLA_METRICS = ("fr_met", "fr_breached", "res_met", "res_breached")
CSAT_METRICS = ("csat_sent", "csat_rated", *(f"csat:{r}" for r in range(1, 6)))
CHANNELS = ("sms", "email")
ALL_HOURS = list(range(24))
_EPOCH = dt.date(1970, 1, 1)


class BadReport(ValueError):
    """A report asked for wrongly; the message says what to type, ``field`` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Request:
    """What a report is over: days (inclusive), a zone, and the filters (None: all)."""

    start: dt.date
    end: dt.date
    time_zone: str = "UTC"
    number_id: int | None = None
    group_id: int | None = None
    agent_id: int | None = None
    channel: str | None = None

    def filters(self) -> dict[str, Any]:
        return {"number_id": self.number_id, "group_id": self.group_id,
                "agent_id": self.agent_id, "channel": self.channel}


def request_of(*, start: Any, end: Any, time_zone: Any = None, default_zone: str | None = None,
               number_id: Any = None, group_id: Any = None, agent_id: Any = None,
               channel: Any = None) -> Request:
    """A report's request as typed (dates "YYYY-MM-DD"); BadReport names what is wrong."""
    first, last = _date(start, "from"), _date(end, "to")
    for day, field in ((first, "from"), (last, "to")):
        if not FIRST_DAY <= day <= LAST_DAY:
            raise BadReport(f"{field}: a day from {FIRST_DAY} to {LAST_DAY}", field)
    if last < first:
        raise BadReport(f"the range ends ({last}) before it starts ({first})", "to")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadReport(f"a report covers at most {MAX_DAYS} days; {first} to {last} is"
                        f" {(last - first).days + 1}", "to")
    zone = time_zone if time_zone not in (None, "") else (default_zone or "UTC")
    if not isinstance(zone, str):
        raise BadReport("time_zone is an IANA name such as Europe/London", "time_zone")
    try:
        zone_named(zone)
    except ValueError as unknown:
        raise BadReport(str(unknown), "time_zone") from None
    if channel not in (None, *CHANNELS):
        raise BadReport(f"channel is sms or email, not {channel!r}", "channel")
    ids = {name: _id(value, name) for name, value in
           (("number_id", number_id), ("group_id", group_id), ("agent_id", agent_id))}
    return Request(start=first, end=last, time_zone=zone, channel=channel, **ids)


def _date(typed: Any, field: str) -> dt.date:
    try:
        if not isinstance(typed, str):
            raise ValueError
        return dt.date.fromisoformat(typed.strip())
    except ValueError:
        raise BadReport(f"{field}: type a date as YYYY-MM-DD, such as 2026-11-30",
                        field) from None


def _id(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadReport(f"{field} is a positive whole number", field)
    return value


def report_for(conn: Conn, args: dict[str, Any]) -> dict[str, Any]:
    """The report ``args`` ask for, by the wire's names (``get_report``'s; the CLI's once
    its names are ids), the default zone the desk's setting ``time_zone``; BadReport names
    what is wrong."""
    request = request_of(
        start=args.get("from"), end=args.get("to"), time_zone=args.get("time_zone"),
        default_zone=setting(conn, "time_zone"), number_id=args.get("number_id"),
        group_id=args.get("group_id"), agent_id=args.get("agent_id"),
        channel=args.get("channel"))
    check_filters(conn, request)
    return report(conn, request)


def check_filters(conn: Conn, request: Request) -> None:
    """Refuse a filter naming no number, group or agent (a typo would read as zeros)."""
    for field, table, value in (("number_id", "phone_numbers", request.number_id),
                                ("group_id", "agent_groups", request.group_id),
                                ("agent_id", "agents", request.agent_id)):
        if value is not None and conn.execute(f"SELECT 1 FROM {table} WHERE id = ?",
                                              (value,)).fetchone() is None:
            raise BadReport(f"{field} {value}: no such {field.removesuffix('_id')}", field)


# --- the report -----------------------------------------------------------------------------


def report(conn: Conn, request: Request) -> dict[str, Any]:
    """Every figure of the report, in the wire shape (docs/protocol.md, "Reports")."""
    hours = _Hours.of(request)
    counts = _Counts(conn, request, hours)
    per_day = counts.per_day()
    totals = counts.totals()
    days = [{"day": day.isoformat(), **per_day.get(day, dict.fromkeys(DAY_METRICS, 0))}
            for day in _days(request.start, request.end)]
    return {
        "from": request.start.isoformat(), "to": request.end.isoformat(),
        "time_zone": request.time_zone, "filters": request.filters(),
        "days": days,
        "totals": {**{m: sum(d[m] for d in days) for m in DAY_METRICS},
                   "segments": totals.get("segments", 0)},
        "first_response": _durations(conn, request, hours, "first_responded_at",
                                     "first_response_ms"),
        "resolution": _durations(conn, request, hours, "resolved_at", "resolution_ms"),
        "sla": {"first_response": _compliance(totals, "fr"),
                "resolution": _compliance(totals, "res")},
        "csat": _csat(totals),
        "failures": failures(totals),
        "segments": counts.segments(),
        "busiest_hours": counts.busiest_hours(),
    }


@dataclass(frozen=True, slots=True)
class _Hours:
    """The UTC hour buckets of the range [lo, hi), and the zone's offsets over it:
    (first hour, offset in minutes) from each change on."""

    lo: int
    hi: int
    offsets: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, request: Request) -> _Hours:
        zone = ZoneInfo(request.time_zone)
        start = _midnight_ms(request.start, zone)
        end = _midnight_ms(request.end + dt.timedelta(days=1), zone)
        lo, hi = -(-start // HOUR_MS), -(-end // HOUR_MS)
        return cls(lo, hi, tuple(_offsets(zone, lo // 24 * 24, -(-hi // 24) * 24)))

    @property
    def days(self) -> tuple[int, int]:
        """The UTC days holding the range, as their first hours [first, end)."""
        return self.lo // 24 * 24, -(-self.hi // 24) * 24

    def moved_hours(self) -> list[int]:
        """The UTC hours of day whose local day is not their UTC day, at some offset of
        the range (New York: 0-4; Paris: 22-23; UTC: none)."""
        return [hour for hour in range(24)
                if any(not 0 <= hour * 60 + offset < 1440 for _, offset in self.offsets)]

    def local_minute(self) -> tuple[str, list[int]]:
        """SQL for a bucket's local minute since the epoch, and its parameters."""
        if len(self.offsets) == 1:
            return "(hour * 60 + ?)", [self.offsets[0][1]]
        whens = " ".join("WHEN hour < ? THEN ?" for _ in self.offsets[1:])
        params: list[int] = []
        for (_, offset), (until, _) in zip(self.offsets, self.offsets[1:], strict=False):
            params += [until, offset]
        return f"(hour * 60 + CASE {whens} ELSE ? END)", [*params, self.offsets[-1][1]]


def _midnight_ms(day: dt.date, zone: ZoneInfo) -> int:
    return int(dt.datetime.combine(day, dt.time(), zone).timestamp() * 1000)


def _offset_minutes(zone: ZoneInfo, hour: int) -> int:
    offset = dt.datetime.fromtimestamp(hour * 3600, zone).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def _offsets(zone: ZoneInfo, lo: int, hi: int) -> list[tuple[int, int]]:
    """Where the zone's offset changes within [lo, hi): checked a day apart, and to the
    hour where it differs (zones change at most a few times a year)."""
    found = [(lo, _offset_minutes(zone, lo))]
    for day_start in range(lo, hi, 24):
        day_end = min(day_start + 24, hi) - 1
        if _offset_minutes(zone, day_end) == found[-1][1]:
            continue
        for hour in range(day_start, day_end + 1):
            offset = _offset_minutes(zone, hour)
            if offset != found[-1][1]:
                found.append((hour, offset))
    return found


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


class _Counts:
    """The report's questions to report_counts (core.report_counts): each an index seek per
    metric, number and channel into the scope the filters name; sums over whole UTC days
    read the daily rows and only the range's ragged ends the hourly ones."""

    def __init__(self, conn: Conn, request: Request, hours: _Hours) -> None:
        self.conn, self.request, self.hours = conn, request, hours

    def view(self, channels: list[str] | None = None, *, per_number: bool = False
             ) -> tuple[str, list[str], list[int], list[str]]:
        """(scope, keys, numbers, channels) of the rows holding the figures the filters
        ask for: the narrowest scope that has them. ``channels``: only these (the filter's
        if any, else both); ``per_number``: the figures are wanted number by number."""
        request = self.request
        group, agent = request.group_id, request.agent_id
        wanted = [request.channel] if request.channel else (channels or list(CHANNELS))
        if channels is not None and request.channel is not None:
            wanted = [c for c in wanted if c in channels] or ["-"]
        if agent is not None:
            groups = [group] if group is not None else [0, *_ids(self.conn, "agent_groups")]
            scope, keys = "agent", [f"{agent}:{g}" for g in groups]
        elif group is not None:
            scope, keys = "group", [str(group)]
        elif request.number_id is not None or per_number:
            scope, keys = "all", [""]
        else:  # the unfiltered report too: a row or two an hour
            return "channel", wanted, [0], wanted
        numbers = [request.number_id] if request.number_id is not None else \
            _ids(self.conn, "phone_numbers")
        return scope, keys, numbers, wanted

    def _part(self, view: tuple[str, list[str], list[int], list[str]], scope: str,
              metrics: tuple[str, ...], lo: int, hi: int, of_day: list[int],
              columns: str = "metric, hour, number_id, n", column_params: list[Any] | None = None
              ) -> tuple[str, list[Any]]:
        """One index seek per metric, key, number, channel and hour of day: ``columns`` of
        the rows of ``scope`` in [lo, hi). SQLite seeks each combination of its ``IN``
        lists; PostgreSQL 15 would rather read a metric's whole scope and filter it (its
        planner prices an ``IN`` past the first column of the key as thousands of scans),
        so there each combination drives its own seek, in a nested loop over the lists."""
        _, keys, numbers, channels = view
        if dialect_of(self.conn).name == "postgresql":
            sql = (f"SELECT {columns} FROM unnest(?::text[]) AS m(m_metric)"
                   " CROSS JOIN unnest(?::text[]) AS k(k_key)"
                   " CROSS JOIN unnest(?::bigint[]) AS u(u_number)"
                   " CROSS JOIN unnest(?::text[]) AS c(c_channel)"
                   " CROSS JOIN unnest(?::bigint[]) AS d(d_hour)"
                   " CROSS JOIN LATERAL (SELECT metric, hour, number_id, n FROM report_counts"
                   " WHERE metric = m_metric AND scope = ? AND key = k_key"
                   " AND number_id = u_number AND channel = c_channel AND hour_of_day = d_hour"
                   " AND hour >= ? AND hour < ? OFFSET 0) AS seek")  # OFFSET 0: not merged
            return sql, [*(column_params or []), list(metrics), keys, numbers, channels,
                         of_day, scope, lo, hi]
        sql = (f"SELECT {columns} FROM report_counts"
               f" WHERE metric IN ({_marks(metrics)}) AND scope = ? AND key IN ({_marks(keys)})"
               f" AND number_id IN ({_marks(numbers)}) AND channel IN ({_marks(channels)})"
               f" AND hour_of_day IN ({_marks(of_day)}) AND hour >= ? AND hour < ?")
        return sql, [*(column_params or []), *metrics, scope, *keys, *numbers, *channels,
                     *of_day, lo, hi]

    def _grouped(self, select: str, group: str, parts: list[tuple[str, list[Any]]],
                 params: list[Any] | None = None) -> list[Any]:
        sql = " UNION ALL ".join(part for part, _ in parts)
        return self.conn.execute(
            f"SELECT {select} FROM ({sql}) AS counted GROUP BY {group}",
            [*(params or []), *(value for _, values in parts for value in values)]).fetchall()

    def _rows(self, select: str, metrics: tuple[str, ...], group: str, *,
              hourly: bool = False, params: list[Any] | None = None,
              view: tuple[str, list[str], list[int], list[str]] | None = None) -> list[Any]:
        """``select`` grouped by ``group`` over the counters of ``metrics`` in the range:
        hourly rows throughout (``hourly``: the hour of each matters), else daily rows for
        the whole UTC days and hourly ones for the ragged ends."""
        view = view or self.view()
        scope = view[0]
        lo, hi = self.hours.lo, self.hours.hi
        first_day, last_day = -(-lo // 24) * 24, hi // 24 * 24
        if hourly or first_day >= last_day:
            spans = [(scope, lo, hi, _hours_of_day(lo, hi))]
        else:
            spans = [(f"{scope}.d", first_day, last_day, [0]),
                     (scope, lo, first_day, _hours_of_day(lo, first_day)),
                     (scope, last_day, hi, _hours_of_day(last_day, hi))]
        return self._grouped(select, group, [
            self._part(view, name, metrics, start, end, of_day)
            for name, start, end, of_day in spans if start < end], params)

    def per_day(self) -> dict[dt.date, dict[str, int]]:
        """Each UTC day's daily rows, then the few hours a time zone moves to the day
        before or after taken out of their UTC day and put in their local one (those
        hourly rows read once, summed by UTC and local day)."""
        view = self.view()
        scope = view[0]
        first, end = self.hours.days
        sums: dict[int, dict[str, int]] = {}

        def add(day: int, metric: str, n: int) -> None:
            sums.setdefault(day, dict.fromkeys(DAY_METRICS, 0))[metric] += n

        daily = self._part(view, f"{scope}.d", DAY_METRICS, first, end, [0],
                           "metric, hour / 24 AS day, n")
        for metric, day, n in self._grouped("metric, day, sum(n)", "metric, day", [daily]):
            add(int(day), metric, int(n))
        moved = self.hours.moved_hours()
        if moved:
            minute, params = self.hours.local_minute()
            hourly = self._part(view, scope, DAY_METRICS, first, end, moved,
                                f"metric, hour / 24 AS utc_day, {minute} / 1440 AS local_day,"
                                " n", params)
            for metric, utc_day, local_day, n in self._grouped(
                    "metric, utc_day, local_day, sum(n)", "metric, utc_day, local_day",
                    [hourly]):
                if utc_day != local_day:
                    add(int(utc_day), metric, -int(n))
                    add(int(local_day), metric, int(n))
        return {_EPOCH + dt.timedelta(days=day): figures for day, figures in sums.items()}

    def totals(self) -> dict[str, int]:
        metrics = ("segments", *SLA_METRICS, *CSAT_METRICS, *_failure_metrics(self.conn))
        return {metric: int(n) for metric, n in self._rows("metric, sum(n)", metrics, "metric")}

    def segments(self) -> list[dict[str, Any]]:
        """Per number texts were sent from (so from the number scope when unfiltered)."""
        rows = self._rows("number_id, metric, sum(n)", ("segments", "outbound"),
                          "number_id, metric", view=self.view(["sms"], per_number=True))
        sums: dict[int, dict[str, int]] = {}
        for number_id, metric, n in rows:
            sums.setdefault(int(number_id), {"segments": 0, "outbound": 0})[metric] = int(n)
        if not sums:
            return []
        numbers = {row[0]: row for row in self.conn.execute(
            "SELECT id, e164, friendly_name, segment_price, price_currency FROM phone_numbers"
            f" WHERE id IN ({_marks(list(sums))})", list(sums)).fetchall()}
        out = []
        for number_id in sorted(sums):
            _, e164, name, price, currency = numbers.get(number_id, (number_id, "", "", None,
                                                                      "USD"))
            segments = sums[number_id]["segments"]
            out.append({"number_id": number_id, "number": e164, "name": name,
                        "segments": segments, "messages": sums[number_id]["outbound"],
                        "segment_price": price, "currency": currency,
                        "cost": _cost(price, segments)})
        return out

    def busiest_hours(self) -> list[list[int]]:
        """Inbound texts (or, filtered on email, mails) per weekday (Monday first) and
        local hour."""
        minute, params = self.hours.local_minute()
        grid = [[0] * 24 for _ in range(7)]
        for weekday, hour, n in self._rows(
                f"({minute} / 1440 + 3) % 7 AS weekday, ({minute} / 60) % 24 AS hour_of_day,"
                " sum(n)", ("inbound",), "weekday, hour_of_day", hourly=True,
                params=params + params, view=self.view([self.request.channel or "sms"])):
            grid[int(weekday)][int(hour)] += int(n)
        return grid


def failures(totals: dict[str, int]) -> list[dict[str, Any]]:
    """The failed deliveries by code, most first, in the catalog's words."""
    found = [(int(metric.split(":", 1)[1]), n) for metric, n in totals.items()
             if metric.startswith("failed:") and n]
    found.sort(key=lambda item: (-item[1], item[0]))
    return [{"code": code, "count": n, "title": error.title, "explanation": error.explanation}
            for code, n in found for error in [explain(code or None)]]


def _failure_metrics(conn: Conn) -> list[str]:
    """Every ``failed:<code>`` ever counted, one index seek each (a few codes)."""
    found: list[str] = []
    while True:
        row = conn.execute("SELECT min(metric) FROM report_counts WHERE metric > ?"
                           " AND metric < 'failed;'", (found[-1] if found else "failed:",)
                           ).fetchone()
        if row is None or row[0] is None:
            return found
        found.append(row[0])


def _hours_of_day(lo: int, hi: int) -> list[int]:
    """The UTC hours of day that the hours [lo, hi) fall on: every one from a day on, else
    only theirs (a ragged end of 5 hours is 5 seeks per combination, not 24)."""
    return ALL_HOURS if hi - lo >= 24 else sorted({hour % 24 for hour in range(lo, hi)})


def _marks(values: Any) -> str:
    return ", ".join("?" * len(values))


def _ids(conn: Conn, table: str) -> list[int]:
    return [int(row[0]) for row in conn.execute(f"SELECT id FROM {table}")]


def _cost(price: str | None, segments: int) -> str | None:
    if price is None:
        return None
    cost = (Decimal(price) * segments).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return str(cost)


def _durations(conn: Conn, request: Request, hours: _Hours, at: str,
               ms: str) -> dict[str, Any]:
    """How many, the median and the 90th percentile (nearest rank: the value at rank
    ceil(p × count)). PostgreSQL sorts the range's values once (percentile_disc); SQLite
    walks the index kept in duration order (tickets_first_response, tickets_resolution,
    which hold every filter's column) to the rank, so neither sorts a year's tickets in
    a window function."""
    where = [f"{ms} IS NOT NULL", f"{at} >= ?", f"{at} < ?"]
    params: list[Any] = [hours.lo * HOUR_MS, hours.hi * HOUR_MS]
    columns = {"number_id": "number_id", "group_id": "group_id", "agent_id": "agent_id",
               "channel": "last_channel"}
    for name, value in request.filters().items():
        if value is not None:
            where.append(f"{columns[name]} = ?")
            params.append(value)
    matching = f"FROM tickets WHERE {' AND '.join(where)}"
    if dialect_of(conn).name == "postgresql":
        row = conn.execute(
            f"SELECT count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY {ms}),"
            f" percentile_disc(0.9) WITHIN GROUP (ORDER BY {ms}) {matching}", params).fetchone()
        count = int(row[0])
        median, p90 = (int(row[1]), int(row[2])) if count else (None, None)
        return {"count": count, "median_ms": median, "p90_ms": p90}
    count = int(conn.execute(f"SELECT count(*) {matching}", params).fetchone()[0])

    def ranked(rank: int) -> int:
        return int(conn.execute(f"SELECT {ms} {matching} ORDER BY {ms} LIMIT 1 OFFSET ?",
                                [*params, rank - 1]).fetchone()[0])
    if not count:
        return {"count": 0, "median_ms": None, "p90_ms": None}
    return {"count": count, "median_ms": ranked((count + 1) // 2),
            "p90_ms": ranked((9 * count + 9) // 10)}


def _compliance(totals: dict[str, int], prefix: str) -> dict[str, Any]:
    met, breached = totals.get(f"{prefix}_met", 0), totals.get(f"{prefix}_breached", 0)
    judged = met + breached
    return {"met": met, "breached": breached,
            "percent": round(100 * met / judged, 1) if judged else None}


def _csat(totals: dict[str, int]) -> dict[str, Any]:
    sent, rated = totals.get("csat_sent", 0), totals.get("csat_rated", 0)
    distribution = {str(r): totals.get(f"csat:{r}", 0) for r in range(1, 6)}
    given = sum(distribution.values())
    points = sum(int(r) * n for r, n in distribution.items())
    return {"sent": sent, "rated": rated,
            "response_rate": round(100 * rated / sent, 1) if sent else None,
            "average": round(points / given, 2) if given else None,
            "distribution": distribution}
