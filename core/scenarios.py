"""Scenarios: an admin's named sequence of ticket actions, run on many tickets at once.

A definition is checked here before it is stored (so a bad one changes nothing), and a
run applies every action of the scenario to one ticket inside a savepoint: all of them
or none. Each ticket's outcome is recorded under the run's command id in the same
transaction, so a resent run answers for the tickets already done and does them no
second time. The actions call the very writes ``set_ticket`` and ``add_note`` use; a
canned reply is handed to ``send`` (the relay's preflight and outbox).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core import records
from core.canned import response_by_id, usable_by
from core.db import Conn
from core.models import Media, Priority, TicketStatus
from core.placeholders import fill, values_for
from core.writes import (
    Conflict,
    NotFound,
    StoreError,
    WriteContext,
    add_note,
    agent_by_id,
    contact_by_id,
    number_by_id,
    ticket_by_id,
    update_ticket,
)

MAX_NAME_CHARS = 80
MAX_ACTIONS = 20
MAX_TAGS = 20
MAX_TAG_CHARS = 40
MAX_NOTE_CHARS = 5000
MAX_TYPE_CHARS = 50
MAX_FIELD_VALUE_CHARS = 500
MAX_TICKETS_PER_RUN = 500
SETTABLE = ("status", "priority", "type", "group", "agent")
_FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")

#: Sends one reply on a ticket (the relay's preflight, then the outbox); raises StoreError.
Send = Callable[[WriteContext, int, int, str, tuple[Media, ...]], Any]


@dataclass(frozen=True, slots=True)
class Scenario:
    id: int
    name: str
    actions: tuple[dict[str, Any], ...]


class BadScenario(StoreError):
    """A definition that cannot be stored, in words."""


# --- checking a definition ------------------------------------------------------------


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadScenario("a scenario needs a name")
    if len(name.strip()) > MAX_NAME_CHARS:
        raise BadScenario(f"a scenario's name is at most {MAX_NAME_CHARS} characters")
    return name.strip()


def check_actions(actions: Any) -> tuple[dict[str, Any], ...]:
    """Every action well formed, or BadScenario saying which one (numbered from 1) and why."""
    if not isinstance(actions, list) or not actions:
        raise BadScenario("a scenario needs at least one action")
    if len(actions) > MAX_ACTIONS:
        raise BadScenario(f"a scenario has at most {MAX_ACTIONS} actions")
    checked = []
    for number, action in enumerate(actions, start=1):
        try:
            checked.append(check_action(action))
        except BadScenario as error:
            raise BadScenario(f"action {number}: {error}") from None
    if sum(1 for action in checked if "canned" in action) > 1:
        raise BadScenario("a scenario sends at most one canned reply")
    return tuple(checked)


def check_action(action: Any) -> dict[str, Any]:
    if not isinstance(action, dict) or not action:
        raise BadScenario("an action is an object such as {\"set\": \"status\", ...}")
    if "set" in action:
        return _check_set(action)
    if "field" in action:
        return _check_field(action)
    if len(action) != 1:
        raise BadScenario(f"unexpected {', '.join(sorted(action))}")
    kind, value = next(iter(action.items()))
    if kind in ("tags_add", "tags_remove"):
        return {kind: _check_tags(value)}
    if kind == "note":
        if not isinstance(value, str) or not value.strip():
            raise BadScenario("a note needs some text")
        if len(value) > MAX_NOTE_CHARS:
            raise BadScenario(f"a note is at most {MAX_NOTE_CHARS} characters")
        return {"note": value}
    if kind == "canned":
        if not _is_id(value):
            raise BadScenario("canned takes the id of a canned response")
        return {"canned": value}
    raise BadScenario(f"unknown action {kind!r}")


def _check_set(action: dict[str, Any]) -> dict[str, Any]:
    if set(action) != {"set", "value"}:
        raise BadScenario("set takes a value")
    what, value = action["set"], action["value"]
    if what not in SETTABLE:
        raise BadScenario(f"set one of {', '.join(SETTABLE)}, not {what!r}")
    try:
        if what == "status":
            value = TicketStatus(value).value
        elif what == "priority":
            value = Priority(value).value
    except ValueError:
        raise BadScenario(f"{value!r} is not a ticket {what}") from None
    if what == "type" and (not isinstance(value, str) or len(value) > MAX_TYPE_CHARS):
        raise BadScenario(f"a type is text of at most {MAX_TYPE_CHARS} characters")
    if what in ("group", "agent") and value is not None and not _is_id(value):
        raise BadScenario(f"set {what} takes an id (or null for none)")
    return {"set": what, "value": value}


def _check_field(action: dict[str, Any]) -> dict[str, Any]:
    if set(action) != {"field", "value"}:
        raise BadScenario("a custom field action is {\"field\": key, \"value\": ...}")
    key, value = action["field"], action["value"]
    if not isinstance(key, str) or not _FIELD_KEY.fullmatch(key):
        raise BadScenario("a custom field's key is lower-case letters, digits and _")
    if not _is_field_value(value):
        raise BadScenario("a custom field's value is text (at most "
                          f"{MAX_FIELD_VALUE_CHARS} characters), a number, yes/no, or a list"
                          f" of up to {MAX_TAGS} of those")
    return {"field": key, "value": value}


def _is_field_value(value: Any, *, in_list: bool = False) -> bool:
    if isinstance(value, list) and not in_list:
        return len(value) <= MAX_TAGS and all(_is_field_value(v, in_list=True) for v in value)
    if isinstance(value, str):
        return len(value) <= MAX_FIELD_VALUE_CHARS
    return value is None or isinstance(value, bool | int | float)


def _check_tags(tags: Any) -> list[str]:
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise BadScenario("tags are a list of words")
    cleaned = list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))
    if not cleaned or len(cleaned) > MAX_TAGS:
        raise BadScenario(f"name 1-{MAX_TAGS} tags")
    if any(len(tag) > MAX_TAG_CHARS for tag in cleaned):
        raise BadScenario(f"a tag is at most {MAX_TAG_CHARS} characters")
    return cleaned


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def describe(action: Mapping[str, Any]) -> str:
    """An action in a few words, for pickers and summaries."""
    if "set" in action:
        value = action["value"]
        return f"set {action['set']} to {value if value is not None else 'none'}"
    if "field" in action:
        return f"set field {action['field']} to {action['value']}"
    if "tags_add" in action:
        return "add tags " + ", ".join(action["tags_add"])
    if "tags_remove" in action:
        return "remove tags " + ", ".join(action["tags_remove"])
    if "note" in action:
        text = str(action["note"])
        return "add note: " + (text if len(text) <= 40 else text[:39] + "…")
    return f"send canned reply #{action.get('canned')}"


# --- storing --------------------------------------------------------------------------


def _scenario_from_row(row: sqlite3.Row) -> Scenario:
    return Scenario(row["id"], row["name"], tuple(json.loads(row["actions"])))


def scenarios(conn: Conn) -> list[Scenario]:
    rows = conn.execute("SELECT * FROM scenarios ORDER BY name COLLATE NOCASE, id")
    return [_scenario_from_row(row) for row in rows]


def scenario_by_id(conn: Conn, scenario_id: int) -> Scenario:
    row = conn.execute("SELECT * FROM scenarios WHERE id = ?", (scenario_id,)).fetchone()
    if row is None:
        raise NotFound(f"scenario {scenario_id} does not exist")
    return _scenario_from_row(row)


def save_scenario(ctx: WriteContext, *, scenario_id: int | None, name: str,
                  actions: Sequence[Any]) -> Scenario:
    """Create or replace a scenario (admins only: the relay checks, in this transaction).

    Its canned reply must be a shared response: a scenario is everyone's.
    """
    name = check_name(name)
    checked = check_actions(list(actions))
    for number, action in enumerate(checked, start=1):
        _require_target(ctx.conn, number, action)
    taken = ctx.conn.execute("SELECT id FROM scenarios WHERE name = ? COLLATE NOCASE",
                             (name,)).fetchone()
    if taken is not None and taken["id"] != scenario_id:
        raise Conflict(f"there is already a scenario called {name}")
    text = json.dumps(list(checked), separators=(",", ":"))
    if scenario_id is None:
        scenario_id = ctx.conn.execute(
            "INSERT INTO scenarios(name, actions, created_at, updated_at) VALUES (?, ?, ?, ?)"
            " RETURNING id", (name, text, ctx.now, ctx.now)).fetchone()[0]
    else:
        scenario_by_id(ctx.conn, scenario_id)
        ctx.conn.execute("UPDATE scenarios SET name = ?, actions = ?, updated_at = ?"
                         " WHERE id = ?", (name, text, ctx.now, scenario_id))
    scenario = scenario_by_id(ctx.conn, scenario_id)
    ctx.emit("scenarios.updated", None, {"scenario": records.to_wire(scenario)})
    return scenario


def _require_target(conn: Conn, number: int, action: Mapping[str, Any]) -> None:
    """What an action names exists now: a group, an agent, a shared canned response."""
    if "canned" in action and response_by_id(conn, action["canned"]).personal:
        raise BadScenario(f"action {number}: a scenario's canned reply must be a shared one")
    table = {"group": "agent_groups", "agent": "agents"}.get(action.get("set", ""))
    if table is not None and action["value"] is not None and conn.execute(
            f"SELECT 1 FROM {table} WHERE id = ?", (action["value"],)).fetchone() is None:
        raise BadScenario(f"action {number}: {action['set']} {action['value']} does not exist")


def delete_scenario(ctx: WriteContext, *, scenario_id: int) -> dict[str, Any]:
    scenario_by_id(ctx.conn, scenario_id)
    ctx.conn.execute("DELETE FROM scenarios WHERE id = ?", (scenario_id,))
    ctx.emit("scenarios.updated", None, {"deleted": scenario_id})
    return {"deleted": scenario_id}


# --- running --------------------------------------------------------------------------


def check_ticket_ids(ticket_ids: Sequence[int]) -> list[int]:
    """The run's tickets, each once, in the order given: 1 to 500 of them."""
    ids = list(dict.fromkeys(ticket_ids))
    if not ids:
        raise StoreError("name at least one ticket")
    if len(ids) > MAX_TICKETS_PER_RUN:
        raise StoreError(f"a scenario runs on at most {MAX_TICKETS_PER_RUN} tickets at once")
    return ids


