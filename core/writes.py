"""The store's write transactions, as plain functions on a sqlite3 connection.

Each function runs inside the single writer's transaction (see
``core.store``), reads what it needs, changes what it must, and records what
happened in the event log through ``WriteContext.emit``. Nothing here awaits
or touches the network, so every rule can be tested on a real file without an
event loop.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core import (
    contact_rules,
    csat,
    csat_surveys,
    fields,
    optout,
    prices,
    records,
    report_counts,
    sla_writes,
)
from core.db import Conn
from core.durations import MAX_SECONDS
from core.errors import explain
from core.models import (
    Account,
    Agent,
    Channel,
    Contact,
    Direction,
    Event,
    Group,
    Media,
    Message,
    MessageStatus,
    Note,
    PhoneNumber,
    Priority,
    Role,
    Ticket,
    TicketStatus,
    TimeEntry,
)
from core.optout import Keyword, keyword_in, normalized
from core.sms import is_gsm7
from core.tickets import (
    Routing,
    preview_of,
    route_inbound,
    status_after_customer_text,
    status_moves_forward,
    subject_from_body,
)


class StoreError(Exception):
    """A write refused for a reason the caller can show as it is."""


class NotFound(StoreError):
    pass


class Forbidden(StoreError):
    """The agent may not do this (any more): disabled, or no longer an admin."""


class Conflict(StoreError):
    pass


class FieldRefused(StoreError):
    """A ticket field's value (or definition) refused; ``field`` names it for a form."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class WriteContext:
    """What one write job sees: the connection, its clock, and its events."""

    conn: Conn
    now: int
    events: list[Event] = field(default_factory=list)
    # Numbers by E.164, shared by the jobs of one batch (one transaction);
    # ``save_number`` keeps it true within the batch.
    numbers: dict[str, PhoneNumber] = field(default_factory=dict)

    def emit(self, kind: str, ticket_id: int | None, payload: Mapping[str, Any]) -> Event:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        seq = self.conn.execute(
            "INSERT INTO events(at, kind, ticket_id, payload) VALUES (?, ?, ?, ?) RETURNING seq",
            (self.now, kind, ticket_id, text),
        ).fetchone()[0]
        event = Event(
            seq=seq, kind=kind, ticket_id=ticket_id,
            payload=dict(payload), at=self.now,
        )
        self.events.append(event)
        return event


def newest_entry_id(conn: Conn) -> int:
    return conn.execute("SELECT coalesce(max(id), 0) FROM entries").fetchone()[0]


def index_new_entries(conn: Conn, after_id: int) -> None:
    """Add every entry newer than ``after_id`` to the full-text index.

    The writer calls this once per transaction, before COMMIT, so an entry is
    searchable exactly when it is durable; indexing the batch in one statement
    costs ~2 us a row where a per-row trigger costs ~35 us.
    """
    conn.execute(
        "INSERT INTO entries_fts(rowid, body) SELECT id, body FROM entries WHERE id > ?",
        (after_id,),
    )


def execute_unread(conn: Conn, sql: str, params: Sequence[Any]) -> None:
    """Run a write whose answer nobody reads. On PostgreSQL it goes with the next
    statement, in one round trip (core.pg's ``defer``; a failure surfaces there and then
    only a full ROLLBACK runs); SQLite has no round trip to save and runs it now."""
    defer = getattr(conn, "defer", None)
    if defer is None:
        conn.execute(sql, params)
    else:
        defer(sql, params)


# --- lookups used inside transactions ------------------------------------------------


def _one(conn: Conn, sql: str, params: Iterable[Any]) -> sqlite3.Row | None:
    return conn.execute(sql, tuple(params)).fetchone()


def ticket_by_id(conn: Conn, ticket_id: int) -> Ticket:
    row = _one(conn, "SELECT * FROM tickets WHERE id = ?", (ticket_id,))
    if row is None:
        raise NotFound(f"ticket #{ticket_id} does not exist")
    return records.ticket_from_row(row)


def number_by_id(conn: Conn, number_id: int) -> PhoneNumber:
    row = _one(conn, "SELECT * FROM phone_numbers WHERE id = ?", (number_id,))
    if row is None:
        raise NotFound(f"phone number {number_id} does not exist")
    return records.number_from_row(row)


def account_by_id(conn: Conn, account_id: int) -> Account:
    row = _one(conn, "SELECT * FROM accounts WHERE id = ?", (account_id,))
    if row is None:
        raise NotFound(f"account {account_id} does not exist")
    return records.account_from_row(row)


def agent_by_id(conn: Conn, agent_id: int) -> Agent:
    row = _one(conn, "SELECT * FROM agents WHERE id = ?", (agent_id,))
    if row is None:
        raise NotFound(f"agent {agent_id} does not exist")
    groups = tuple(
        r[0]
        for r in conn.execute(
            "SELECT group_id FROM agent_group_members WHERE agent_id = ? ORDER BY group_id",
            (agent_id,),
        )
    )
    return records.agent_from_row(row, groups)


def require_agent_may_act(conn: Conn, agent_id: int, *, admin: bool) -> None:
    """Refuse a change by an agent who is disabled, or (``admin``) no longer an admin."""
    row = _one(conn, "SELECT role, disabled FROM agents WHERE id = ?", (agent_id,))
    if row is None or row["disabled"]:
        raise Forbidden("this agent is disabled")
    if admin and row["role"] != Role.ADMIN.value:
        raise Forbidden("that is for admins only, and this agent no longer is one")


def contact_by_id(conn: Conn, contact_id: int) -> Contact:
    row = _one(conn, "SELECT * FROM contacts WHERE id = ?", (contact_id,))
    if row is None:
        raise NotFound(f"contact {contact_id} does not exist")
    return records.contact_from_row(row)


def entry_by_id(conn: Conn, entry_id: int) -> Message | Note:
    row = _one(conn, "SELECT * FROM entries WHERE id = ?", (entry_id,))
    if row is None:
        raise NotFound(f"message {entry_id} does not exist")
    return records.entry_from_row(row)


