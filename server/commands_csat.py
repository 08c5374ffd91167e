"""CSAT commands (issue 14): a ticket's surveys, for its details and the contact view.

The surveys themselves are sent and rated by the relay on its own (core.csat_writes);
the number's survey settings travel with ``update_number`` (server/admin_commands.py).
"""

from __future__ import annotations

from typing import Any

from core import csat_surveys, writes
from core.csat_writes import survey_wire
from core.db import Conn
from server.commands import CommandRefused, Context, _direct


def _ticket_csat(conn: Conn, ticket_id: int) -> dict[str, Any]:
    writes.ticket_by_id(conn, ticket_id)  # NotFound for a ticket that is not there
    surveys = csat_surveys.surveys_of(conn, ticket_id)
    return {"ticket_id": ticket_id, "rating": csat_surveys.latest_rating(conn, ticket_id),
            "surveys": [survey_wire(s) for s in surveys]}


@_direct("ticket_csat")
async def _ticket_csat_command(ctx: Context, args: dict[str, Any]) -> Any:
    """The ticket's surveys, oldest first, and its latest rating (null: never rated)."""
    try:
        return await ctx.store.read(_ticket_csat, args["ticket_id"])
    except writes.NotFound as error:
        raise CommandRefused("not_found", str(error)) from None
