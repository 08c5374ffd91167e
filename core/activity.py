"""A ticket's activity history, read from the event log: who changed what, and when.

The event log already holds every change to a ticket, in order, forever, so
the history is a view of it rather than a second record that could disagree.
Since schema 10 a ``ticket.updated`` event carries who made the change (``by``)
and the values before it (``before``); older events lack both and are told
as well as they can be ("someone set status to Resolved").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.csat import history_line
from core.db import Conn
from core.dialect import dialect_of
from core.durations import format_duration
from core.fields import FieldDef, definitions, is_empty, shown_value

#: The events that change a ticket (messages are in its thread, reading is no change).
KINDS = ("ticket.created", "ticket.updated", "note.created", "time.logged", "time.updated",
         "time.deleted", "scenario.applied", "csat.sent", "csat.rated", "csat.commented")
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class Activity:
    """One change, in words: ``who`` did ``what`` at ``at`` (event ``seq``)."""

    seq: int
    at: int
    agent_id: int | None
    who: str
    what: str


@dataclass(frozen=True, slots=True)
class ActivityPage:
    items: tuple[Activity, ...]
    older: int | None  # pass as ``before`` for the next page; None: that was the first change


# The payload of a change that only marked a ticket read or unread: not activity.
UNREAD = '["unread"]'


def ticket_activity(conn: Conn, ticket_id: int, *, before: int | None = None,
                    limit: int = 50) -> ActivityPage:
    """The ticket's changes, newest first, a page at a time (keyset on the event seq)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1-{MAX_PAGE}")
    marks = ", ".join("?" for _ in KINDS)
    dialect = dialect_of(conn)
    only_unread = f"{dialect.json_get('payload', 'changed')} = {dialect.json_literal(UNREAD)}"
    rows = conn.execute(
        f"SELECT seq, at, kind, payload FROM events WHERE ticket_id = ? AND seq < ?"
        f" AND kind IN ({marks}) AND NOT (kind = 'ticket.updated'"
        f" AND {only_unread})"
        f" ORDER BY seq DESC LIMIT ?",
        (ticket_id, before if before is not None else 2**62, *KINDS, limit + 1)).fetchall()
    names = {row[0]: row[1] for row in conn.execute("SELECT id, name FROM agents")}
    groups = {row[0]: row[1] for row in conn.execute("SELECT id, name FROM agent_groups")}
    teller = _Teller(names, groups, {field.key: field for field in definitions(conn)})
    items = [item for row in rows[:limit]
             for item in teller.tell(row[0], row[1], row[2], json.loads(row[3]))]
    older = rows[limit - 1][0] if len(rows) > limit else None
    return ActivityPage(tuple(items), older)


@dataclass(frozen=True, slots=True)
class _Teller:
    names: Mapping[int, str]
    groups: Mapping[int, str]
    fields: Mapping[str, FieldDef]

    def who(self, agent_id: int | None, known: bool = True) -> str:
        if not known:
            return "Someone"
        if agent_id is None:
            return "The desk"
        return self.names.get(agent_id, f"Agent {agent_id}")

    def tell(self, seq: int, at: int, kind: str, payload: Mapping[str, Any]) -> list[Activity]:
        if kind == "ticket.updated":
            by, known = payload.get("by"), "by" in payload
            lines = self.changes(payload)
            if payload.get("by_bot"):  # the SMS bot routed it or saved an answer
                return [Activity(seq, at, None, "The bot", line) for line in lines]
        elif kind == "ticket.created":
            by, known = payload.get("started_by"), True
            if by is None:  # the customer's first text opened it
                contact = payload.get("contact") or {}
                who = contact.get("name") or contact.get("phone") or "The customer"
                return [Activity(seq, at, None, who, "texted in: ticket opened")]
            lines = ["started the conversation"]
        elif kind == "note.created":
            by, known = (payload.get("note") or {}).get("agent_id"), True
            lines = ["added a note"]
        elif kind.startswith("csat."):  # the survey: sent by the desk, answered by SMS
            return [_told_csat(seq, at, kind, payload)]
        elif kind == "scenario.applied":  # its changes follow as events of their own
            by, known = payload.get("agent_id"), True
            lines = [f"ran the scenario {(payload.get('scenario') or {}).get('name', '?')}"]
        else:
            entry = payload.get("time_entry") or {}
            by, known = entry.get("agent_id"), True
            duration = format_duration(int(entry.get("seconds") or 0))
            lines = [{"time.logged": f"logged {duration}",
                      "time.updated": f"changed a time entry ({duration})",
                      "time.deleted": f"deleted a time entry ({duration})"}[kind]]
        who = self.who(by, known)
        return [Activity(seq, at, by, who, line) for line in lines]

    def changes(self, payload: Mapping[str, Any]) -> list[str]:
        after = payload.get("ticket") or {}
        before = payload.get("before")
        lines: list[str] = []
        for name in payload.get("changed") or []:
            if name == "unread":
                continue
            told = _TELLERS.get(name)
            if told is None:
                lines.append(f"changed {name}")
            elif before is None or name not in before:
                lines.extend(told(self, None, after.get(name), False))
            elif before[name] == after.get(name):
                continue  # set to what it already was: nothing changed
            else:
                lines.extend(told(self, before[name], after.get(name), True))
        return lines

    def group(self, group_id: Any) -> str:
        return self.groups.get(group_id, f"group {group_id}") if group_id is not None else "none"

    def agent(self, agent_id: Any) -> str:
        return self.names.get(agent_id, f"agent {agent_id}") if agent_id is not None \
            else "nobody"