def _require_agent(conn: Conn, agent_id: int | None) -> None:
    if agent_id is not None and _one(conn, "SELECT 1 FROM agents WHERE id = ?",
                                     (agent_id,)) is None:
        raise NotFound(f"agent {agent_id} does not exist")


def _require_group(conn: Conn, group_id: int | None) -> None:
    if group_id is not None and _one(
        conn, "SELECT 1 FROM agent_groups WHERE id = ?", (group_id,)
    ) is None:
        raise NotFound(f"group {group_id} does not exist")


# --- accounts, numbers, groups, agents ------------------------------------------------


def add_account(
    ctx: WriteContext,
    *,
    name: str,
    sid: str,
    auth_token: str,
    status: str = "active",
    type: str = "Full",
    geo_permissions: Iterable[str] = (),
) -> Account:
    known = _one(ctx.conn, "SELECT connected FROM accounts WHERE sid = ?", (sid,))
    if known is not None:
        raise Conflict(f"account {sid} is already connected" if known["connected"] else
                       f"account {sid} was disconnected: connect it again instead of adding it")
    account_id = ctx.conn.execute(
        "INSERT INTO accounts(name, sid, auth_token, geo_permissions, status, type, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (name, sid, auth_token, json.dumps(sorted(set(geo_permissions))), status, type, ctx.now),
    ).fetchone()[0]
    account = account_by_id(ctx.conn, account_id)
    ctx.emit("account.updated", None, {"account": records.public_account(account)})
    return account


_ACCOUNT_FIELDS = {"name", "auth_token", "status", "type", "connected", "geo_permissions",
                   "verified_caller_ids"}


def update_account(ctx: WriteContext, account_id: int, **changes: Any) -> Account:
    unknown = set(changes) - _ACCOUNT_FIELDS
    if unknown:
        raise StoreError(f"cannot change {', '.join(sorted(unknown))} of an account")
    account_by_id(ctx.conn, account_id)
    if "geo_permissions" in changes:
        countries = {code.upper() for code in changes["geo_permissions"]}
        changes["geo_permissions"] = json.dumps(sorted(countries))
    if "verified_caller_ids" in changes:
        changes["verified_caller_ids"] = json.dumps(sorted(set(changes["verified_caller_ids"])))
    _update_row(ctx.conn, "accounts", account_id, changes)
    account = account_by_id(ctx.conn, account_id)
    ctx.emit("account.updated", None, {"account": records.public_account(account)})
    return account


def add_group(ctx: WriteContext, name: str) -> Group:
    name = name.strip()
    if not name:
        raise StoreError("a group needs a name")
    if _one(ctx.conn, "SELECT 1 FROM agent_groups WHERE name = ?", (name,)) is not None:
        raise Conflict(f"group {name!r} already exists")
    group_id = ctx.conn.execute(
        "INSERT INTO agent_groups(name) VALUES (?) RETURNING id", (name,)).fetchone()[0]
    group = Group(id=group_id, name=name)
    ctx.emit("group.updated", None, {"group": records.to_wire(group)})
    return group


def rename_group(ctx: WriteContext, group_id: int, name: str) -> Group:
    """Tickets, numbers and agents keep the group by id, so only its name changes."""
    name = name.strip()
    if not name:
        raise StoreError("a group needs a name")
    _require_group(ctx.conn, group_id)
    taken = _one(ctx.conn, "SELECT id FROM agent_groups WHERE name = ?", (name,))
    if taken is not None and taken["id"] != group_id:
        raise Conflict(f"group {name!r} already exists")
    ctx.conn.execute("UPDATE agent_groups SET name = ? WHERE id = ?", (name, group_id))
    group = Group(id=group_id, name=name)
    ctx.emit("group.updated", None, {"group": records.to_wire(group)})
    return group


_NUMBER_FIELDS = {
    "sid", "mms", "status", "sender_type", "country", "a2p_registered", "default_group_id",
    "csat", "enabled", "friendly_name", "prior_webhooks",
    "csat_text", "csat_followup", "csat_window_days", "csat_bulk",
    "segment_price", "price_currency",
}


def save_number(ctx: WriteContext, *, account_id: int, e164: str, **fields: Any) -> PhoneNumber:
    """Add a number to an account, or update it when it is already known."""
    unknown = set(fields) - _NUMBER_FIELDS
    if unknown:
        raise StoreError(f"cannot set {', '.join(sorted(unknown))} of a number")
    account_by_id(ctx.conn, account_id)
    _require_group(ctx.conn, fields.get("default_group_id"))
    fields = _checked_csat_settings(fields)
    row = _one(ctx.conn, "SELECT id, account_id FROM phone_numbers WHERE e164 = ?", (e164,))
    if row is None:
        number_id = ctx.conn.execute(
            "INSERT INTO phone_numbers(account_id, e164) VALUES (?, ?) RETURNING id",
            (account_id, e164),
        ).fetchone()[0]
    elif row["account_id"] != account_id:
        raise Conflict(f"{e164} already belongs to another connected account")
    else:
        number_id = row["id"]
    if "prior_webhooks" in fields:
        prior = fields["prior_webhooks"]
        fields = {**fields, "prior_webhooks": None if prior is None else json.dumps(prior)}
    _update_row(ctx.conn, "phone_numbers", number_id, fields)
    number = number_by_id(ctx.conn, number_id)
    ctx.numbers.pop(e164, None)
    ctx.emit("number.updated", None, {"number": records.to_wire(number)})
    return number


def _checked_csat_settings(fields: dict[str, Any]) -> dict[str, Any]:
    """The survey's settings and the segment price as the admin may set them; a bad one
    changes nothing."""
    checks = {"csat_text": csat.check_text, "csat_followup": csat.check_followup,
              "csat_window_days": csat.check_window_days,
              "segment_price": prices.checked_segment_price,
              "price_currency": prices.checked_currency}
    checked = dict(fields)
    for name, check in checks.items():
        if name in fields:
            try:
                checked[name] = check(fields[name])
            except ValueError as problem:
                raise FieldRefused(str(problem), name) from None
    if "csat_bulk" in fields:
        checked["csat_bulk"] = bool(fields["csat_bulk"])
    return checked


