"""The bot's rows (schema 15): flows per business number, business hours, and sessions.

Reads and writes only; the rules live in pure core (core.bot_flow checks a flow,
core.business_hours a calendar, core.bot_engine decides a turn). A flow is checked twice
on save: on its own (``parse_flow``: syntax, references, texts) and against the number
and the desk (``problems_for_number``: an SMS-only number sends text only, group names
and field keys must exist), so the relay never runs a flow it could not carry out as
written. Each save counts the version up by one: the relay caches parsed flows by
(number, version), so a save is seen by the next inbound text without asking twice.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from core import fields, queries
from core.bot_flow import FlowInvalid, Problem, parse_flow, problems_for_number
from core.business_hours import Calendar, calendar_from_dict, calendar_to_dict
from core.db import Conn
from core.models import PhoneNumber
from core.writes import NotFound, StoreError, WriteContext, execute_unread, number_by_id

Scope = Literal["number", "group"]
SCOPES: tuple[Scope, ...] = ("number", "group")


class FlowRefused(StoreError):
    """A flow the number cannot run: its problems, one per line, in an admin's words."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def problem_to_wire(problem: Problem) -> dict[str, Any]:
    return {"line": problem.line, "where": problem.where, "message": problem.message}


# --- flows ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredFlow:
    """A number's flow as saved: what the relay runs when ``enabled``."""

    number_id: int
    enabled: bool
    source: str
    version: int
    updated_at: int
    updated_by: int | None


@dataclass(frozen=True, slots=True)
class FlowRow:
    """One line of the admins' Bot tab: a number, and its flow if it has one."""

    number_id: int
    e164: str
    mms: bool
    enabled: bool
    source: str | None
    version: int
    problems: tuple[Problem, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"number_id": self.number_id, "e164": self.e164, "mms": self.mms,
                "enabled": self.enabled, "source": self.source, "version": self.version,
                "problems": [problem_to_wire(p) for p in self.problems]}


def stored_flow(conn: Conn, number_id: int) -> StoredFlow | None:
    row = conn.execute("SELECT * FROM bot_flows WHERE number_id = ?", (number_id,)).fetchone()
    if row is None:
        return None
    return StoredFlow(number_id=row["number_id"], enabled=bool(row["enabled"]),
                      source=row["source"], version=row["version"],
                      updated_at=row["updated_at"], updated_by=row["updated_by"])


@dataclass(frozen=True, slots=True)
class BotOnTicket:
    """What the bot needs for one inbound text, read in one query: its flow's version and
    when it was saved (the relay's cache key: the time goes with the version so that a
    database restored from an older copy, its versions counted again, never meets a
    cached parse of another text under the same version), where the ticket's
    conversation stands (a Session's JSON; None: not started), the ticket's hours, and
    how many texts the bot queued on the ticket since ``bot_texts_since`` (the loop guard)."""

    version: tuple[int, int]
    state: str | None
    calendar: Calendar | None
    bot_texts_lately: int = 0


def bot_for_ticket(conn: Conn, number_id: int, ticket_id: int, group_id: int | None, *,
                   bot_texts_since: int = 0) -> BotOnTicket | None:
    """None when the number's bot is off or absent: the one probe every inbound text pays
    (the sub-queries run only for a number whose bot is on)."""
    row = conn.execute(
        "SELECT f.version, f.updated_at,"
        " (SELECT state FROM bot_sessions WHERE ticket_id = ?1) AS state,"
        " (SELECT calendar FROM business_hours WHERE (scope = 'number' AND scope_id = ?2)"
        "  OR (scope = 'group' AND scope_id = ?3) ORDER BY scope DESC LIMIT 1) AS calendar,"
        " (SELECT count(*) FROM entries WHERE ticket_id = ?1 AND by_bot <> 0"
        "  AND created_at > ?4) AS bot_texts"
        " FROM bot_flows f WHERE f.number_id = ?2 AND f.enabled <> 0",
        (ticket_id, number_id, group_id if group_id is not None else -1,
         bot_texts_since)).fetchone()
    if row is None:
        return None
    calendar = _calendar_from_json(row["calendar"]) if row["calendar"] is not None else None
    return BotOnTicket((int(row["version"]), int(row["updated_at"])), row["state"], calendar,
                       int(row["bot_texts"]))


