"""Rows to domain objects and domain objects to JSON-ready dicts.

Kept apart from the SQL so the wire protocol and the store agree on one
shape for every object without either importing the other.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from enum import Enum
from typing import Any

from core import models
from core.models import (
    Account,
    Agent,
    Channel,
    Contact,
    Direction,
    Event,
    Group,
    HeldText,
    Media,
    Message,
    MessageStatus,
    Note,
    NumberStatus,
    OptOutChange,
    PhoneNumber,
    Priority,
    Role,
    SenderType,
    Ticket,
    TicketStatus,
    TimeEntry,
)

_PLAIN = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def to_wire(obj: Any) -> Any:
    """A JSON-ready copy of a domain object: enums as strings, tuples as lists.

    On the ingest hot path (every event payload), hence the cached field names
    and the plain-type shortcut instead of ``dataclasses.asdict``.
    """
    kind = type(obj)
    if kind in _PLAIN:
        return obj
    if isinstance(obj, Enum):
        return obj.value
    names = _FIELD_NAMES.get(kind)
    if names is None and dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(obj))
    if names is not None:
        wire = {}
        for name in names:
            value = getattr(obj, name)
            wire[name] = value if type(value) in _PLAIN else to_wire(value)
        return wire
    if isinstance(obj, (list, tuple)):
        return [to_wire(item) for item in obj]
    if isinstance(obj, dict):
        return {str(key): to_wire(value) for key, value in obj.items()}
    return obj


def public_account(account: Account) -> dict[str, Any]:
    """An account as any client may see it: the auth token never leaves the relay."""
    wire = to_wire(account)
    token = wire.pop("auth_token")
    wire["auth_token_hint"] = mask_secret(token)
    return wire


def mask_secret(secret: str) -> str:
    return "•" * 8 + secret[-4:] if len(secret) >= 8 else "•" * len(secret)


def media_to_json(media: tuple[Media, ...] | list[Media]) -> str:
    if not media:
        return "[]"
    return json.dumps([dataclasses.asdict(item) for item in media], separators=(",", ":"))


def media_from_json(text: str) -> tuple[Media, ...]:
    return tuple(Media(**item) for item in json.loads(text)) if text != "[]" else ()


def media_ref_to_json(media: Media | None) -> str | None:
    """One attachment kept in a column of its own (an email's original); None: none.

    Stored as a list of one, as ``media`` columns are, so core.media_refs finds it with
    the others and the media sweep keeps its file.
    """
    return None if media is None else media_to_json((media,))


def media_ref_from_json(text: str | None) -> Media | None:
    found = media_from_json(text) if text else ()
    return found[0] if found else None


def account_from_row(row: sqlite3.Row) -> Account:
    return Account(
        id=row["id"],
        name=row["name"],
        sid=row["sid"],
        auth_token=row["auth_token"],
        geo_permissions=tuple(json.loads(row["geo_permissions"])),
        status=row["status"],
        type=row["type"],
        connected=bool(row["connected"]),
        created_at=row["created_at"],
        verified_caller_ids=tuple(json.loads(row["verified_caller_ids"])),
    )


def number_from_row(row: sqlite3.Row) -> PhoneNumber:
    return PhoneNumber(
        id=row["id"],
        account_id=row["account_id"],
        e164=row["e164"],
        sid=row["sid"],
        mms=bool(row["mms"]),
        status=NumberStatus(row["status"]),
        sender_type=SenderType(row["sender_type"]),
        country=row["country"],
        a2p_registered=bool(row["a2p_registered"]),
        default_group_id=row["default_group_id"],
        csat=bool(row["csat"]),
        enabled=bool(row["enabled"]),
        friendly_name=row["friendly_name"],
        prior_webhooks=json.loads(row["prior_webhooks"]) if row["prior_webhooks"] else None,
        csat_text=row["csat_text"],
        csat_followup=row["csat_followup"],
        csat_window_days=row["csat_window_days"],
        csat_bulk=bool(row["csat_bulk"]),
        segment_price=row["segment_price"],
        price_currency=row["price_currency"],
    )


def held_text_from_row(row: sqlite3.Row) -> HeldText:
    return HeldText(
        id=row["id"],
        number_id=row["number_id"],
        message_sid=row["message_sid"],
        from_phone=row["from_phone"],
        body=row["body"],
        media=media_from_json(row["media"]),
        segments=row["segments"],
        reason=row["reason"],
        received_at=row["received_at"],
    )


def contact_from_row(row: sqlite3.Row) -> Contact:
    return Contact(
        id=row["id"],
        phone=row["phone"],
        name=row["name"],
        email=row["email"],
        opted_out=bool(row["opted_out"]),
        created_at=row["created_at"],
        note=row["note"],
    )


def opt_out_change_from_row(row: sqlite3.Row) -> OptOutChange:
    return OptOutChange(
        contact_id=row["contact_id"],
        opted_out=bool(row["opted_out"]),
        source=row["source"],
        at=row["at"],
        number_id=row["number_id"],
        phone=row["phone"],
    )


def group_from_row(row: sqlite3.Row) -> Group:
    return Group(id=row["id"], name=row["name"])


def agent_from_row(row: sqlite3.Row, group_ids: tuple[int, ...] = ()) -> Agent:
    return Agent(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        group_ids=group_ids,
        token_hash=row["token_hash"],
        disabled=bool(row["disabled"]),
    )


def ticket_from_row(row: sqlite3.Row) -> Ticket:
    return Ticket(
        id=row["id"],
        contact_id=row["contact_id"],
        number_id=row["number_id"],
        subject=row["subject"],
        status=TicketStatus(row["status"]),
        priority=Priority(row["priority"]),
        type=row["type"],
        group_id=row["group_id"],
        agent_id=row["agent_id"],
        tags=tuple(json.loads(row["tags"])) if row["tags"] != "[]" else (),
        custom_fields=json.loads(row["custom_fields"]) if row["custom_fields"] != "{}" else {},
        unread=bool(row["unread"]),
        deleted=bool(row["deleted"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_message_at=row["last_message_at"],
        last_preview=row["last_preview"],
        customer_phone=row["customer_phone"],
        deleted_at=row["deleted_at"],
        deleted_by=row["deleted_by"],
        last_channel=Channel(row["last_channel"]),
        first_response_due=row["first_response_due"],
        resolution_due=row["resolution_due"],
        first_responded_at=row["first_responded_at"],
        resolved_at=row["resolved_at"],
        sla_used=row["sla_used"],
        sla_since=row["sla_since"],
        overdue=_overdue(row["first_response_due"], row["resolution_due"]),
    )


def _overdue(*dues: int | None) -> bool:
    """A due already passed, by the relay's clock as the row is read (a reader's clock moves
    on: clients compare the dues with their own clock, and the relay says when one passes)."""
    now = models.now_ms()
    return any(due is not None and due < now for due in dues)


def entry_from_row(row: sqlite3.Row) -> Message | Note:
    """A thread entry: a message to or from the customer, or a private note."""
    if row["kind"] == "note":
        return Note(
            id=row["id"],
            ticket_id=row["ticket_id"],
            agent_id=row["author_agent_id"],
            body=row["body"],
            created_at=row["created_at"],
        )
    return Message(
        id=row["id"],
        ticket_id=row["ticket_id"],
        direction=Direction(row["direction"]),
        channel=Channel(row["channel"]),
        body=row["body"],
        media=media_from_json(row["media"]),
        author_agent_id=row["author_agent_id"],
        twilio_sid=row["twilio_sid"],
        status=MessageStatus(row["status"]),
        error_code=row["error_code"],
        segments=row["segments"],
        encoding=row["encoding"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        # (sqlite3.Row's ``in`` looks at values, so keys() it is)
        from_number_id=row["from_number_id"] if "from_number_id" in row.keys() else None,  # noqa: SIM118
        subject=row["subject"],
        mail_id=row["mail_id"],
        mail_detail=row["mail_detail"],
        mail_original=media_ref_from_json(row["mail_original"]),
        by_bot=bool(row["by_bot"]),
        purpose=row["purpose"],
    )


def time_entry_from_row(row: sqlite3.Row) -> TimeEntry:
    return TimeEntry(
        id=row["id"],
        ticket_id=row["ticket_id"],
        agent_id=row["agent_id"],
        seconds=row["seconds"],
        note=row["note"],
        created_at=row["created_at"],
        billable=bool(row["billable"]),
    )


def event_from_row(row: sqlite3.Row) -> Event:
    return Event(
        seq=row["seq"],
        kind=row["kind"],
        ticket_id=row["ticket_id"],
        payload=json.loads(row["payload"]),
        at=row["at"],
    )