def update_number(ctx: WriteContext, number_id: int, **changes: Any) -> PhoneNumber:
    number = number_by_id(ctx.conn, number_id)
    return save_number(ctx, account_id=number.account_id, e164=number.e164, **changes)


def add_agent(
    ctx: WriteContext, *, name: str, role: Role, token_hash: str, group_ids: Iterable[int] = ()
) -> Agent:
    name = name.strip()
    if not name:
        raise StoreError("an agent needs a name")
    if _one(ctx.conn, "SELECT 1 FROM agents WHERE name = ?", (name,)) is not None:
        raise Conflict(f"an agent called {name!r} already exists")
    if _one(ctx.conn, "SELECT 1 FROM agents WHERE token_hash = ?", (token_hash,)) is not None:
        raise Conflict("that token is already in use; issue a new one")
    agent_id = ctx.conn.execute(
        "INSERT INTO agents(name, role, token_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        (name, Role(role).value, token_hash, ctx.now),
    ).fetchone()[0]
    _set_agent_groups(ctx.conn, agent_id, group_ids)
    agent = agent_by_id(ctx.conn, agent_id)
    ctx.emit("agent.updated", None, {"agent": _public_agent(agent)})
    return agent


def update_agent(
    ctx: WriteContext,
    agent_id: int,
    *,
    role: Role | None = None,
    disabled: bool | None = None,
    group_ids: Iterable[int] | None = None,
    token_hash: str | None = None,
) -> Agent:
    agent_by_id(ctx.conn, agent_id)
    changes: dict[str, Any] = {}
    if role is not None:
        changes["role"] = Role(role).value
    if disabled is not None:
        changes["disabled"] = disabled
    if token_hash is not None:
        changes["token_hash"] = token_hash
    _update_row(ctx.conn, "agents", agent_id, changes)
    if group_ids is not None:
        _set_agent_groups(ctx.conn, agent_id, group_ids)
    agent = agent_by_id(ctx.conn, agent_id)
    ctx.emit("agent.updated", None, {"agent": _public_agent(agent)})
    return agent


def _public_agent(agent: Agent) -> dict[str, Any]:
    wire = records.to_wire(agent)
    del wire["token_hash"]
    return wire


def _set_agent_groups(conn: Conn, agent_id: int, group_ids: Iterable[int]) -> None:
    wanted = sorted(set(group_ids))
    for group_id in wanted:
        _require_group(conn, group_id)
    conn.execute("DELETE FROM agent_group_members WHERE agent_id = ?", (agent_id,))
    conn.executemany(
        "INSERT INTO agent_group_members(agent_id, group_id) VALUES (?, ?)",
        [(agent_id, group_id) for group_id in wanted],
    )


# --- contacts and opt-out -------------------------------------------------------------


def contact_for_phone(ctx: WriteContext, phone: str) -> Contact:
    """The contact who owns a phone number, created on first contact."""
    row = _one(ctx.conn, "SELECT c.* FROM contact_phones p JOIN contacts c"
               " ON c.id = p.contact_id WHERE p.e164 = ?", (phone,))
    if row is not None:
        return records.contact_from_row(row)
    contact_id = ctx.conn.execute(
        "INSERT INTO contacts(phone, created_at) VALUES (?, ?) RETURNING id", (phone, ctx.now)
    ).fetchone()[0]
    return Contact(id=contact_id, phone=phone, created_at=ctx.now)


def update_contact(
    ctx: WriteContext,
    contact_id: int,
    *,
    name: str | None = None,
    email: str | None = None,
    note: str | None = None,
) -> Contact:
    """Change what agents know of a person; each value is checked first (core.contact_rules),
    and a refused one changes nothing."""
    contact_by_id(ctx.conn, contact_id)
    try:
        changes = contact_rules.checked_contact_changes(name=name, email=email, note=note)
    except contact_rules.InvalidContact as error:
        raise StoreError(str(error)) from None
    _update_row(ctx.conn, "contacts", contact_id, changes)
    contact = contact_by_id(ctx.conn, contact_id)
    ctx.emit("contact.updated", None, {"contact": records.to_wire(contact)})
    return contact


def set_opt_out(
    ctx: WriteContext,
    contact_id: int,
    *,
    opted_out: bool,
    source: str,
    number_id: int | None = None,
    phone: str | None = None,
) -> Contact:
    """Change one of a contact's phones' opt-out state (``phone``, or the contact's first)
    for ``number_id`` (None: every number) and write the change to its audit trail.

    Twilio applies a STOP to the number it was sent to, and a merged contact's STOP from one
    phone leaves the other reachable, so the state is per (phone, number) (core.optout).
    ``contact_phones.opted_out`` says whether the phone is opted out from any number, and
    ``contacts.opted_out`` the same for the contact's first phone.
    """
    contact = contact_by_id(ctx.conn, contact_id)
    phone = phone or contact.phone
    row = _one(ctx.conn, "SELECT opted_out FROM contact_phones WHERE e164 = ? AND"
               " contact_id = ?", (phone, contact_id))
    if row is None:
        raise NotFound(f"{phone} is not a phone of contact {contact_id}")
    before = bool(row["opted_out"]) if number_id is None \
        else optout.opted_out_from(ctx.conn, phone, number_id)
    if before == opted_out:
        return contact
    ctx.conn.execute(
        "INSERT INTO opt_out_changes(contact_id, opted_out, source, number_id, at, phone)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (contact_id, opted_out, source, number_id, ctx.now, phone),
    )
    blocked = optout.opted_out_number_ids(ctx.conn, phone)
    anywhere = bool(blocked) or (opted_out and number_id is None)
    ctx.conn.execute("UPDATE contact_phones SET opted_out = ? WHERE e164 = ?", (anywhere, phone))
    if phone == contact.phone:
        ctx.conn.execute("UPDATE contacts SET opted_out = ? WHERE id = ?",
                         (anywhere, contact_id))
        contact.opted_out = anywhere
    ctx.emit("contact.updated", None, {"contact": records.to_wire(contact), "source": source,
                                       "phone": phone, "phone_opted_out": anywhere,
                                       "number_id": number_id,
                                       "opted_out_number_ids": blocked})
    return contact