@functools.lru_cache(maxsize=256)
def _calendar_from_json(text: str) -> Calendar:
    """A stored calendar, checked once per distinct text (it is read on every inbound)."""
    return calendar_from_dict(json.loads(text))


def flow_source(conn: Conn, number_id: int) -> str | None:
    row = conn.execute("SELECT source FROM bot_flows WHERE number_id = ?",
                       (number_id,)).fetchone()
    return None if row is None else str(row[0])


def bot_flows(conn: Conn) -> list[FlowRow]:
    """Every number of the desk with its flow (or none), each flow checked again against
    the desk as it is now: a group renamed since the save shows up here."""
    stored = {row["number_id"]: row for row in conn.execute("SELECT * FROM bot_flows")}
    groups, field_keys = _desk_names(conn)
    rows = []
    for number in queries.numbers(conn):
        row = stored.get(number.id)
        problems: tuple[Problem, ...] = ()
        if row is not None:
            problems = tuple(_problems_of(row["source"], number, groups, field_keys))
        rows.append(FlowRow(
            number_id=number.id, e164=number.e164, mms=number.mms,
            enabled=bool(row["enabled"]) if row is not None else False,
            source=row["source"] if row is not None else None,
            version=int(row["version"]) if row is not None else 0, problems=problems))
    return rows


def flow_row(conn: Conn, number_id: int) -> FlowRow:
    for row in bot_flows(conn):
        if row.number_id == number_id:
            return row
    raise NotFound(f"number #{number_id} not found")


def _desk_names(conn: Conn) -> tuple[list[str], list[str]]:
    groups = [g.name for g in queries.groups(conn)]
    keys = [f.key for f in fields.definitions(conn) if not f.retired]
    return groups, keys


def _problems_of(source: str, number: PhoneNumber, groups: list[str],
                 field_keys: list[str]) -> list[Problem]:
    try:
        flow = parse_flow(source)
    except FlowInvalid as invalid:
        return list(invalid.problems)
    return sorted(problems_for_number(flow, mms=number.mms, groups=groups, fields=field_keys,
                                      source=source), key=lambda p: p.line or 0)


def save_flow(ctx: WriteContext, *, number_id: int, source: str, enabled: bool | None = None,
              by: int | None = None) -> FlowRow:
    """Store the number's flow as written (export gives back these very bytes), its
    version one up; refused with every problem when it does not parse or does not fit the
    number. ``enabled`` None keeps the on/off state (a new flow starts off)."""
    number = number_by_id(ctx.conn, number_id)
    groups, field_keys = _desk_names(ctx.conn)
    problems = _problems_of(source, number, groups, field_keys)
    if problems:
        raise FlowRefused(problems)
    before = stored_flow(ctx.conn, number_id)
    on = enabled if enabled is not None else (before.enabled if before else False)
    ctx.conn.execute(
        "INSERT INTO bot_flows(number_id, enabled, source, version, updated_at, updated_by)"
        " VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (number_id) DO UPDATE SET"
        " enabled = excluded.enabled, source = excluded.source,"
        " version = bot_flows.version + 1, updated_at = excluded.updated_at,"
        " updated_by = excluded.updated_by",
        (number_id, int(on), source, ctx.now, by))
    ctx.emit("bot.flow_saved", None, {"number_id": number_id})
    return flow_row(ctx.conn, number_id)


def set_enabled(ctx: WriteContext, *, number_id: int, enabled: bool,
                by: int | None = None) -> FlowRow:
    """Turn the number's bot on or off; the flow and its version stay as they are."""
    number_by_id(ctx.conn, number_id)
    if stored_flow(ctx.conn, number_id) is None:
        if not enabled:
            return flow_row(ctx.conn, number_id)
        raise StoreError("this number has no bot flow yet: write or import one first,"
                         " then turn it on")
    if enabled:
        problems = flow_row(ctx.conn, number_id).problems
        if problems:
            raise FlowRefused(list(problems))
    ctx.conn.execute("UPDATE bot_flows SET enabled = ?, updated_at = ?, updated_by = ?"
                     " WHERE number_id = ?", (int(enabled), ctx.now, by, number_id))
    ctx.emit("bot.flow_saved", None, {"number_id": number_id})
    return flow_row(ctx.conn, number_id)


