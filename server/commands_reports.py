"""Reports (issue 14): ``get_report``, the figures of a range of days for any agent.

Computed by the store (core.reports) from counters kept by the writes, so a year costs
a few thousand rows. A request that cannot be answered (a date that is not one, more
than 366 days, an unknown time zone, a filter naming nothing) is refused with
``bad_args`` naming its field; the default time zone is the desk's setting
``time_zone``, else UTC.
"""

from __future__ import annotations

from typing import Any

from core import reports
from server.commands import CommandRefused, Context, _direct


@_direct("get_report")
async def _get_report(ctx: Context, args: dict[str, Any]) -> Any:
    try:
        return await ctx.store.read(reports.report_for, args)
    except reports.BadReport as bad:
        raise CommandRefused("bad_args", str(bad), bad.field) from None