def contact_at_phone(conn: Conn, contact_id: int, phone: str,
                     number_id: int | None = None) -> Contact:
    """The contact as reached at one of their phones, from ``number_id`` if given: that
    phone and its own STOP state for that number (for any number without one), which is
    what a reply to a ticket with that phone is judged by."""
    contact = contact_by_id(conn, contact_id)
    contact.phone = phone
    if number_id is not None:
        contact.opted_out = optout.opted_out_from(conn, phone, number_id)
        return contact
    row = _one(conn, "SELECT opted_out FROM contact_phones WHERE e164 = ?", (phone,))
    if row is not None:
        contact.opted_out = bool(row["opted_out"])
    return contact


# --- inbound --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboundText:
    """What Twilio told us a customer sent: the webhook, already validated."""

    sid: str
    to: str
    from_: str
    body: str
    media: tuple[Media, ...] = ()
    segments: int = 1  # Twilio's NumSegments: what the customer's text was billed as


@dataclass(frozen=True, slots=True)
class InboundResult:
    message: Message
    ticket: Ticket
    duplicate: bool  # True: this MessageSid was stored before; nothing changed
    routing: Routing | None = None
    keyword: Keyword | None = None
    # The text answered the ticket's survey (a rating, or the comment asked for): the
    # ticket stayed resolved and nothing else (the bot) should take it as a conversation.
    survey_answer: csat.Answer | None = None


class UnknownNumber(StoreError):
    """A text to a number no connected account owns."""


def record_inbound(ctx: WriteContext, text: InboundText) -> InboundResult:
    """Store a customer's text in the right ticket, exactly once per MessageSid."""
    conn = ctx.conn
    seen_id, contact, latest = _seen_contact_and_latest_ticket(ctx, text.sid, text.from_,
                                                              text.to)
    if seen_id is not None:
        seen = _one(conn, "SELECT * FROM entries WHERE id = ?", (seen_id,))
        message = records.entry_from_row(seen)
        assert isinstance(message, Message)
        return InboundResult(message, ticket_by_id(conn, message.ticket_id), duplicate=True)

    number = _number_for_e164(ctx, text.to)
    if contact is None:
        contact = contact_for_phone(ctx, text.from_)
    routing = route_inbound(latest)
    preview = preview_of(text.body, len(text.media))
    answer: csat.Answer | None = None

    if routing is Routing.NEW or latest is None:
        ticket_id = conn.execute(
            "INSERT INTO tickets(contact_id, number_id, subject, group_id, created_at,"
            " updated_at, last_message_at, last_preview, customer_phone)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (contact.id, number.id, subject_from_body(text.body), number.default_group_id,
             ctx.now, ctx.now, ctx.now, preview, text.from_),
        ).fetchone()[0]
        ticket = Ticket(
            id=ticket_id, contact_id=contact.id, number_id=number.id,
            subject=subject_from_body(text.body), group_id=number.default_group_id,
            created_at=ctx.now, updated_at=ctx.now, last_message_at=ctx.now, last_preview=preview,
            customer_phone=text.from_,
        )
        sla_writes.start(ctx, ticket)
    else:
        ticket = latest
        status_before = ticket.status
        if routing is Routing.REOPEN:  # a rating to the survey leaves it resolved
            answer = csat_surveys.answer_for(conn, ticket.id, text.body, ctx.now)
        if answer is None:
            ticket.status = status_after_customer_text(ticket.status)
        ticket.unread = True
        ticket.updated_at = ticket.last_message_at = ctx.now
        ticket.last_preview = preview
        ticket.last_channel = Channel.SMS
        conn.execute(
            "UPDATE tickets SET status = ?, unread = 1, updated_at = ?, last_message_at = ?,"
            " last_preview = ?, last_channel = 'sms' WHERE id = ?",
            (ticket.status.value, ctx.now, ctx.now, preview, ticket.id),
        )
        if ticket.status is not status_before:  # pending or resolved: open again
            sla_writes.follow(ctx, ticket)
        if ticket.customer_phone != text.from_:  # another of the person's phones: answer there
            ticket.customer_phone = text.from_
            conn.execute("UPDATE tickets SET customer_phone = ? WHERE id = ?",
                         (text.from_, ticket.id))

    channel = Channel.MMS if text.media else Channel.SMS
    encoding = "GSM-7" if is_gsm7(text.body) else "UCS-2"
    message_id = conn.execute(
        "INSERT INTO entries(ticket_id, kind, direction, channel, body, media, twilio_sid,"
        " status, segments, encoding, created_at, updated_at) VALUES (?, 'message', 'inbound',"
        " ?, ?, ?, ?, 'received', ?, ?, ?, ?) RETURNING id",
        (ticket.id, channel.value, text.body, records.media_to_json(text.media), text.sid,
         text.segments, encoding, ctx.now, ctx.now),
    ).fetchone()[0]
    message = Message(
        id=message_id, ticket_id=ticket.id, direction=Direction.INBOUND,
        channel=channel, body=text.body, media=text.media, twilio_sid=text.sid,
        status=MessageStatus.RECEIVED, segments=text.segments, encoding=encoding,
        created_at=ctx.now, updated_at=ctx.now,
    )

    report_counts.message_stored(ctx, ticket, message, opened=routing is Routing.NEW)

    kind = "ticket.created" if routing is Routing.NEW else "message.created"
    payload: dict[str, Any] = {
        "ticket": records.to_wire(ticket),
        "message": records.to_wire(message),
    }
    if routing is Routing.NEW:
        payload["contact"] = records.to_wire(contact)
    ctx.emit(kind, ticket.id, payload)

    keyword = keyword_in(text.body)
    if keyword in (Keyword.OPT_OUT, Keyword.OPT_IN):
        set_opt_out(ctx, contact.id, opted_out=keyword is Keyword.OPT_OUT,
                    source=f"keyword:{normalized(text.body)}", number_id=number.id,
                    phone=text.from_)
    if answer is not None:
        _csat_writes().record_answer(ctx, answer, ticket, message)
    elif routing is Routing.REOPEN:
        csat_surveys.close_on_reopen(conn, ticket.id)
    return InboundResult(message, ticket, duplicate=False, routing=routing, keyword=keyword,
                         survey_answer=answer)


