"""The reports' counters equal what the rows say.

* After any sequence of writes (texts in, replies, failures, status changes, assignments,
  ratings, mail), the live counters equal a recount over the rows done here in Python
  (resolutions from the events, the only record of a ticket resolved twice), and the
  migration's backfill (core.report_backfill) counts the same.
* The schema 17 migration fills the counters and the durations of a desk written at
  version 16, on SQLite and PostgreSQL, and reports on it as the live counters would.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from conftest import UK, US, Desk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_reports import build, clock, report_of  # noqa: F401

from core import email_writes, report_backfill, reports, schema, sla, sla_writes, writes
from core.models import Role, SenderType, TicketStatus
from core.writes import InboundText, StoreError, WriteContext

HOUR = 3_600_000
TARGET = sla.Target(first_response=HOUR, resolution=6 * HOUR)
Key = tuple[str, int, int, str]  # metric, hour, number, channel


# --- a desk in memory, written to directly -----------------------------------------------


class Memory:
    """A migrated in-memory SQLite desk and its clock: each write its own transaction."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:", isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        schema.migrate(self.conn)
        self.now = 1_790_000_000_000
        self.sids = 0
        account = self.write(writes.add_account, name="Acme", sid="AC" + "1" * 32,
                             auth_token="secret-auth-token-1234")
        self.group = self.write(writes.add_group, "Billing").id
        self.us = self.write(writes.save_number, account_id=account.id, e164=US, mms=True,
                             sender_type=SenderType.TOLL_FREE, country="US",
                             default_group_id=self.group, csat=True).id
        self.uk = self.write(writes.save_number, account_id=account.id, e164=UK,
                             country="GB").id
        self.ada = self.write(writes.add_agent, name="Ada", role=Role.AGENT,
                              token_hash="a" * 64).id
        self.write(sla_writes.save_targets, {p: TARGET for p in sla_writes.PRIORITIES})

    def write(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.conn.execute("BEGIN")
        try:
            done = fn(WriteContext(self.conn, self.now), *args, **kwargs)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return done

    def tickets(self) -> list[int]:
        return [row[0] for row in self.conn.execute("SELECT id FROM tickets ORDER BY id")]

    def apply(self, step: tuple[Any, ...]) -> None:
        kind, minutes, pick, choice = step
        self.now += minutes * 60_000
        tickets = self.tickets()
        ticket = tickets[pick % len(tickets)] if tickets else None
        try:
            if kind == "text" or ticket is None:
                self.sids += 1
                phones = ("+15551230001", "+15551230002", "+15551230003")
                self.write(writes.record_inbound, InboundText(
                    sid=f"SM{self.sids:032x}", to=(US, UK)[choice % 2],
                    from_=phones[pick % 3], body=("hi", "4", "five", "help me")[choice % 4]))
            elif kind == "reply":
                self.write(writes.queue_outbound, ticket_id=ticket,
                           agent_id=(self.ada, None)[choice % 2], body="ok",
                           segments=1 + choice % 3,
                           from_number_id=(None, self.uk)[pick % 2])
            elif kind == "fail":
                last = self.conn.execute(
                    "SELECT max(id) FROM entries WHERE ticket_id = ? AND direction = 'outbound'"
                    " AND channel <> 'email'", (ticket,)).fetchone()[0]
                if last is not None:
                    self.write(writes.mark_failed, last,
                               error_code=(None, 30003, 30007)[choice % 3])
            elif kind == "status":
                status = tuple(TicketStatus)[choice % 4]
                self.write(writes.update_ticket, ticket, by=self.ada, status=status)
            elif kind == "assign":
                self.write(writes.update_ticket, ticket, by=self.ada,
                           agent_id=(self.ada, None)[choice % 2],
                           group_id=(self.group, None)[pick % 2])
            elif kind == "mail":
                self.write(email_writes.record_inbound_email, ticket_id=None,
                           contact_email=f"p{choice % 3}@example.com", body="hello",
                           mail_id=f"<m{self.now}@example.com>")
            elif kind == "mail_reply":
                self.write(email_writes.queue_email_reply, ticket_id=ticket,
                           agent_id=self.ada, body="ok", subject="Re",
                           reply_domain="desk.example.com")
        except StoreError:
            pass  # a write the desk refuses (a mail reply to a contact without an address)

    # --- what the counters say, and what the rows say

    def counters(self, scope: str = "all") -> Counter[Key]:
        found: Counter[Key] = Counter()
        for metric, hour, number, channel, n in self.conn.execute(
                "SELECT metric, hour, number_id, channel, sum(n) FROM report_counts"
                " WHERE scope = ? GROUP BY metric, hour, number_id, channel", (scope,)):
            if n:
                found[(metric, hour, number, channel)] = n
        return found

    def recount(self) -> Counter[Key]:
        """Every figure from the rows, in Python: what the counters must hold."""
        found: Counter[Key] = Counter()
        rows = self.conn.execute
        for ticket in rows("SELECT * FROM tickets"):
            first = rows("SELECT channel FROM entries WHERE ticket_id = ? AND kind = 'message'"
                         " ORDER BY id LIMIT 1", (ticket["id"],)).fetchone()
            found[("created", ticket["created_at"] // HOUR, ticket["number_id"],
                   _channel(first[0] if first else "sms"))] += 1
            if ticket["first_response_ms"] is not None:
                verdict = "fr_met" if ticket["first_response_ms"] <= HOUR else "fr_breached"
                reply = rows("SELECT channel FROM entries WHERE ticket_id = ?"
                             " AND direction = 'outbound' AND author_agent_id IS NOT NULL"
                             " ORDER BY id LIMIT 1", (ticket["id"],)).fetchone()
                found[(verdict, ticket["first_responded_at"] // HOUR, ticket["number_id"],
                       _channel(reply[0]))] += 1
        for entry in rows("SELECT e.*, t.number_id FROM entries e JOIN tickets t"
                          " ON t.id = e.ticket_id WHERE e.kind = 'message'"):
            channel = _channel(entry["channel"])
            number = entry["from_number_id"] or entry["number_id"]
            found[(entry["direction"], entry["created_at"] // HOUR,
                   number if entry["direction"] == "outbound" else entry["number_id"],
                   channel)] += 1
            if entry["direction"] == "outbound" and channel == "sms":
                found[("segments", entry["created_at"] // HOUR, number, "sms")] += \
                    entry["segments"]
            if entry["status"] in ("failed", "undelivered"):
                found[(f"failed:{entry['error_code'] or 0}", entry["updated_at"] // HOUR,
                       number, channel)] += 1
        for survey in rows("SELECT * FROM csat_surveys"):
            found[("csat_sent", survey["sent_at"] // HOUR, survey["number_id"], "sms")] += 1
            if survey["rating"] is not None:
                for metric in ("csat_rated", f"csat:{survey['rating']}"):
                    found[(metric, survey["rated_at"] // HOUR, survey["number_id"], "sms")] += 1
        for event in rows("SELECT at, payload FROM events WHERE kind = 'ticket.updated'"):
            payload = json.loads(event["payload"])
            after, before = payload["ticket"], payload.get("before", {})
            if "status" in before and before["status"] in ("open", "pending") \
                    and after["status"] in ("resolved", "closed"):
                where = (event["at"] // HOUR, after["number_id"], after["last_channel"])
                found[("resolved", *where)] += 1
                met = after["sla_used"] <= TARGET.resolution
                found[("res_met" if met else "res_breached", *where)] += 1
        return +found

    def resolved_twice(self) -> bool:
        resolved = self.counters()
        return sum(n for key, n in resolved.items() if key[0] == "resolved") != \
            self.conn.execute("SELECT count(*) FROM tickets WHERE resolved_at IS NOT NULL"
                              ).fetchone()[0]

    def backfilled(self) -> Counter[Key]:
        """The migration's count of the same rows (the durations recomputed too)."""
        self.conn.execute("BEGIN")
        self.conn.execute("UPDATE tickets SET first_response_ms = NULL, resolution_ms = NULL")
        for statement in report_backfill.statements(report_backfill.CLOCKS
                                                    + report_backfill.RECOUNT):
            self.conn.execute(statement)
        found = self.counters()
        self.conn.execute("ROLLBACK")
        return found


def _channel(channel: str) -> str:
    return "email" if channel == "email" else "sms"


STEPS = st.lists(st.tuples(
    st.sampled_from(("text", "text", "reply", "fail", "status", "status", "assign", "mail",
                     "mail_reply")),
    st.integers(1, 240), st.integers(0, 50), st.integers(0, 11)), min_size=1, max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS)
def test_counters_equal_a_recount_of_the_rows(steps: list[tuple[Any, ...]]) -> None:
    desk = Memory()
    for step in steps:
        desk.apply(step)
    live = desk.counters()
    assert live == desk.recount()
    # every scope holds every figure once (each under the group and agent of its time),
    # the channel scope as every number, the daily twins as their hours
    assert desk.counters("group") == desk.counters("agent") == live
    by_channel: Counter[Key] = Counter()
    daily: Counter[Key] = Counter()
    for (metric, hour, number, channel), n in live.items():
        by_channel[(metric, hour, 0, channel)] += n
        daily[(metric, hour - hour % 24, number, channel)] += n
    assert desk.counters("channel") == +by_channel
    assert desk.counters("all.d") == desk.counters("agent.d") == +daily
    if not desk.resolved_twice():  # the rows keep a ticket's last resolution only
        assert desk.backfilled() == live
    else:
        def unresolved(counts: Counter[Key]) -> Counter[Key]:
            return Counter({k: n for k, n in counts.items()
                            if k[0] not in ("resolved", "res_met", "res_breached")})
        assert unresolved(desk.backfilled()) == unresolved(live)


def test_a_random_long_day_too() -> None:
    """One longer sequence than hypothesis tries, seeded."""
    rng = random.Random(14)
    desk = Memory()
    kinds = ("text", "text", "reply", "fail", "status", "assign", "mail", "mail_reply")
    for _ in range(400):
        desk.apply((rng.choice(kinds), rng.randint(1, 120), rng.randint(0, 99),
                    rng.randint(0, 11)))
    assert desk.counters() == desk.recount()


# --- the migration, on both backends --------------------------------------------------------


async def test_the_backfill_reports_what_the_live_counters_report(
        desk: Desk, clock: list[int]) -> None:  # noqa: F811
    """The hand-computed fixture (tests/test_reports.py): its counters and durations wiped
    and backfilled as the schema 17 migration does give the same report (unfiltered: the
    backfill files each figure under the ticket's group and agent of now)."""
    await build(desk, clock)
    live = await report_of(desk)

    def backfill(ctx: WriteContext) -> None:
        ctx.conn.execute("UPDATE tickets SET first_response_ms = NULL, resolution_ms = NULL")
        for statement in report_backfill.statements(report_backfill.CLOCKS
                                                    + report_backfill.RECOUNT):
            ctx.conn.execute(statement)

    await desk.store.write(backfill)
    assert await report_of(desk) == live


def test_migrating_a_version_16_file_fills_the_counters(tmp_path: Any) -> None:
    """A desk at 16, with rows from before any clock: 17 says when they were answered and
    resolved (wall-clock) and counts them."""
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for version, script in enumerate(schema.MIGRATIONS[:16]):
        conn.execute("BEGIN")
        for statement in schema._statements(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version + 1}")
        conn.execute("COMMIT")
    conn.executescript("""
        INSERT INTO accounts(id, name, sid, auth_token, created_at) VALUES (1, 'A', 'AC1', 't', 0);
        INSERT INTO phone_numbers(id, account_id, e164) VALUES (1, 1, '+18885550100');
        INSERT INTO contacts(id, phone, created_at) VALUES (1, '+15551230001', 0);
        INSERT INTO agents(id, name, role, token_hash, created_at)
            VALUES (7, 'Ada', 'agent', 'h', 0);
        INSERT INTO tickets(id, contact_id, number_id, status, agent_id, created_at, updated_at,
                            last_message_at) VALUES (1, 1, 1, 'resolved', 7, 3600000, 18000000,
                            10800000);
        INSERT INTO entries(ticket_id, kind, direction, channel, created_at, updated_at,
                            status, segments) VALUES
            (1, 'message', 'inbound', 'sms', 3600000, 3600000, 'received', 1),
            (1, 'message', 'outbound', 'sms', 5400000, 9000000, 'undelivered', 2);
        UPDATE entries SET author_agent_id = 7, error_code = 30007 WHERE direction = 'outbound';
        INSERT INTO sla_targets(priority, first_response, resolution, updated_at)
            VALUES ('low', 1000000, 3 * 3600000, 0);
    """)
    schema.migrate(conn)
    ticket = conn.execute("SELECT first_responded_at, first_response_ms, resolved_at,"
                          " resolution_ms FROM tickets").fetchone()
    assert tuple(ticket) == (5400000, 1800000, 18000000, 14400000)
    counts = {(m, h, key): n for m, h, key, n in conn.execute(
        "SELECT metric, hour, key, n FROM report_counts WHERE scope = 'agent'")}
    assert counts == {("created", 1, "7:0"): 1, ("inbound", 1, "7:0"): 1,
                      ("outbound", 1, "7:0"): 1, ("segments", 1, "7:0"): 2,
                      ("failed:30007", 2, "7:0"): 1, ("resolved", 5, "7:0"): 1,
                      ("fr_breached", 1, "7:0"): 1, ("res_breached", 5, "7:0"): 1}
    assert tuple(conn.execute("SELECT count(*), sum(n) FROM report_counts WHERE scope = 'all'"
                              ).fetchone()) == (8, 9)


# --- days and hours in any time zone ----------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(["America/New_York", "Europe/Paris", "Asia/Kolkata",
                        "Australia/Sydney", "UTC"]),
       st.lists(st.integers(0, 12 * 24 * 60), min_size=1, max_size=40))
def test_days_and_hours_match_the_local_clock(zone_name: str, minutes: list[int]) -> None:
    """Texts around a change of clocks (New York and Sydney change in these days): each
    report day and busiest hour counts the texts whose UTC hour starts on it locally."""
    zone = ZoneInfo(zone_name)
    desk = Memory()
    start = int(dt.datetime(2026, 3, 28, tzinfo=dt.UTC).timestamp() * 1000) \
        if zone_name != "America/New_York" else \
        int(dt.datetime(2026, 3, 3, tzinfo=dt.UTC).timestamp() * 1000)
    days: Counter[dt.date] = Counter()
    for k, minute in enumerate(sorted(minutes)):
        desk.now = start + minute * 60_000
        desk.write(writes.record_inbound, InboundText(
            sid=f"SMtz{k:030x}", to=US, from_=f"+1555123{k % 9000:04d}", body="hi"))
        days[dt.datetime.fromtimestamp(desk.now // HOUR * 3600, zone).date()] += 1
    first = dt.datetime.fromtimestamp(start / 1000, zone).date() + dt.timedelta(days=1)
    last = first + dt.timedelta(days=9)
    got = reports.report(desk.conn, reports.request_of(
        start=first.isoformat(), end=last.isoformat(), time_zone=zone_name))
    assert {d["day"]: d["inbound"] for d in got["days"]} == {
        (first + dt.timedelta(days=i)).isoformat(): days[first + dt.timedelta(days=i)]
        for i in range(10)}
    inside = [[0] * 24 for _ in range(7)]
    for minute in minutes:
        at = start + minute * 60_000
        local = dt.datetime.fromtimestamp(at // HOUR * 3600, zone)
        if first <= local.date() <= last:
            inside[local.weekday()][local.hour] += 1
    assert got["busiest_hours"] == inside
    assert got["totals"]["inbound"] == sum(days[first + dt.timedelta(days=i)]
                                           for i in range(10))
