"""The agents' websocket protocol, sans-I/O: text in, typed messages out.

Both ends (the relay and the inbox's client) speak through these functions
and never build JSON by hand, so the protocol lives in one place and is
tested without a socket. Every message is a JSON object with a ``type``.
docs/protocol.md has an example of each.

Client → relay: ``hello`` (once, first), ``command``.
Relay → client: ``welcome``, ``event``, ``events`` (several at once),
``caught_up``, ``result``, ``error``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_VERSION = 1
# Large enough for one email attachment uploaded as base64 (20 MB by default, which
# base64 makes 26.7 MB, plus the command around it); everything else is small: a reply
# of 1,600 characters is about 6 KB.
MAX_MESSAGE_BYTES = 28 * 1024 * 1024
MAX_COMMAND_ID = 64


class ProtocolError(ValueError):
    """A message the other side should not have sent; ``code`` says which kind."""

    def __init__(self, code: str, message: str, command_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.command_id = command_id


# --- commands -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ListOf:
    """A JSON array whose items all have one type."""

    item: type


_INT, _STR, _BOOL, _DICT = int, str, bool, dict
_STRS, _OBJECTS = ListOf(str), ListOf(dict)
_OPT_INT = (int, type(None))
_OPT_STR = (str, type(None))


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """What a command takes: argument name → accepted types, and who may send it."""

    required: Mapping[str, Any]
    optional: Mapping[str, Any] = field(default_factory=dict)
    admin_only: bool = False


COMMANDS: Mapping[str, CommandSpec] = {
    "list_tickets": CommandSpec(
        required={},
        optional={
            "status": _STRS, "group_id": _OPT_INT, "agent_id": _OPT_INT, "unassigned": _BOOL,
            "unread": _BOOL, "text": _OPT_STR, "before": _OPT_STR, "after": _OPT_STR,
            "limit": _INT, "deleted": _BOOL, "overdue": _BOOL,
        },
    ),
    "count_tickets": CommandSpec(
        required={},
        optional={"status": _STRS, "group_id": _OPT_INT, "agent_id": _OPT_INT,
                  "unassigned": _BOOL, "unread": _BOOL, "text": _OPT_STR, "deleted": _BOOL,
                  "overdue": _BOOL},
    ),
    "get_thread": CommandSpec(
        required={"ticket_id": _INT},
        optional={"before": _OPT_STR, "after": _OPT_STR, "limit": _INT},
    ),
    "reply": CommandSpec(
        required={"ticket_id": _INT, "body": _STR},
        # channel: "sms" (the default) or "email" (then subject; no SMS rules apply).
        optional={"media": _OBJECTS, "channel": _STR, "from_number_id": _OPT_INT,
                  "subject": _STR},
    ),
    "retry_reply": CommandSpec(required={"message_id": _INT}),
    "add_note": CommandSpec(required={"ticket_id": _INT, "body": _STR}),
    "set_ticket": CommandSpec(
        required={"ticket_id": _INT},
        optional={"status": _STR, "priority": _STR, "group_id": _OPT_INT, "agent_id": _OPT_INT,
                  "tags": _STRS, "type": _STR, "subject": _STR, "custom_fields": _DICT,
                  "deleted": _BOOL, "bulk": _BOOL},
    ),
    "mark_read": CommandSpec(required={"ticket_id": _INT}),
    "mark_unread": CommandSpec(required={"ticket_id": _INT}),
    "log_time": CommandSpec(required={"ticket_id": _INT, "seconds": _INT},
                            optional={"note": _STR, "billable": _BOOL}),
    "fetch_media": CommandSpec(required={"sha256": _STR}),
    # purpose "email": an email attachment (up to the email limit, any type); else MMS.
    "upload_media": CommandSpec(required={"content_type": _STR, "data": _STR},
                                optional={"filename": _STR, "purpose": _STR}),
    "search": CommandSpec(required={"text": _STR}, optional={"before": _OPT_INT, "limit": _INT}),
    "list_groups": CommandSpec(required={}),
    "list_agents": CommandSpec(required={}),
    "list_numbers": CommandSpec(required={}),
    "list_accounts": CommandSpec(required={}, admin_only=True),
    # Setting the desk up (docs/protocol.md); Twilio auth tokens only ever travel inwards.
    "check_account": CommandSpec(required={"sid": _STR, "token": _STR}, admin_only=True),
    "connect_account": CommandSpec(
        required={"name": _STR, "sid": _STR, "token": _STR, "number_sids": _STRS},
        admin_only=True,
    ),
    "update_account": CommandSpec(
        required={"account_id": _INT},
        optional={"name": _STR, "token": _STR, "geo_permissions": _STRS},
        admin_only=True,
    ),
    "disconnect_account": CommandSpec(required={"account_id": _INT}, admin_only=True),
    "update_number": CommandSpec(
        required={"number_id": _INT},
        optional={"default_group_id": _OPT_INT, "csat": _BOOL, "sender_type": _STR,
                  "a2p_registered": _BOOL, "enabled": _BOOL, "friendly_name": _STR,
                  "csat_text": _STR, "csat_followup": _STR, "csat_window_days": _INT,
                  "csat_bulk": _BOOL, "segment_price": (str, int, float, type(None)),
                  "price_currency": _STR},
        admin_only=True,
    ),
    "repoint_number": CommandSpec(required={"number_id": _INT}, admin_only=True),
    "repoint_all": CommandSpec(required={}, admin_only=True),
    "open_held_texts": CommandSpec(required={"number_id": _INT}, admin_only=True),
    "troubleshoot": CommandSpec(required={}, admin_only=True),
    "add_agent": CommandSpec(required={"name": _STR, "role": _STR},
                             optional={"group_ids": ListOf(int)}, admin_only=True),
    "update_agent": CommandSpec(
        required={"agent_id": _INT},
        optional={"role": _STR, "group_ids": ListOf(int), "disabled": _BOOL},
        admin_only=True,
    ),
    "add_group": CommandSpec(required={"name": _STR}, admin_only=True),
    "rename_group": CommandSpec(required={"group_id": _INT, "name": _STR}, admin_only=True),
    # Not stored: who is looking at or answering which ticket, told to the other agents.
    "presence": CommandSpec(required={"activity": _STR}, optional={"ticket_id": _OPT_INT}),
    # New outbound conversations (issue 10): a new ticket and its first message, at once.
    "start_conversation": CommandSpec(
        required={"to": _STR, "from_number_id": _INT, "body": _STR},
        optional={"media": _OBJECTS},
    ),
    # The Trash (issue 10): one command per set of tickets; purging is for admins.
    "delete_tickets": CommandSpec(required={"ticket_ids": ListOf(int)}),
    "restore_tickets": CommandSpec(required={"ticket_ids": ListOf(int)}),
    "empty_trash": CommandSpec(required={}, admin_only=True),
    "get_trash_retention": CommandSpec(required={}),
    "set_trash_retention": CommandSpec(required={"days": _OPT_INT}, admin_only=True),
    # Time (issue 10): one running timer per agent, kept on the relay; entries edited by
    # their agent (or an admin).
    "start_timer": CommandSpec(required={"ticket_id": _INT}),
    "stop_timer": CommandSpec(required={}),
    "my_timer": CommandSpec(required={}),
    "ticket_time": CommandSpec(required={"ticket_id": _INT}),
    "update_time_entry": CommandSpec(required={"entry_id": _INT},
                                     optional={"seconds": _INT, "note": _STR,
                                               "billable": _BOOL}),
    "delete_time_entry": CommandSpec(required={"entry_id": _INT}),
    # Ticket fields (issue 10): admins define custom fields; every agent reads them, and a
    # ticket's activity history (newest first, a page at a time).
    "list_fields": CommandSpec(required={}),
    "create_field": CommandSpec(required={"label": _STR, "kind": _STR},
                                optional={"choices": _STRS, "required_to_resolve": _BOOL},
                                admin_only=True),
    "update_field": CommandSpec(required={"field_id": _INT},
                                optional={"label": _STR, "choices": _STRS,
                                          "required_to_resolve": _BOOL, "retired": _BOOL},
                                admin_only=True),
    "move_field": CommandSpec(required={"field_id": _INT, "to": _INT}, admin_only=True),
    "ticket_activity": CommandSpec(required={"ticket_id": _INT},
                                   optional={"before": _OPT_INT, "limit": _INT}),
    "ticket_facts": CommandSpec(required={"ticket_id": _INT}),
    # Canned responses and scenarios (issue 10): shared responses and folders are the admins'
    # (checked in the write), personal ones their owner's; scenarios are defined by admins.
    "list_canned": CommandSpec(required={}),
    "save_canned": CommandSpec(required={"title": _STR, "body": _STR},
                               optional={"response_id": _OPT_INT, "folder_id": _OPT_INT,
                                         "personal": _BOOL, "media": _OBJECTS}),
    "delete_canned": CommandSpec(required={"response_id": _INT}),
    "save_canned_folder": CommandSpec(required={"name": _STR},
                                      optional={"folder_id": _OPT_INT}, admin_only=True),
    "delete_canned_folder": CommandSpec(required={"folder_id": _INT}, admin_only=True),
    "list_scenarios": CommandSpec(required={}),
    "save_scenario": CommandSpec(required={"name": _STR, "actions": _OBJECTS},
                                 optional={"scenario_id": _OPT_INT}, admin_only=True),
    "delete_scenario": CommandSpec(required={"scenario_id": _INT}, admin_only=True),
    "run_scenario": CommandSpec(required={"scenario_id": _INT, "ticket_ids": ListOf(int)}),
    # Contacts: the person behind the tickets (server/commands_contacts.py).
    "get_contact": CommandSpec(required={"contact_id": _INT}),
    "update_contact": CommandSpec(required={"contact_id": _INT},
                                  optional={"name": _STR, "email": _STR, "note": _STR}),
    "contact_tickets": CommandSpec(required={"contact_id": _INT},
                                   optional={"before": _OPT_STR, "limit": _INT}),
    # Two contacts who are one person: the second's tickets and phones join the first.
    "merge_contacts": CommandSpec(required={"contact_id": _INT, "merge_contact_id": _INT},
                                  admin_only=True),
    "add_contact_phone": CommandSpec(required={"contact_id": _INT, "phone": _STR}),
    "remove_contact_phone": CommandSpec(required={"contact_id": _INT, "phone": _STR}),
    # Email (server/commands_email.py): the outgoing server's settings are the admins';
    # the SMTP password only ever travels inwards (absent: kept; "" with
    # smtp_password_clear: cleared).
    "get_email_settings": CommandSpec(required={}, admin_only=True),
    "get_email_channel": CommandSpec(required={}),
    "save_email_settings": CommandSpec(required={"changes": _DICT}, admin_only=True),
    "send_test_email": CommandSpec(required={"to": _STR}, admin_only=True),
    # The SMS bot (server/commands_bot.py): flows per business number, as TOML, and
    # business hours per number or group (calendar null: open 24x7).
    "get_bot_flows": CommandSpec(required={}, admin_only=True),
    "save_bot_flow": CommandSpec(required={"number_id": _INT, "source": _STR},
                                 optional={"enabled": _BOOL}, admin_only=True),
    "set_bot_enabled": CommandSpec(required={"number_id": _INT, "enabled": _BOOL},
                                   admin_only=True),
    "get_business_hours": CommandSpec(required={}, admin_only=True),
    "save_business_hours": CommandSpec(
        required={"scope": _STR, "scope_id": _INT, "calendar": (dict, type(None))},
        admin_only=True),
    # CSAT (server/commands_csat.py): a ticket's surveys, their ratings and comments.
    "ticket_csat": CommandSpec(required={"ticket_id": _INT}),
    # SLA targets (server/commands_sla.py): per priority, typed as "4h", "1d 2h" ("" or
    # null: no target), counted in business hours.
    "get_sla_targets": CommandSpec(required={}, admin_only=True),
    "save_sla_targets": CommandSpec(required={"targets": _OBJECTS}, admin_only=True),
    # Reports (server/commands_reports.py): any agent; days "YYYY-MM-DD", inclusive.
    "get_report": CommandSpec(required={"from": _STR, "to": _STR},
                              optional={"number_id": _OPT_INT, "group_id": _OPT_INT,
                                        "agent_id": _OPT_INT, "channel": _OPT_STR,
                                        "time_zone": _OPT_STR}),
}


# --- messages -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """The client's first message: who it is and the last event it saw."""

    token: str
    last_seq: int | None = 0  # None: a fresh client, which wants no history, only what's new
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Command:
    """A request. ``id`` is chosen by the client; resending the same id is safe."""

    id: str
    name: str
    args: dict[str, Any]