def _csat_writes() -> Any:
    """core.csat_writes, imported when first needed: it queues its texts through
    core.reply_preflight, which is built on this module (an import cycle otherwise)."""
    from core import csat_writes

    return csat_writes


def _number_for_e164(ctx: WriteContext, e164: str) -> PhoneNumber:
    """The connected number a text was sent to, from the writer's cache when it can."""
    number = ctx.numbers.get(e164)
    if number is None:
        row = _one(ctx.conn, "SELECT * FROM phone_numbers WHERE e164 = ?", (e164,))
        if row is None:
            raise UnknownNumber(f"no connected number is {e164}")
        number = ctx.numbers[e164] = records.number_from_row(row)
    return number


def _seen_contact_and_latest_ticket(
    ctx: WriteContext, sid: str, phone: str, to: str
) -> tuple[int | None, Contact | None, Ticket | None]:
    """The entry already stored under ``sid`` (a retry), the sender, and their latest
    ticket on the number ``to``, in one query: each statement costs a round trip and, on
    PostgreSQL, more of the relay's CPU than the SQL itself, and this is every webhook.

    A ticket an agent answered from this number (another than its own) counts as on it:
    the customer answering that reply is answering that ticket. That is one index probe
    per ticket of this contact, never a list of every ticket ever answered from the number
    (which an ``IN (SELECT ...)`` builds on each inbound text). The contact is None when
    the phone is new (the one-row ``FROM (SELECT 1)`` keeps the retry check's answer); an
    unknown number matches no ticket (the caller refuses it after the retry check).
    """
    row = _one(
        ctx.conn,
        "SELECT (SELECT id FROM entries WHERE twilio_sid = ?) AS seen_id,"
        " c.id AS c_id, c.phone AS c_phone, c.name AS c_name, c.email AS c_email,"
        " c.opted_out AS c_opted_out,"
        " c.created_at AS c_created_at, c.note AS c_note, t.*"
        " FROM (SELECT 1) AS one"
        " LEFT JOIN phone_numbers n ON n.e164 = ?"
        " LEFT JOIN contacts c ON c.id = (SELECT contact_id FROM contact_phones WHERE e164 = ?)"
        " LEFT JOIN tickets t ON t.id = ("
        "  SELECT id FROM tickets WHERE contact_id = c.id AND (number_id = n.id OR EXISTS ("
        "   SELECT 1 FROM entries e WHERE e.from_number_id = n.id"
        "   AND e.ticket_id = tickets.id))"
        "  ORDER BY id DESC LIMIT 1)",
        (sid, to, phone),
    )
    assert row is not None  # FROM (SELECT 1): always one row
    if row["c_id"] is None:
        return row["seen_id"], None, None
    contact = Contact(id=row["c_id"], phone=row["c_phone"], name=row["c_name"],
                      email=row["c_email"],
                      opted_out=bool(row["c_opted_out"]), created_at=row["c_created_at"],
                      note=row["c_note"])
    latest = records.ticket_from_row(row) if row["id"] is not None else None
    return row["seen_id"], contact, latest


# --- outbound -------------------------------------------------------------------------


def queue_outbound(
    ctx: WriteContext,
    *,
    ticket_id: int,
    agent_id: int | None,
    body: str,
    media: tuple[Media, ...] = (),
    channel: Channel | None = None,
    segments: int = 1,
    encoding: str = "GSM-7",
    from_number_id: int | None = None,
    by_bot: bool = False,
    ticket: Ticket | None = None,
    purpose: str | None = None,
) -> Message:
    """Store an agent's reply as queued: from here the outbox owns sending it.

    ``from_number_id`` names another of the desk's numbers to send from; the ticket keeps
    its own number (the one the customer last texted stays the default sender).
    ``by_bot``: the SMS bot wrote it (no agent). A person's reply takes the ticket over
    from the bot at once, in this transaction: the bot says nothing more on it.
    ``ticket``: the ticket as it stands in this transaction, when the caller holds it
    (the bot does: a read fewer per text); it is kept up to date here.
    ``purpose``: what the desk sent it for on its own ('csat_survey', 'csat_followup').
    """
    if ticket is None:
        ticket = ticket_by_id(ctx.conn, ticket_id)
    assert ticket.id == ticket_id
    if ticket.deleted:
        raise StoreError(f"ticket #{ticket_id} is deleted")
    _require_agent(ctx.conn, agent_id)
    if from_number_id == ticket.number_id:
        from_number_id = None  # the ticket's own number: nothing to remember
    elif from_number_id is not None:
        number_by_id(ctx.conn, from_number_id)
    channel = channel or (Channel.MMS if media else Channel.SMS)
    status = MessageStatus.QUEUED if channel is not Channel.EMAIL else MessageStatus.SENT
    message_id = ctx.conn.execute(
        "INSERT INTO entries(ticket_id, kind, direction, channel, body, media, author_agent_id,"
        " status, segments, encoding, created_at, updated_at, from_number_id, by_bot, purpose)"
        " VALUES (?, 'message', 'outbound', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (ticket_id, channel.value, body, records.media_to_json(media), agent_id, status.value,
         segments, encoding, ctx.now, ctx.now, from_number_id, int(by_bot), purpose),
    ).fetchone()[0]
    if agent_id is not None:
        take_over_from_bot(ctx, ticket_id)
        sla_writes.first_reply(ctx, ticket, channel.value)
    # Built from what was inserted, not read back (as record_inbound does).
    message = Message(
        id=message_id, ticket_id=ticket_id, direction=Direction.OUTBOUND, channel=channel,
        body=body, media=media, author_agent_id=agent_id, status=status, segments=segments,
        encoding=encoding, created_at=ctx.now, updated_at=ctx.now,
        from_number_id=from_number_id, by_bot=by_bot, purpose=purpose)
    report_counts.message_stored(ctx, ticket, message)
    preview = preview_of(body, len(media))
    # The list's channel mark: email, or SMS (an MMS is a text with pictures).
    ticket.last_channel = Channel.EMAIL if channel is Channel.EMAIL else Channel.SMS
    execute_unread(
        ctx.conn,
        "UPDATE tickets SET updated_at = ?, last_message_at = ?, last_preview = ?,"
        " last_channel = ? WHERE id = ?",
        (ctx.now, ctx.now, preview, ticket.last_channel.value, ticket_id),
    )
    ticket.updated_at = ticket.last_message_at = ctx.now
    ticket.last_preview = preview
    ctx.emit("message.created", ticket_id,
             {"ticket": records.to_wire(ticket), "message": records.to_wire(message)})
    return message


