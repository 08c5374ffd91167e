"""A contact's phones, and merging two contacts who are one person.

Why a module of its own: a contact is no longer one phone. A customer who texts
from a work and a home phone, or whom an agent recognises under two entries, is
merged into one contact; each phone keeps its own STOP state (contact_phones) and
each ticket keeps the phone its conversation is with (tickets.customer_phone), so
replies after a merge still go where each conversation was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core import optout, records
from core.db import Conn
from core.dialect import dialect_of
from core.models import Contact
from core.phones import NotAPhoneNumber, understood
from core.writes import StoreError, WriteContext, contact_by_id


@dataclass(frozen=True, slots=True)
class ContactPhone:
    """One of a contact's phones and whether it said STOP (to any of the desk's numbers;
    ``opted_out_number_ids``: to which)."""

    e164: str
    opted_out: bool
    added_at: int
    opted_out_number_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Merged:
    """What a merge did: the contact kept, the one removed, what moved."""

    contact: Contact
    merged_id: int
    phones: tuple[ContactPhone, ...]
    ticket_ids: tuple[int, ...]


def phones_of(conn: Conn, contact_id: int) -> tuple[ContactPhone, ...]:
    """The contact's phones, the first one (``contacts.phone``) first."""
    rows = conn.execute(
        "SELECT p.e164, p.opted_out, p.added_at,"
        f" {optout.opted_out_numbers_sql('p.e164', dialect_of(conn))} FROM contact_phones p"
        " JOIN contacts c ON c.id = p.contact_id WHERE p.contact_id = ?"
        " ORDER BY p.e164 != c.phone, p.added_at, p.e164", (contact_id,))
    return tuple(ContactPhone(r[0], bool(r[1]), r[2], tuple(sorted(json.loads(r[3]))))
                 for r in rows)


def merge_contacts(ctx: WriteContext, keep_id: int, merge_id: int) -> Merged:
    """Move ``merge_id``'s tickets, phones and opt-out history to ``keep_id`` and remove it.

    One transaction: all of it or nothing. The kept contact's name, email and note stay;
    an empty one takes the other's. Each phone keeps its STOP state and each ticket its
    customer phone, so nothing about who may be texted where changes. Every inbox hears
    ``contact.merged``.
    """
    if keep_id == merge_id:
        raise StoreError("a contact cannot be merged into itself")
    keep = contact_by_id(ctx.conn, keep_id)
    gone = contact_by_id(ctx.conn, merge_id)
    moved = tuple(r[0] for r in ctx.conn.execute(
        "SELECT id FROM tickets WHERE contact_id = ? ORDER BY id", (merge_id,)))
    ctx.conn.execute("UPDATE tickets SET contact_id = ? WHERE contact_id = ?", (keep_id, merge_id))
    ctx.conn.execute("UPDATE contact_phones SET contact_id = ? WHERE contact_id = ?",
                     (keep_id, merge_id))
    ctx.conn.execute("UPDATE opt_out_changes SET contact_id = ? WHERE contact_id = ?",
                     (keep_id, merge_id))
    filled: dict[str, Any] = {field: getattr(gone, field)
                              for field in ("name", "email", "note")
                              if not getattr(keep, field) and getattr(gone, field)}
    ctx.conn.execute("DELETE FROM contacts WHERE id = ?", (merge_id,))
    for field, value in filled.items():  # the three names are fixed above, never input
        ctx.conn.execute(f"UPDATE contacts SET {field} = ? WHERE id = ?", (value, keep_id))
        setattr(keep, field, value)
    merged = Merged(keep, merge_id, phones_of(ctx.conn, keep_id), moved)
    ctx.emit("contact.merged", None, {
        "contact": records.to_wire(keep), "merged_id": merge_id,
        "phones": records.to_wire(merged.phones), "ticket_ids": list(moved),
    })
    return merged


#: The longest phone text an agent may type (E.164 is at most 16 characters).
MAX_TYPED_PHONE = 40


def add_phone(ctx: WriteContext, contact_id: int, typed: str) -> tuple[ContactPhone, ...]:
    """Give a contact another phone, typed in any format (national numbers read as US).

    A phone is one person's: one already on another contact is refused with that
    contact's name, since the two are then one person and merging is the way.
    """
    contact = contact_by_id(ctx.conn, contact_id)
    if len(typed) > MAX_TYPED_PHONE:
        raise StoreError(f"a phone number is at most {MAX_TYPED_PHONE} characters")
    try:
        e164 = understood(typed).e164
    except NotAPhoneNumber as error:
        raise StoreError(str(error)) from None
    owner = ctx.conn.execute(
        "SELECT c.id, c.name FROM contact_phones p JOIN contacts c ON c.id = p.contact_id"
        " WHERE p.e164 = ?", (e164,)).fetchone()
    if owner is not None and owner[0] == contact_id:
        raise StoreError(f"{e164} is already one of this contact's phones")
    if owner is not None:
        raise StoreError(f"{e164} is {owner[1] or 'another contact'}'s phone (contact"
                         f" {owner[0]}): if they are one person, merge the two contacts")
    ctx.conn.execute("INSERT INTO contact_phones(e164, contact_id, opted_out, added_at)"
                     " VALUES (?, ?, 0, ?)", (e164, contact_id, ctx.now))
    return _phones_changed(ctx, contact)


def remove_phone(ctx: WriteContext, contact_id: int, e164: str) -> tuple[ContactPhone, ...]:
    """Take a phone off a contact; its tickets keep it (it is who they were with).

    Refused for the contact's only phone, and for one that said STOP: removing it would
    forget the STOP, and a later text from it would start a contact Twilio still blocks.
    """
    contact = contact_by_id(ctx.conn, contact_id)
    phones = phones_of(ctx.conn, contact_id)
    phone = next((p for p in phones if p.e164 == e164), None)
    if phone is None:
        raise StoreError(f"{e164} is not one of this contact's phones")
    if len(phones) == 1:
        raise StoreError("a contact keeps at least one phone")
    if phone.opted_out:
        raise StoreError(f"{e164} replied STOP: it stays, so the desk remembers that")
    if contact.phone == e164:  # the first phone goes: the next one becomes the first
        heir = next(p for p in phones if p.e164 != e164)
        ctx.conn.execute("DELETE FROM contact_phones WHERE e164 = ?", (e164,))
        ctx.conn.execute("UPDATE contacts SET phone = ?, opted_out = ? WHERE id = ?",
                         (heir.e164, heir.opted_out, contact_id))
        contact.phone, contact.opted_out = heir.e164, heir.opted_out
    else:
        ctx.conn.execute("DELETE FROM contact_phones WHERE e164 = ?", (e164,))
    return _phones_changed(ctx, contact)


def _phones_changed(ctx: WriteContext, contact: Contact) -> tuple[ContactPhone, ...]:
    phones = phones_of(ctx.conn, contact.id)
    ctx.emit("contact.updated", None, {"contact": records.to_wire(contact),
                                       "phones": records.to_wire(phones)})
    return phones
