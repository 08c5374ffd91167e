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
from core.errors import explain
from core.report_counts import HOUR_MS

MAX_DAYS = 366
DAY_METRICS = ("created", "resolved", "inbound", "outbound")
SLA_METRICS = ("fr_met", "fr_breached", "res_met", "res_breached")
CSAT_METRICS = ("csat_sent", "csat_rated", *(f"csat:{r}" for r in range(1, 6)))
CHANNELS = ("sms", "email")
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
        "failures": counts.failures(),
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
        return cls(lo, hi, tuple(_offsets(zone, lo, hi)))

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
    """The report's questions to report_counts: each one range of its key per metric."""

    def __init__(self, conn: Conn, request: Request, hours: _Hours) -> None:
        self.conn, self.request, self.hours = conn, request, hours
        where = ["hour >= ?", "hour < ?"]
        self.params: list[Any] = [hours.lo, hours.hi]
        for name, value in request.filters().items():
            if value is not None:
                where.append(f"{name} = ?")
                self.params.append(value)
        self.where = " AND ".join(where)

    def _rows(self, select: str, metrics: tuple[str, ...], group: str,
              params: list[Any] | None = None, extra: str = "") -> list[Any]:
        marks = ", ".join("?" * len(metrics))
        return self.conn.execute(
            f"SELECT {select} FROM report_counts WHERE metric IN ({marks}) AND {self.where}"
            f"{extra} GROUP BY {group}",
            [*(params or []), *metrics, *self.params]).fetchall()

    def per_day(self) -> dict[dt.date, dict[str, int]]:
        minute, params = self.hours.local_minute()
        found: dict[dt.date, dict[str, int]] = {}
        for metric, day, n in self._rows(f"metric, {minute} / 1440 AS day, sum(n)",
                                         DAY_METRICS, "metric, day", params):
            date = _EPOCH + dt.timedelta(days=int(day))
            found.setdefault(date, dict.fromkeys(DAY_METRICS, 0))[metric] = int(n)
        return found

    def totals(self) -> dict[str, int]:
        metrics = ("segments", *SLA_METRICS, *CSAT_METRICS)
        return {metric: int(n) for metric, n in self._rows("metric, sum(n)", metrics, "metric")}

    def failures(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT metric, sum(n) FROM report_counts WHERE metric >= 'failed:'"
            f" AND metric < 'failed;' AND {self.where} GROUP BY metric",
            self.params).fetchall()
        found = [(int(metric.split(":", 1)[1]), int(n)) for metric, n in rows if int(n)]
        found.sort(key=lambda item: (-item[1], item[0]))
        return [{"code": code, "count": n, "title": error.title,
                 "explanation": error.explanation}
                for code, n in found for error in [explain(code or None)]]

    def segments(self) -> list[dict[str, Any]]:
        rows = self._rows("number_id, metric, sum(n)", ("segments", "outbound"),
                          "number_id, metric", extra=" AND channel = 'sms'")
        sums: dict[int, dict[str, int]] = {}
        for number_id, metric, n in rows:
            sums.setdefault(int(number_id), {"segments": 0, "outbound": 0})[metric] = int(n)
        if not sums:
            return []
        marks = ", ".join("?" * len(sums))
        numbers = {row[0]: row for row in self.conn.execute(
            "SELECT id, e164, friendly_name, segment_price, price_currency FROM phone_numbers"
            f" WHERE id IN ({marks})", list(sums)).fetchall()}
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
        extra = "" if self.request.channel else " AND channel = 'sms'"
        for weekday, hour, n in self._rows(
                f"({minute} / 1440 + 3) % 7 AS weekday, ({minute} / 60) % 24 AS hour_of_day,"
                " sum(n)", ("inbound",), "weekday, hour_of_day", params + params, extra):
            grid[int(weekday)][int(hour)] += int(n)
        return grid


def _cost(price: str | None, segments: int) -> str | None:
    if price is None:
        return None
    cost = (Decimal(price) * segments).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return str(cost)


def _durations(conn: Conn, request: Request, hours: _Hours, at: str,
               ms: str) -> dict[str, Any]:
    """How many, the median and the 90th percentile (nearest rank), in one query."""
    where = [f"{at} >= ?", f"{at} < ?", f"{ms} IS NOT NULL"]
    params: list[Any] = [hours.lo * HOUR_MS, hours.hi * HOUR_MS]
    columns = {"number_id": "number_id", "group_id": "group_id", "agent_id": "agent_id",
               "channel": "last_channel"}
    for name, value in request.filters().items():
        if value is not None:
            where.append(f"{columns[name]} = ?")
            params.append(value)
    row = conn.execute(
        "SELECT count(*), max(CASE WHEN rn = (c + 1) / 2 THEN v END),"
        " max(CASE WHEN rn = (9 * c + 9) / 10 THEN v END) FROM ("
        f" SELECT {ms} AS v, row_number() OVER (ORDER BY {ms}) AS rn, count(*) OVER () AS c"
        f" FROM tickets WHERE {' AND '.join(where)}) AS ranked", params).fetchone()
    count = int(row[0])
    return {"count": count,
            "median_ms": int(row[1]) if count else None,
            "p90_ms": int(row[2]) if count else None}


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
