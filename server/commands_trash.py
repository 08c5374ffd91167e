"""The Trash's commands: delete and restore a set of tickets, empty the Trash, retention.

Each is one recorded transaction over the whole set, so a bulk delete resent
after a reconnect is answered from its record, never done again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import trash
from core.protocol import Command
from core.writes import WriteContext
from server.commands import Context, _direct, _recorded, _staged, answered, write_once
from server.media_sweep import sweep_media


@_recorded("delete_tickets")
def _delete_tickets(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: {"deleted": trash.delete_tickets(w, args["ticket_ids"], by=ctx.agent.id)}


@_recorded("restore_tickets")
def _restore_tickets(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: {"restored": trash.restore_tickets(w, args["ticket_ids"])}


@_staged("empty_trash")  # keeps its own record: media goes only after the commit
async def _empty_trash(ctx: Context, command: Command) -> Any:
    """Purge, and once that committed, remove the media nothing names any more."""
    done = await answered(ctx, command)
    if done is not None:
        return done
    purged = await write_once(ctx, command, lambda w: {"purged": trash.empty_trash(w)})
    await sweep_media(ctx.store, ctx.media)
    return purged


@_direct("get_trash_retention")
async def _get_trash_retention(ctx: Context, args: dict[str, Any]) -> Any:
    return {"days": await ctx.store.read(trash.retention_days)}


@_recorded("set_trash_retention")
def _set_trash_retention(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: {"days": trash.set_retention(w, args["days"])}
