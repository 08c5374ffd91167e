"""Scenarios' commands: admins define them, any agent runs one on up to 500 tickets.

A run is one transaction per ticket (all of that ticket's actions or none), each
recording under the command id that it was applied, and then the run's summary is
remembered like any command's result: a resend before the summary skips the tickets
already done, a resend after it is answered from the record. Nothing runs twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from core import records, scenarios
from core.protocol import Command
from core.writes import NotFound, StoreError, WriteContext
from server.commands import (
    CommandRefused,
    Context,
    _direct,
    _recorded,
    _staged,
    answered,
    queue_checked,
    store_write,
    write_once,
)


@_direct("list_scenarios")
async def _list_scenarios(ctx: Context, args: dict[str, Any]) -> Any:
    return records.to_wire(await ctx.store.read(scenarios.scenarios))


@_recorded("save_scenario")
def _save_scenario(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: scenarios.save_scenario(w, scenario_id=args.get("scenario_id"),
                                             name=args["name"], actions=args["actions"])


@_recorded("delete_scenario")
def _delete_scenario(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: scenarios.delete_scenario(w, scenario_id=args["scenario_id"])


@_staged("run_scenario")
async def _run_scenario(ctx: Context, command: Command) -> Any:
    done = await answered(ctx, command)
    if done is not None:
        return done
    try:
        ticket_ids = scenarios.check_ticket_ids(command.args["ticket_ids"])
        scenario = await ctx.store.read(scenarios.scenario_by_id, command.args["scenario_id"])
    except StoreError as error:
        code = "not_found" if isinstance(error, NotFound) else "bad_args"
        raise CommandRefused(code, str(error)) from None

    def on_ticket(ticket_id: int) -> Callable[[WriteContext], dict[str, Any]]:
        return lambda w: scenarios.run_on_ticket(
            w, scenario=scenario, ticket_id=ticket_id, agent_id=ctx.agent.id,
            command_id=command.id, send=_send, bulk=len(ticket_ids) > 1)

    # Every ticket's job is queued at once: the store commits them in a few batches.
    results = await asyncio.gather(*(store_write(ctx, on_ticket(t)) for t in ticket_ids))
    if any(result["ok"] for result in results) and _sends(scenario):
        ctx.on_queued()
    summary = {"scenario_id": scenario.id, "name": scenario.name,
               "applied": [r["ticket_id"] for r in results if r["ok"]],
               "refused": [r for r in results if not r["ok"]]}
    return await write_once(ctx, command, lambda w: summary)


def _send(wctx: WriteContext, agent_id: int, ticket_id: int, body: str,
          media: tuple[Any, ...]) -> Any:
    return queue_checked(wctx, agent_id, ticket_id, body, media)


def _sends(scenario: scenarios.Scenario) -> bool:
    return any("canned" in action for action in scenario.actions)
