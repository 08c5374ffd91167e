"""The contact commands: the person behind the tickets, seen and edited by any agent.

A contact is found from any of their tickets (``ticket.contact_id``). Edits (name,
email, note, phones) are checked on the relay (core.contact_rules, core.contacts) and
go to every inbox as ``contact.updated``; an admin merges two contacts who are one
person (``contact.merged``). A resent change is answered from its record, not redone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import contacts, queries, records, writes
from core.writes import WriteContext
from server.commands import CommandRefused, Context, _direct, _guarded_read, _recorded


@_direct("get_contact")
async def _get_contact(ctx: Context, args: dict[str, Any]) -> Any:
    """The contact with their opt-out audit trail (who said STOP or START, on which number)."""
    found = await ctx.store.read(queries.contact, args["contact_id"])
    if found is None:
        raise CommandRefused("not_found", f"contact {args['contact_id']} does not exist")
    history = await ctx.store.read(queries.opt_out_history, found.id)
    phones = await ctx.store.read(contacts.phones_of, found.id)
    return {"contact": records.to_wire(found), "phones": records.to_wire(phones),
            "opt_out_history": records.to_wire(history)}


@_direct("contact_tickets")
async def _contact_tickets(ctx: Context, args: dict[str, Any]) -> Any:
    """Every ticket of the person, newest first, closed and deleted ones included."""
    if await ctx.store.read(queries.contact, args["contact_id"]) is None:
        raise CommandRefused("not_found", f"contact {args['contact_id']} does not exist")
    page = await _guarded_read(ctx, queries.contact_tickets, args["contact_id"],
                               before=args.get("before"), limit=args.get("limit", 50))
    return {"items": [{"ticket": records.to_wire(item.ticket), "number": item.number_e164,
                       "opted_out_number_ids": list(item.opted_out_number_ids),
                       "csat_rating": item.csat_rating}
                      for item in page.items],
            "older": page.older, "newer": None}


@_recorded("update_contact")
def _update_contact(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    changes = {k: v for k, v in args.items() if k in ("name", "email", "note")}
    if not changes:
        raise CommandRefused("bad_args", "update_contact needs a name, email or note to change")
    return lambda w: writes.update_contact(w, args["contact_id"], **changes)


@_recorded("merge_contacts")
def _merge_contacts(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    """Admins only (checked again inside the write's transaction); done once per id."""
    return lambda w: contacts.merge_contacts(w, args["contact_id"], args["merge_contact_id"])


@_recorded("add_contact_phone")
def _add_contact_phone(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    """Another phone for the person; one already someone else's is refused (merge them)."""
    return lambda w: {"phones": contacts.add_phone(w, args["contact_id"], args["phone"])}


@_recorded("remove_contact_phone")
def _remove_contact_phone(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: {"phones": contacts.remove_phone(w, args["contact_id"], args["phone"])}