def take_over_from_bot(ctx: WriteContext, ticket_id: int) -> None:
    """End the bot's conversation on this ticket (a person answers from now on); nothing
    when the bot never spoke there. The session keeps where it stood, for the record."""
    row = _one(ctx.conn, "SELECT state FROM bot_sessions WHERE ticket_id = ?", (ticket_id,))
    if row is None:
        return
    state = json.loads(row["state"])
    if state.get("ended") is None:
        state["ended"] = "taken_over"
        ctx.conn.execute("UPDATE bot_sessions SET state = ?, updated_at = ? WHERE ticket_id = ?",
                         (json.dumps(state, sort_keys=True), ctx.now, ticket_id))


def open_conversation(
    ctx: WriteContext, *, phone: str, number_id: int, agent_id: int, subject: str
) -> Ticket:
    """A new ticket an agent starts with a customer (found or created by phone) on a number.

    It goes to the number's default group, assigned to the agent who started it; being the
    newest ticket of this contact on this number, the customer's answer threads into it.
    """
    number = number_by_id(ctx.conn, number_id)
    _require_agent(ctx.conn, agent_id)
    contact = contact_for_phone(ctx, phone)
    ticket_id = ctx.conn.execute(
        "INSERT INTO tickets(contact_id, number_id, subject, group_id, agent_id, unread,"
        " created_at, updated_at, last_message_at, last_preview, customer_phone)"
        " VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, '', ?) RETURNING id",
        (contact.id, number.id, subject, number.default_group_id, agent_id, ctx.now, ctx.now,
         ctx.now, phone),
    ).fetchone()[0]
    ticket = ticket_by_id(ctx.conn, ticket_id)
    sla_writes.start(ctx, ticket)
    report_counts.ticket_created(ctx, ticket, Channel.SMS)
    ctx.emit("ticket.created", ticket.id,
             {"ticket": records.to_wire(ticket), "contact": records.to_wire(contact),
              "started_by": agent_id})
    return ticket


def mark_sending(ctx: WriteContext, message_id: int) -> Message:
    """Record that a send is about to be attempted: after a crash, this message
    may or may not have reached Twilio and must be reconciled, not resent.

    A reply whose author an admin has disabled since it was queued is not sent:
    it is marked failed instead (the outbox sends only what comes back ``sending``).
    Only a queued message without a SID becomes ``sending``: one that moved on
    since the outbox read it (a SID attached, a status recorded) is left alone.
    """
    message = entry_by_id(ctx.conn, message_id)
    assert isinstance(message, Message)
    if message.status is not MessageStatus.QUEUED or message.twilio_sid:
        return message  # moved on since the outbox read it: never a second attempt
    if message.author_agent_id is not None and _one(
        ctx.conn, "SELECT 1 FROM agents WHERE id = ? AND disabled <> 0", (message.author_agent_id,)
    ) is not None:
        return _set_message_fields(ctx, message_id, status=MessageStatus.FAILED)
    return _set_message_fields(ctx, message_id, status=MessageStatus.SENDING)


def attach_sid(
    ctx: WriteContext, message_id: int, *, sid: str, status: MessageStatus
) -> Message:
    """Twilio accepted the message: remember its SID so callbacks find it."""
    current = entry_by_id(ctx.conn, message_id)
    assert isinstance(current, Message)
    fields: dict[str, Any] = {"twilio_sid": sid}
    if status_moves_forward(current.status, status):
        fields["status"] = status
    early = _take_early_status(ctx.conn, sid)
    if early is not None and status_moves_forward(fields.get("status", current.status), early[0]):
        fields["status"] = early[0]
        if early[1] is not None:
            fields["error_code"] = early[1]
    return _set_message_fields(ctx, message_id, **fields)


def mark_failed(ctx: WriteContext, message_id: int, *, error_code: int | None) -> Message:
    return _set_message_fields(
        ctx, message_id, status=MessageStatus.FAILED, error_code=error_code
    )


def update_status(
    ctx: WriteContext, sid: str, status: MessageStatus, error_code: int | None = None
) -> Message | None:
    """Apply a status callback; only ever moves a message's status forward.

    Returns the updated message, or None when the callback changed nothing
    (unknown SID, or a late report of an earlier status).
    """
    row = _one(ctx.conn, "SELECT * FROM entries WHERE twilio_sid = ?", (sid,))
    if row is None:
        return None
    message = records.entry_from_row(row)
    assert isinstance(message, Message)
    if not status_moves_forward(message.status, status):
        return None
    fields: dict[str, Any] = {"status": status}
    if error_code is not None:
        fields["error_code"] = error_code
    return _set_message_fields(ctx, message.id, **fields)


EARLY_STATUS_LIMIT = 10_000


