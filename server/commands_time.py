"""Time commands: the agent's one running timer (on the relay), a ticket's time entries.

Starting and stopping are recorded like every change, so a start resent after
a reconnect does not restart the clock, and a stop resent does not log twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import records, timekeeping
from core.writes import WriteContext
from server.commands import CommandRefused, Context, _direct, _recorded


@_recorded("start_timer")
def _start_timer(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: timekeeping.start_timer(w, agent_id=ctx.agent.id,
                                             ticket_id=args["ticket_id"])


@_recorded("stop_timer")
def _stop_timer(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: {"stopped": timekeeping.stop_timer(w, agent_id=ctx.agent.id)}


@_direct("my_timer")
async def _my_timer(ctx: Context, args: dict[str, Any]) -> Any:
    """The agent's running timer, if any: a new inbox shows it again after a restart."""
    timer = await ctx.store.read(timekeeping.running_timer, ctx.agent.id)
    return {"timer": records.to_wire(timer) if timer is not None else None}


@_direct("ticket_time")
async def _ticket_time(ctx: Context, args: dict[str, Any]) -> Any:
    return await ctx.store.read(timekeeping.time_of_ticket, args["ticket_id"])


@_recorded("update_time_entry")
def _update_time_entry(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    changes = {k: v for k, v in args.items() if k != "entry_id"}
    if not changes:
        raise CommandRefused("bad_args", "update_time_entry needs seconds, note or billable")
    return lambda w: timekeeping.update_time_entry(w, entry_id=args["entry_id"],
                                                   agent_id=ctx.agent.id, **changes)


@_recorded("delete_time_entry")
def _delete_time_entry(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: timekeeping.delete_time_entry(w, entry_id=args["entry_id"],
                                                   agent_id=ctx.agent.id)


