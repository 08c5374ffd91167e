"""The Trash's commands: delete and restore a set of tickets, empty the Trash, retention.

Each is one recorded transaction over the whole set, so a bulk delete resent
after a reconnect is answered from its record, never done again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import trash
from core.writes import WriteContext
from server.commands import Context, _direct, _recorded


@_recorded("delete_tickets")
def _delete_tickets(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: {"deleted": trash.delete_tickets(w, args["ticket_ids"])}


@_recorded("restore_tickets")
def _restore_tickets(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: {"restored": trash.restore_tickets(w, args["ticket_ids"])}


@_recorded("empty_trash")
def _empty_trash(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: {"purged": trash.empty_trash(w)}


@_direct("get_trash_retention")
async def _get_trash_retention(ctx: Context, args: dict[str, Any]) -> Any:
    return {"days": await ctx.store.read(trash.retention_days)}


@_recorded("set_trash_retention")
def _set_trash_retention(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: {"days": trash.set_retention(w, args["days"])}
