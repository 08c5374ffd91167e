"""Reports (issue 14): ``get_report``, the figures of a range of days for any agent.

Computed by the store (core.reports) from counters kept by the writes, so a year costs
a few thousand rows. A request that cannot be answered (a date that is not one, more
than 366 days, an unknown time zone, a filter naming nothing) is refused with
``bad_args`` naming its field; the default time zone is the desk's setting
``time_zone``, else UTC.
"""

from __future__ import annotations

from typing import Any

from core import queries, reports
from core.db import Conn
from server.commands import CommandRefused, Context, _direct


def report_for(conn: Conn, args: dict[str, Any]) -> dict[str, Any]:
    """The report ``args`` ask for (the wire's names), read in one snapshot."""
    request = reports.request_of(
        start=args.get("from"), end=args.get("to"), time_zone=args.get("time_zone"),
        default_zone=queries.setting(conn, "time_zone"), number_id=args.get("number_id"),
        group_id=args.get("group_id"), agent_id=args.get("agent_id"),
        channel=args.get("channel"))
    reports.check_filters(conn, request)
    return reports.report(conn, request)


@_direct("get_report")
async def _get_report(ctx: Context, args: dict[str, Any]) -> Any:
    try:
        return await ctx.store.read(report_for, args)
    except reports.BadReport as bad:
        raise CommandRefused("bad_args", str(bad), bad.field) from None