# --- business hours -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HoursRow:
    """A number or group and its hours; ``calendar`` None: open 24x7."""

    scope: Scope
    scope_id: int
    name: str
    calendar: Mapping[str, Any] | None

    def to_wire(self) -> dict[str, Any]:
        return {"scope": self.scope, "scope_id": self.scope_id, "name": self.name,
                "calendar": dict(self.calendar) if self.calendar is not None else None}


def business_hours(conn: Conn) -> list[HoursRow]:
    """Every number (by E.164 and friendly name), then every group, with its hours."""
    saved = {(row["scope"], row["scope_id"]): json.loads(row["calendar"])
             for row in conn.execute("SELECT scope, scope_id, calendar FROM business_hours")}
    rows = [HoursRow("number", n.id, _number_name(n), saved.get(("number", n.id)))
            for n in queries.numbers(conn)]
    rows += [HoursRow("group", g.id, g.name, saved.get(("group", g.id)))
             for g in queries.groups(conn)]
    return rows


def _number_name(number: PhoneNumber) -> str:
    return f"{number.e164} {number.friendly_name}".strip() if number.friendly_name \
        else number.e164


def calendar_of(conn: Conn, scope: Scope, scope_id: int) -> Calendar | None:
    row = conn.execute("SELECT calendar FROM business_hours WHERE scope = ? AND scope_id = ?",
                       (scope, scope_id)).fetchone()
    return None if row is None else calendar_from_dict(json.loads(row[0]))


def calendar_for_ticket(conn: Conn, number_id: int, group_id: int | None) -> Calendar | None:
    """The hours a ticket's customer is told about: its number's, else its group's, else
    none (24x7), in one query."""
    row = conn.execute(
        "SELECT calendar FROM business_hours WHERE (scope = 'number' AND scope_id = ?)"
        " OR (scope = 'group' AND scope_id = ?) ORDER BY scope DESC LIMIT 1",
        (number_id, group_id if group_id is not None else -1)).fetchone()
    return None if row is None else _calendar_from_json(row[0])


def save_hours(ctx: WriteContext, *, scope: str, scope_id: int,
               calendar: Mapping[str, Any] | None) -> HoursRow:
    """Store the hours in their canonical form (None: 24x7, the row goes); refused with
    core.business_hours' words for each field that is wrong."""
    if scope not in SCOPES:
        raise StoreError(f"hours belong to a number or a group, not {scope!r}")
    name = _scope_name(ctx.conn, scope, scope_id)
    if calendar is None:
        ctx.conn.execute("DELETE FROM business_hours WHERE scope = ? AND scope_id = ?",
                         (scope, scope_id))
        saved = None
    else:
        saved = calendar_to_dict(calendar_from_dict(calendar))
        ctx.conn.execute(
            "INSERT INTO business_hours(scope, scope_id, calendar, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (scope, scope_id) DO UPDATE SET"
            " calendar = excluded.calendar, updated_at = excluded.updated_at",
            (scope, scope_id, json.dumps(saved, sort_keys=True), ctx.now))
    ctx.emit("hours.saved", None, {"scope": scope, "scope_id": scope_id})
    return HoursRow(scope, scope_id, name, saved)  # type: ignore[arg-type]


def _scope_name(conn: Conn, scope: str, scope_id: int) -> str:
    if scope == "number":
        return _number_name(number_by_id(conn, scope_id))
    row = conn.execute("SELECT name FROM agent_groups WHERE id = ?", (scope_id,)).fetchone()
    if row is None:
        raise NotFound(f"group #{scope_id} not found")
    return str(row[0])


# --- sessions -------------------------------------------------------------------------


def session_state(conn: Conn, ticket_id: int) -> str | None:
    """The ticket's conversation with the bot as JSON (core.bot_engine.Session), if any."""
    row = conn.execute("SELECT state FROM bot_sessions WHERE ticket_id = ?",
                       (ticket_id,)).fetchone()
    return None if row is None else str(row[0])


def save_session_state(ctx: WriteContext, ticket_id: int, state: str) -> None:
    """Upsert the session; nobody reads the answer, so on PostgreSQL it goes with the next
    statement (one round trip fewer per bot turn)."""
    execute_unread(
        ctx.conn,
        "INSERT INTO bot_sessions(ticket_id, state, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (ticket_id) DO UPDATE SET state = excluded.state,"
        " updated_at = excluded.updated_at", (ticket_id, state, ctx.now))