def _told_csat(seq: int, at: int, kind: str, payload: Mapping[str, Any]) -> Activity:
    survey = payload.get("survey") or {}
    if kind == "csat.sent":
        return Activity(seq, at, None, "The desk", "sent the satisfaction survey")
    if kind == "csat.commented":
        return Activity(seq, at, None, "The customer",
                        f"commented on the survey: “{survey.get('comment') or ''}”")
    line = history_line(int(payload.get("rating") or 0), payload.get("before"))
    return Activity(seq, at, None, "The customer", line)


def _word(value: Any) -> str:
    return str(value or "").capitalize() or "—"


def _choice(label: str) -> Callable[[_Teller, Any, Any, bool], list[str]]:
    def told(teller: _Teller, old: Any, new: Any, known: bool) -> list[str]:
        if known:
            return [f"set {label} {_word(old)} → {_word(new)}"]
        return [f"set {label} to {_word(new)}"]
    return told


def _group(teller: _Teller, old: Any, new: Any, known: bool) -> list[str]:
    if new is None:
        return ["removed the group" + (f" {teller.group(old)}" if known else "")]
    return [f"moved it to group {teller.group(new)}" + (f" (was {teller.group(old)})"
                                                        if known and old is not None else "")]


def _agent(teller: _Teller, old: Any, new: Any, known: bool) -> list[str]:
    if new is None:
        return ["unassigned it" + (f" from {teller.agent(old)}" if known and old else "")]
    return [f"assigned it to {teller.agent(new)}" + (f" (was {teller.agent(old)})"
                                                     if known and old is not None else "")]


def _tags(teller: _Teller, old: Any, new: Any, known: bool) -> list[str]:
    new_tags = list(new or [])
    if not known:
        return [f"set tags to {', '.join(new_tags)}" if new_tags else "removed every tag"]
    old_tags = list(old or [])
    added = [f"added tag {tag}" for tag in new_tags if tag not in old_tags]
    removed = [f"removed tag {tag}" for tag in old_tags if tag not in new_tags]
    return added + removed


def _subject(teller: _Teller, old: Any, new: Any, known: bool) -> list[str]:
    return [f"changed the subject to “{new}”"]


def _deleted(teller: _Teller, old: Any, new: Any, known: bool) -> list[str]:
    return ["moved it to the Trash" if new else "restored it from the Trash"]


def _custom(teller: _Teller, old: Any, new: Any, known: bool) -> list[str]:
    new = new or {}
    if not known:
        return ["changed its fields"]
    lines = []
    for key, was in (old or {}).items():
        field = teller.fields.get(key)
        label = field.label if field is not None else key
        value = new.get(key)
        if value is None or value == "":
            lines.append(f"cleared {label}")
        elif field is not None and field.kind == "paragraph":
            lines.append(f"changed {label}")
        else:
            earlier = f" (was {shown_value(field, was)})" if not is_empty(was) else ""
            lines.append(f"set {label} to {shown_value(field, value)}{earlier}")
    return lines


_TELLERS: dict[str, Callable[[_Teller, Any, Any, bool], list[str]]] = {
    "status": _choice("status"), "priority": _choice("priority"), "type": _choice("type"),
    "group_id": _group, "agent_id": _agent, "tags": _tags, "subject": _subject,
    "deleted": _deleted, "custom_fields": _custom,
}


def response_times(conn: Conn, ticket_id: int) -> dict[str, int | None]:
    """When an agent first answered (an agent's reply, not an automatic one) and when the
    customer last wrote: each one index walk from the right end of the ticket's thread."""
    first = conn.execute(
        "SELECT created_at FROM entries WHERE ticket_id = ? AND kind = 'message'"
        " AND direction = 'outbound' AND author_agent_id IS NOT NULL ORDER BY id LIMIT 1",
        (ticket_id,)).fetchone()
    last = conn.execute(
        "SELECT created_at FROM entries WHERE ticket_id = ? AND kind = 'message'"
        " AND direction = 'inbound' ORDER BY id DESC LIMIT 1", (ticket_id,)).fetchone()
    return {"first_response_at": first[0] if first else None,
            "last_customer_at": last[0] if last else None}