def run_on_ticket(ctx: WriteContext, *, scenario: Scenario, ticket_id: int, agent_id: int,
                  command_id: str, send: Send, bulk: bool = False) -> dict[str, Any]:
    """Apply every action to one ticket, or none of them; recorded under ``command_id``.

    ``bulk``: the scenario runs on several tickets at once (a resolve then sends the
    CSAT survey only when the number surveys bulk changes).

    A refusal (a closed door like an opted-out customer, a missing ticket) rolls back
    this ticket's actions only, and is recorded too: a resend answers the same.
    """
    done = ctx.conn.execute(
        "SELECT result FROM scenario_runs WHERE agent_id = ? AND command_id = ?"
        " AND ticket_id = ?", (agent_id, command_id, ticket_id)).fetchone()
    if done is not None:
        return dict(json.loads(done["result"]))
    mark = len(ctx.events)
    ctx.conn.execute("SAVEPOINT scenario_ticket")
    try:
        for action in scenario.actions:
            _apply(ctx, action, ticket_id=ticket_id, agent_id=agent_id, send=send, bulk=bulk)
        ctx.emit("scenario.applied", ticket_id,
                 {"scenario": {"id": scenario.id, "name": scenario.name},
                  "agent_id": agent_id,
                  "actions": [describe(action) for action in scenario.actions]})
        result: dict[str, Any] = {"ticket_id": ticket_id, "ok": True}
    except StoreError as error:
        ctx.conn.execute("ROLLBACK TO scenario_ticket")
        del ctx.events[mark:]  # none of this ticket's changes happened
        result = {"ticket_id": ticket_id, "ok": False, "refused": str(error)}
    ctx.conn.execute("RELEASE scenario_ticket")
    ctx.conn.execute(
        "INSERT INTO scenario_runs(agent_id, command_id, ticket_id, result) VALUES (?, ?, ?, ?)",
        (agent_id, command_id, ticket_id, json.dumps(result)))
    return result