ClientMessage = Hello | Command


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Decode and validate one message from a client, or raise ProtocolError."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_large", f"messages are limited to {MAX_MESSAGE_BYTES} bytes")
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("bad_json", "the message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_message", "a message must be a JSON object")
    kind = data.get("type")
    if kind == "hello":
        return _parse_hello(data)
    if kind == "command":
        return _parse_command(data)
    raise ProtocolError("unknown_type", f"unknown message type {kind!r}")


def _parse_hello(data: dict[str, Any]) -> Hello:
    version, token, last_seq = data.get("version"), data.get("token"), data.get("last_seq", 0)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            "bad_version", f"this relay speaks protocol {PROTOCOL_VERSION}, not {version!r}"
        )
    if not _is_text(token) or not token:
        raise ProtocolError("bad_message", "hello needs the agent's token")
    if last_seq is not None and (not _is_int(last_seq) or last_seq < 0):
        raise ProtocolError("bad_message", "last_seq must be a whole number, 0 or more, or null")
    return Hello(token=token, last_seq=last_seq)


def _parse_command(data: dict[str, Any]) -> Command:
    command_id = data.get("id")
    if not isinstance(command_id, str) or not 0 < len(command_id) <= MAX_COMMAND_ID:
        raise ProtocolError(
            "bad_message", f"a command needs an id of 1-{MAX_COMMAND_ID} characters"
        )
    name, args = data.get("name"), data.get("args", {})
    spec = COMMANDS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ProtocolError("unknown_command", f"unknown command {name!r}", command_id)
    if not isinstance(args, dict):
        raise ProtocolError("bad_args", "args must be a JSON object", command_id)
    _check_args(name, spec, args, command_id)
    return Command(id=command_id, name=name, args=args)


