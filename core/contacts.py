"""A contact's phones, and merging two contacts who are one person.

Why a module of its own: a contact is no longer one phone. A customer who texts
from a work and a home phone, or whom an agent recognises under two entries, is
merged into one contact; each phone keeps its own STOP state (contact_phones) and
each ticket keeps the phone its conversation is with (tickets.customer_phone), so
replies after a merge still go where each conversation was.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from core import records
from core.models import Contact
from core.writes import StoreError, WriteContext, contact_by_id


@dataclass(frozen=True, slots=True)
class ContactPhone:
    """One of a contact's phones and whether it said STOP."""

    e164: str
    opted_out: bool
    added_at: int


@dataclass(frozen=True, slots=True)
class Merged:
    """What a merge did: the contact kept, the one removed, what moved."""

    contact: Contact
    merged_id: int
    phones: tuple[ContactPhone, ...]
    ticket_ids: tuple[int, ...]


def phones_of(conn: sqlite3.Connection, contact_id: int) -> tuple[ContactPhone, ...]:
    """The contact's phones, the first one (``contacts.phone``) first."""
    rows = conn.execute(
        "SELECT p.e164, p.opted_out, p.added_at FROM contact_phones p"
        " JOIN contacts c ON c.id = p.contact_id WHERE p.contact_id = ?"
        " ORDER BY p.e164 != c.phone, p.added_at, p.e164", (contact_id,))
    return tuple(ContactPhone(r[0], bool(r[1]), r[2]) for r in rows)


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
