"""Ticket field commands: admins define the custom fields; everyone reads them, and a
ticket's activity history.

A ticket's values go through ``set_ticket`` (core.writes.update_ticket checks them
against these definitions in the same transaction).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import activity, fields, queries, records, ticket_fields
from core.writes import WriteContext
from server.commands import CommandRefused, Context, _direct, _guarded_read, _recorded


@_direct("list_fields")
async def _list_fields(ctx: Context, args: dict[str, Any]) -> Any:
    return records.to_wire(await ctx.store.read(fields.definitions))


@_recorded("create_field")
def _create_field(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: ticket_fields.create_field(
        w, label=args["label"], kind=args["kind"], choices=args.get("choices", []),
        required_to_resolve=bool(args.get("required_to_resolve", False)))


@_recorded("update_field")
def _update_field(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    changes = {k: v for k, v in args.items() if k != "field_id"}
    if not changes:
        raise CommandRefused("bad_args",
                             "update_field needs label, choices, required_to_resolve or retired")
    return lambda w: ticket_fields.update_field(w, args["field_id"], **changes)


@_recorded("move_field")
def _move_field(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: ticket_fields.move_field(w, args["field_id"], to=args["to"])


@_direct("ticket_activity")
async def _ticket_activity(ctx: Context, args: dict[str, Any]) -> Any:
    if await ctx.store.read(queries.ticket, args["ticket_id"]) is None:
        raise CommandRefused("not_found", f"ticket #{args['ticket_id']} does not exist")
    page = await _guarded_read(ctx, activity.ticket_activity, args["ticket_id"],
                               before=args.get("before"), limit=args.get("limit", 50))
    return {"items": records.to_wire(list(page.items)), "older": page.older}


@_direct("ticket_facts")
async def _ticket_facts(ctx: Context, args: dict[str, Any]) -> Any:
    """What the details pane shows beyond the ticket itself: its first response, the
    customer's last message (the time logged comes from ``ticket_time``)."""
    if await ctx.store.read(queries.ticket, args["ticket_id"]) is None:
        raise CommandRefused("not_found", f"ticket #{args['ticket_id']} does not exist")
    return await ctx.store.read(activity.response_times, args["ticket_id"])