def _check_args(name: str, spec: CommandSpec, args: dict[str, Any], command_id: str) -> None:
    missing = [arg for arg in spec.required if arg not in args]
    if missing:
        raise ProtocolError("bad_args", f"{name} needs {', '.join(missing)}", command_id)
    allowed = {**spec.required, **spec.optional}
    for arg, value in args.items():
        if arg not in allowed:
            raise ProtocolError("bad_args", f"{name} does not take {arg!r}", command_id)
        if not _has_type(value, allowed[arg]):
            raise ProtocolError("bad_args", f"{name}: {arg} has the wrong type", command_id)


# JSON numbers have no bounds; what the relay stores (SQLite) does. A number outside
# 64 bits can mean nothing here, and would fail deep inside a query rather than here.
INT_RANGE = range(-(2**63), 2**63)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in INT_RANGE


def _is_text(value: Any) -> bool:
    """A str that is valid Unicode: JSON's "\\ud800" escapes decode to lone surrogates,
    which no UTF-8 file, database or terminal can hold."""
    if not isinstance(value, str):
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_plain_json(value: Any) -> bool:
    """Anything JSON made, whose numbers and strings the relay can store."""
    if isinstance(value, dict):
        return all(_is_text(k) and _is_plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_plain_json(v) for v in value)
    if isinstance(value, str):
        return _is_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value in INT_RANGE
    return True