def record_status(
    ctx: WriteContext, sid: str, status: MessageStatus, error_code: int | None = None
) -> Message | None:
    """A status callback, kept whether or not its message's SID is recorded yet.

    Twilio can call back before our own write of the SID commits (and callbacks for
    messages sent from the console are not ours at all); the relay acknowledges the
    callback either way and Twilio never sends it again, so one that finds no message
    is kept until ``attach_sid`` records that SID. Only the newest few thousand are kept.
    """
    if _one(ctx.conn, "SELECT 1 FROM entries WHERE twilio_sid = ?", (sid,)) is not None:
        return update_status(ctx, sid, status, error_code)
    kept = _one(ctx.conn, "SELECT status FROM early_statuses WHERE twilio_sid = ?", (sid,))
    if kept is not None and not status_moves_forward(MessageStatus(kept["status"]), status):
        return None
    ctx.conn.execute("DELETE FROM early_statuses WHERE twilio_sid = ?", (sid,))
    kept_id = ctx.conn.execute(
        "INSERT INTO early_statuses(twilio_sid, status, error_code, at) VALUES (?, ?, ?, ?)"
        " RETURNING id",
        (sid, status.value, error_code, ctx.now),
    ).fetchone()[0]
    ctx.conn.execute("DELETE FROM early_statuses WHERE id <= ?",
                     (kept_id - EARLY_STATUS_LIMIT,))
    return None


def _take_early_status(
    conn: Conn, sid: str
) -> tuple[MessageStatus, int | None] | None:
    """The status callback kept for ``sid`` before it was recorded (now used up), if any."""
    row = _one(conn, "SELECT status, error_code FROM early_statuses WHERE twilio_sid = ?",
               (sid,))
    if row is None:
        return None
    conn.execute("DELETE FROM early_statuses WHERE twilio_sid = ?", (sid,))
    return MessageStatus(row["status"]), row["error_code"]


def _set_message_fields(ctx: WriteContext, message_id: int, **fields: Any) -> Message:
    failing = fields.get("status") in report_counts.FAILED
    before = entry_by_id(ctx.conn, message_id) if failing else None
    _update_row(ctx.conn, "entries", message_id, {**fields, "updated_at": ctx.now})
    message = entry_by_id(ctx.conn, message_id)
    assert isinstance(message, Message)
    if isinstance(before, Message):  # the reports count failed deliveries by code
        report_counts.delivery_failed(ctx, before, message)
    payload: dict[str, Any] = {"message": records.to_wire(message)}
    if message.error_code is not None:
        payload["error"] = records.to_wire(explain(message.error_code))
    ctx.emit("message.updated", message.ticket_id, payload)
    return message


# --- relay settings and command results ---------------------------------------------


def save_setting(ctx: WriteContext, key: str, value: str) -> None:
    ctx.conn.execute(
        "INSERT INTO settings(key, value) VALUES (?, ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def remember_result(ctx: WriteContext, agent_id: int, command_id: str, result: str) -> None:
    """Keep a command's answer so the same command id is answered, never redone.

    The tickets the command's events concern are noted with it: purging one of them
    scrubs this answer too (core.trash), since it may hold the ticket's words.
    """
    ctx.conn.execute(
        "INSERT INTO command_results(agent_id, command_id, result, at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (agent_id, command_id, result, ctx.now),
    )
    ctx.conn.executemany(
        "INSERT INTO command_result_tickets(ticket_id, agent_id, command_id)"
        " VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [(ticket_id, agent_id, command_id)
         for ticket_id in sorted({e.ticket_id for e in ctx.events if e.ticket_id is not None})])


# --- ticket work ----------------------------------------------------------------------


def add_note(ctx: WriteContext, *, ticket_id: int, agent_id: int | None, body: str) -> Note:
    if not body.strip():
        raise StoreError("a note needs some text")
    ticket_by_id(ctx.conn, ticket_id)
    _require_agent(ctx.conn, agent_id)
    note_id = ctx.conn.execute(
        "INSERT INTO entries(ticket_id, kind, body, author_agent_id, created_at, updated_at)"
        " VALUES (?, 'note', ?, ?, ?, ?) RETURNING id",
        (ticket_id, body, agent_id, ctx.now, ctx.now),
    ).fetchone()[0]
    ctx.conn.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (ctx.now, ticket_id))
    note = Note(id=note_id, ticket_id=ticket_id, agent_id=agent_id, body=body,
                created_at=ctx.now)
    ctx.emit("note.created", ticket_id, {"note": records.to_wire(note)})
    return note


_TICKET_FIELDS = {
    "subject", "status", "priority", "type", "group_id", "agent_id", "tags", "custom_fields",
    "unread", "deleted",
}


def update_ticket(ctx: WriteContext, ticket_id: int, *, by: int | None = None,
                  by_bot: bool = False, before: Ticket | None = None, bulk: bool = False,
                  **changes: Any) -> Ticket:
    """Change ticket fields: status, priority, group, agent, tags, read state...

    ``by`` is the agent making the change (None: the desk itself, or the SMS bot when
    ``by_bot``); the event keeps it and the fields' values before, for the ticket's
    activity history. Custom field values are
    checked against the admin's definitions, and resolving (or closing) is refused while a
    field required to resolve is empty, naming them. Moving it to the Trash keeps ``by``.
    ``before``: the ticket as it stands in this transaction, when the caller holds it (the
    SMS bot does, on the inbound webhook: a read fewer).
    Resolving sends the number's CSAT survey in this transaction (``bulk``: one of
    several tickets changed at once, surveyed only when the number says so).
    """
    unknown = set(changes) - _TICKET_FIELDS
    if unknown:
        raise StoreError(f"cannot change {', '.join(sorted(unknown))} of a ticket")
    if before is None:
        before = ticket_by_id(ctx.conn, ticket_id)
    assert before.id == ticket_id
    values: dict[str, Any] = {}
    for name, value in changes.items():
        values[name] = _ticket_value(ctx.conn, name, value)
    custom = _checked_custom_fields(ctx.conn, before, changes)
    if custom is not None:
        values["custom_fields"] = json.dumps(custom, sort_keys=True)
    if "deleted" in values:  # the Trash keeps when, for the admin's retention
        values["deleted_at"] = ctx.now if values["deleted"] else None
        values["deleted_by"] = by if values["deleted"] else None
    values["updated_at"] = ctx.now
    ticket = _updated_ticket(ctx.conn, ticket_id, values)
    if "status" in changes or "priority" in changes:
        sla_writes.follow(ctx, ticket)
    after = records.to_wire(ticket)
    payload: dict[str, Any] = {"ticket": after, "changed": sorted(changes)}
    if set(changes) - {"unread"}:  # the history's who and what-before (reading is no change)
        payload["by"] = by
        payload["before"] = _values_before(records.to_wire(before), after, changes)
        if by_bot:
            payload["by_bot"] = True
    ctx.emit("ticket.updated", ticket_id, payload)
    _after_status_change(ctx, before, ticket, bulk=bulk)
    return ticket


