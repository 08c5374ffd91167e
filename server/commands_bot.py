"""The bot's commands (issue 13): flows per business number and business hours, admins'.

A flow is saved as the TOML the admin wrote (import and export give back the same
text), checked first as a whole: every problem comes back at once, one per line with
its line number, under ``bad_args``. Saving or switching a flow and saving hours tell
every admin screen through ``bot.flow_saved`` / ``hours.saved``. The preview needs no
command: the engine and the hours are pure core and run in the inbox.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import bot_store
from core.business_hours import HoursInvalid
from core.writes import WriteContext
from server.commands import CommandRefused, Context, _direct, _recorded


@_direct("get_bot_flows")
async def _get_bot_flows(ctx: Context, args: dict[str, Any]) -> Any:
    return {"flows": [row.to_wire() for row in await ctx.store.read(bot_store.bot_flows)]}


@_recorded("save_bot_flow")
def _save_bot_flow(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    def save(wctx: WriteContext) -> dict[str, Any]:
        try:
            row = bot_store.save_flow(wctx, number_id=args["number_id"], source=args["source"],
                                      enabled=args.get("enabled"), by=ctx.agent.id)
        except bot_store.FlowRefused as refused:
            raise CommandRefused("bad_args", str(refused), "source") from None
        return row.to_wire()
    return save


@_recorded("set_bot_enabled")
def _set_bot_enabled(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    def switch(wctx: WriteContext) -> dict[str, Any]:
        try:
            row = bot_store.set_enabled(wctx, number_id=args["number_id"],
                                        enabled=args["enabled"], by=ctx.agent.id)
        except bot_store.FlowRefused as refused:
            raise CommandRefused("bad_args", "fix the flow before turning it on:\n"
                                 + str(refused), "source") from None
        return row.to_wire()
    return switch


@_direct("get_business_hours")
async def _get_business_hours(ctx: Context, args: dict[str, Any]) -> Any:
    return {"hours": [row.to_wire() for row in await ctx.store.read(bot_store.business_hours)]}


@_recorded("save_business_hours")
def _save_business_hours(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    def save(wctx: WriteContext) -> dict[str, Any]:
        try:
            row = bot_store.save_hours(wctx, scope=args["scope"], scope_id=args["scope_id"],
                                       calendar=args["calendar"])
        except HoursInvalid as invalid:
            raise CommandRefused("bad_args", str(invalid), "calendar") from None
        return row.to_wire()
    return save