def _has_type(value: Any, expected: Any) -> bool:
    if isinstance(expected, ListOf):
        return isinstance(value, list) and all(_has_type(v, expected.item) for v in value)
    kinds = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int):
        return int in kinds and _is_int(value)
    if isinstance(value, str):
        return str in kinds and _is_text(value)
    return isinstance(value, kinds) and _is_plain_json(value)


# --- relay → client -------------------------------------------------------------------


def _encode(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def welcome(agent: Mapping[str, Any], latest_seq: int) -> str:
    return _encode({"type": "welcome", "version": PROTOCOL_VERSION, "agent": agent,
                    "latest_seq": latest_seq})


def event(seq: int, kind: str, ticket_id: int | None, payload: Mapping[str, Any], at: int) -> str:
    return _encode({"type": "event", "seq": seq, "kind": kind, "ticket_id": ticket_id,
                    "payload": payload, "at": at})


def events(encoded: list[str]) -> str:
    """Several events, already encoded by ``event``, in one frame, in order."""
    return '{"type":"events","items":[' + ",".join(encoded) + "]}"


def caught_up(seq: int) -> str:
    """Replay is over: everything up to ``seq`` has been sent; live events follow."""
    return _encode({"type": "caught_up", "seq": seq})


PRESENCE_ACTIVITIES = ("viewing", "replying")


def presence(agent: Mapping[str, Any], ticket_id: int | None, activity: str | None) -> str:
    """Another agent opened (``viewing``), is answering (``replying``) or left a ticket.

    Ephemeral: not in the event log, no ``seq``; a client that reconnects is
    told the current presence of everyone again after ``caught_up``.
    """
    return _encode({"type": "presence", "agent": agent, "ticket_id": ticket_id,
                    "activity": activity if ticket_id is not None else None})


def result(command_id: str, value: Any) -> str:
    return _encode({"type": "result", "id": command_id, "result": value})


def error(code: str, message: str, command_id: str | None = None,
          field: str | None = None) -> str:
    """A refusal; ``field`` names the ticket field it is about (a form shows it there)."""
    frame = {"type": "error", "id": command_id, "code": code, "message": message}
    if field is not None:
        frame["field"] = field
    return _encode(frame)


def error_from(problem: ProtocolError) -> str:
    return error(problem.code, str(problem), problem.command_id)