def _apply(ctx: WriteContext, action: Mapping[str, Any], *, ticket_id: int, agent_id: int,
           send: Send, bulk: bool) -> None:
    ticket = ticket_by_id(ctx.conn, ticket_id)
    if ticket.deleted:
        raise StoreError(f"ticket #{ticket_id} is in the Trash")
    if "set" in action:
        column = {"group": "group_id", "agent": "agent_id"}.get(action["set"], action["set"])
        update_ticket(ctx, ticket_id, by=agent_id, bulk=bulk, **{column: action["value"]})
    elif "field" in action:  # only the field named: the others keep their values as they are
        update_ticket(ctx, ticket_id, by=agent_id,
                      custom_fields={action["field"]: action["value"]})
    elif "tags_add" in action:
        update_ticket(ctx, ticket_id, by=agent_id, tags=[*ticket.tags, *action["tags_add"]])
    elif "tags_remove" in action:
        gone = {tag.casefold() for tag in action["tags_remove"]}
        update_ticket(ctx, ticket_id, by=agent_id,
                      tags=[t for t in ticket.tags if t.casefold() not in gone])
    elif "note" in action:
        add_note(ctx, ticket_id=ticket_id, agent_id=agent_id, body=action["note"])
    elif "canned" in action:
        response = usable_by(ctx.conn, action["canned"], agent_id)
        filled = fill(response.body, placeholder_values(ctx.conn, ticket_id, agent_id))
        if filled.missing:
            names = ", ".join(dict.fromkeys("{{" + p.name + "}}" for p in filled.missing))
            raise StoreError(f"the canned reply needs {names}, which this ticket has no value for")
        send(ctx, agent_id, ticket_id, filled.text, response.media)


def placeholder_values(conn: Conn, ticket_id: int, agent_id: int) -> dict[str, str]:
    """What the placeholders stand for on this ticket, for this agent."""
    ticket = ticket_by_id(conn, ticket_id)
    contact = contact_by_id(conn, ticket.contact_id)
    return values_for(contact_name=contact.name, agent_name=agent_by_id(conn, agent_id).name,
                      ticket_id=ticket.id,
                      business_number=number_by_id(conn, ticket.number_id).e164,
                      custom_fields=ticket.custom_fields)