def _after_status_change(ctx: WriteContext, before: Ticket, ticket: Ticket, *,
                         bulk: bool) -> None:
    """Leaving resolved closes the survey; becoming resolved sends one (core.csat_writes)."""
    if ticket.status is before.status:
        return
    if before.status is TicketStatus.RESOLVED:
        csat_surveys.close_on_reopen(ctx.conn, ticket.id)
    if ticket.status is TicketStatus.RESOLVED:
        _csat_writes().survey_on_resolve(ctx, ticket, bulk=bulk)


def _checked_custom_fields(conn: Conn, ticket: Ticket,
                           changes: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ticket's custom values after ``changes`` (None: untouched), checked; and the
    resolve rule, judged on the values the ticket will have."""
    status = changes.get("status")
    resolving = status in ("resolved", "closed") and status != ticket.status.value
    if "custom_fields" not in changes and not resolving:
        return None
    definitions = fields.definitions(conn)
    try:
        custom = fields.merged_values(definitions, ticket.custom_fields,
                                      changes.get("custom_fields") or {})
    except fields.FieldProblem as problem:
        raise FieldRefused(str(problem), problem.key) from None
    missing = fields.missing_to_resolve(definitions, custom) if resolving else []
    if missing:
        problem = fields.resolve_refusal(ticket.id, str(status), missing)
        raise FieldRefused(str(problem), problem.key)
    return custom if "custom_fields" in changes else None


def _values_before(old: Mapping[str, Any], new: Mapping[str, Any],
                   changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changed fields' values before, from the ticket's wire form before and after."""
    kept = {name: old[name] for name in changes if name not in ("unread", "custom_fields")}
    if "custom_fields" in changes:
        keys = set(old["custom_fields"]) | set(new["custom_fields"])
        kept["custom_fields"] = {key: old["custom_fields"].get(key) for key in sorted(keys)
                                 if old["custom_fields"].get(key) != new["custom_fields"].get(key)}
    return kept


def _ticket_value(conn: Conn, name: str, value: Any) -> Any:
    """Validate one ticket field so a bad command changes nothing."""
    try:
        if name == "status":
            return TicketStatus(value).value
        if name == "priority":
            return Priority(value).value
    except ValueError:
        raise StoreError(f"{value!r} is not a ticket {name}") from None
    if name == "group_id":
        _require_group(conn, value)
    elif name == "agent_id":
        _require_agent(conn, value)
    elif name == "tags":
        tags = sorted({str(tag).strip() for tag in value if str(tag).strip()})
        return json.dumps(tags)
    elif name == "custom_fields":
        if not isinstance(value, dict):
            raise StoreError("custom fields must be a mapping of field key to value")
        return value  # checked against the definitions in _checked_custom_fields
    elif name in ("unread", "deleted"):
        return bool(value)
    return value


MAX_TIME_ENTRY_SECONDS = MAX_SECONDS  # a thousand hours: more is a typo, not work


def check_seconds(seconds: int) -> int:
    """A time entry's length, refused in words when it cannot be one."""
    if seconds <= 0:
        raise StoreError("time logged must be more than zero")
    if seconds > MAX_TIME_ENTRY_SECONDS:
        raise StoreError("time logged must be at most 1000 hours")
    return seconds


def log_time(
    ctx: WriteContext, *, ticket_id: int, agent_id: int, seconds: int, note: str = "",
    billable: bool = False,
) -> TimeEntry:
    check_seconds(seconds)
    ticket_by_id(ctx.conn, ticket_id)
    _require_agent(ctx.conn, agent_id)
    entry_id = ctx.conn.execute(
        "INSERT INTO time_entries(ticket_id, agent_id, seconds, note, created_at, billable)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (ticket_id, agent_id, seconds, note, ctx.now, int(billable)),
    ).fetchone()[0]
    entry = TimeEntry(id=entry_id, ticket_id=ticket_id, agent_id=agent_id,
                      seconds=seconds, note=note, created_at=ctx.now, billable=billable)
    ctx.emit("time.logged", ticket_id, {"time_entry": records.to_wire(entry)})
    return entry


def _updated_ticket(conn: Conn, ticket_id: int, values: Mapping[str, Any]) -> Ticket:
    """UPDATE the ticket's named columns and return the row as it is now, in one statement
    (no trigger changes a ticket's own row, so RETURNING sees all of it)."""
    assignments = ", ".join(f"{column} = ?" for column in values)
    params = [getattr(v, "value", v) for v in values.values()]
    row = conn.execute(f"UPDATE tickets SET {assignments} WHERE id = ? RETURNING *",
                       (*params, ticket_id)).fetchone()
    if row is None:
        raise NotFound(f"ticket #{ticket_id} does not exist")
    return records.ticket_from_row(row)


def _update_row(
    conn: Conn, table: str, row_id: int, values: Mapping[str, Any]
) -> None:
    """UPDATE the named columns; names come from the allow-lists above, never a client."""
    if not values:
        return
    assignments = ", ".join(f"{column} = ?" for column in values)
    params = [getattr(v, "value", v) for v in values.values()]
    conn.execute(f"UPDATE {table} SET {assignments} WHERE id = ?", (*params, row_id))
