"""SLA targets (issue 14): per priority, a first response and a resolution target, admins'.

Targets travel as the admin types them ("4h", "1d 2h", "90" minutes; "" or null: no
target) and come back in both forms (ms and words), so the form shows what was saved.
A refused target changes nothing and names its field ("urgent.resolution").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import sla, sla_writes
from core.durations import BadDuration
from core.models import Priority
from core.writes import WriteContext
from server.commands import CommandRefused, Context, _direct, _recorded

_KINDS = ("first_response", "resolution")


@_direct("get_sla_targets")
async def _get_sla_targets(ctx: Context, args: dict[str, Any]) -> Any:
    return {"targets": sla_writes.targets_to_wire(await ctx.store.read(sla_writes.targets))}


@_recorded("save_sla_targets")
def _save_sla_targets(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    changes = targets_from_wire(args["targets"])

    def save(wctx: WriteContext) -> dict[str, Any]:
        return {"targets": sla_writes.targets_to_wire(sla_writes.save_targets(wctx, changes))}
    return save


def targets_from_wire(items: list[dict[str, Any]]) -> dict[Priority, sla.Target]:
    """[{"priority": "urgent", "first_response": "30m", "resolution": "4h"}, ...] as targets;
    refused (bad_args, naming the field) at the first that is not one."""
    targets: dict[Priority, sla.Target] = {}
    for item in items:
        try:
            priority = Priority(item.get("priority"))
        except ValueError:
            raise CommandRefused("bad_args", f"{item.get('priority')!r} is not a priority"
                                 " (low, medium, high, urgent)", "priority") from None
        if priority in targets:
            raise CommandRefused("bad_args", f"{priority.value} is listed twice", "priority")
        targets[priority] = sla.Target(**{kind: _target(item.get(kind), priority, kind)
                                          for kind in _KINDS})
    return targets


def _target(typed: Any, priority: Priority, kind: str) -> int | None:
    field = f"{priority.value}.{kind}"
    if typed is not None and not isinstance(typed, str):
        raise CommandRefused("bad_args", f"{field}: type a duration such as 4h or 1d 2h", field)
    try:
        return sla.target_from_text(typed)
    except BadDuration as bad:
        raise CommandRefused("bad_args", f"{kind.replace('_', ' ')} for {priority.value}:"
                             f" {bad}", field) from None
