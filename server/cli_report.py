"""``smsdesk report``: the Reports screen's figures for scripts and spreadsheets.

    smsdesk report --from 2026-11-01 --to 2026-11-30 [--number +1888…|ID] [--group NAME]
                   [--agent NAME] [--channel sms|email] [--time-zone Europe/London]
                   [--format text|csv|json] [--database postgresql://…]

Reads the store directly, as the other admin commands do (the SQLite file in
SMSDESK_HOME, or ``--database``), and prints what ``get_report`` answers: ``json`` is
exactly that dict; ``csv`` one section per table (its name on a line, then a header line,
then its rows, then a blank line); ``text`` the same, to read.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from core.db import Conn

FORMATS = ("text", "csv", "json")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DAY_COLUMNS = ("created", "resolved", "inbound", "outbound")


class ReportRefused(Exception):
    """The report cannot be made as asked; the message says why."""


def register(commands: Any) -> None:
    """Add ``smsdesk report`` to the CLI's sub-commands."""
    from server import cli_checks as check

    parser = commands.add_parser("report", help="print the reports' figures (text, csv, json)")
    parser.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD",
                        help="the first day")
    parser.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD",
                        help="the last day (at most 366 days in all)")
    parser.add_argument("--number", help="only this business number (+1888… or its id)")
    parser.add_argument("--group", help="only this group (its name)")
    parser.add_argument("--agent", help="only this agent's tickets (their name)")
    parser.add_argument("--channel", choices=("sms", "email"))
    parser.add_argument("--time-zone", help="days and hours in this IANA zone (default:"
                        " the desk's time zone setting, else UTC)")
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--database", type=check.database_url, metavar="URL",
                        help="a PostgreSQL database (default: the SQLite file in"
                        " SMSDESK_HOME, or SMSDESK_DATABASE)")
    parser.set_defaults(run=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    import asyncio

    from core.reports import BadReport
    from server.cli_checks import fail
    from server.config import data_paths

    try:
        report = asyncio.run(_report(data_paths(args.database).store, args))
    except (BadReport, ReportRefused) as refused:
        return fail("smsdesk report", str(refused))
    print(FORMATTERS[args.format](report), end="")
    return 0


async def _report(locator: Any, args: argparse.Namespace) -> dict[str, Any]:
    from core.store import Store

    async with await Store.open(locator) as store:
        return await store.read(report_for_cli, args)


def report_for_cli(conn: Conn, args: argparse.Namespace) -> dict[str, Any]:
    """The report the options ask for, names resolved to ids (refused in words)."""
    from core.reports import report_for

    return report_for(conn, {
        "from": args.start, "to": args.end, "time_zone": args.time_zone,
        "channel": args.channel, "number_id": _number_id(conn, args.number),
        "group_id": _id_named(conn, "agent_groups", "group", args.group),
        "agent_id": _id_named(conn, "agents", "agent", args.agent)})


def _number_id(conn: Conn, typed: str | None) -> int | None:
    if typed is None:
        return None
    text = typed.strip()
    if text.isdigit():
        row = conn.execute("SELECT id FROM phone_numbers WHERE id = ?", (int(text),)).fetchone()
    else:
        row = conn.execute("SELECT id FROM phone_numbers WHERE e164 = ?",
                           (text.replace(" ", ""),)).fetchone()
    if row is None:
        raise ReportRefused(f"no business number is {typed!r} (give its +E.164 or its id)")
    return int(row[0])


def _id_named(conn: Conn, table: str, what: str, name: str | None) -> int | None:
    if name is None:
        return None
    row = conn.execute(f"SELECT id FROM {table} WHERE lower(name) = lower(?)",
                       (name.strip(),)).fetchone()
    if row is None:
        raise ReportRefused(f"no {what} is called {name!r}")
    return int(row[0])


# --- json --------------------------------------------------------------------------------


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


# --- csv ---------------------------------------------------------------------------------


def tables(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """Every table of the report: (name, header, rows); what csv and text print."""
    totals = report["totals"]
    csat = report["csat"]
    return [
        ("days", ["day", *DAY_COLUMNS],
         [[d["day"], *(d[c] for c in DAY_COLUMNS)] for d in report["days"]]),
        ("totals", ["figure", "value"], [[name, totals[name]] for name in totals]),
        ("times", ["measure", "count", "median_ms", "p90_ms"],
         [[name, report[name]["count"], report[name]["median_ms"], report[name]["p90_ms"]]
          for name in ("first_response", "resolution")]),
        ("sla", ["measure", "met", "breached", "percent"],
         [[name, s["met"], s["breached"], s["percent"]] for name, s in report["sla"].items()]),
        ("csat", ["sent", "rated", "response_rate", "average", *"12345"],
         [[csat["sent"], csat["rated"], csat["response_rate"], csat["average"],
           *(csat["distribution"][r] for r in "12345")]]),
        ("failures", ["code", "count", "title", "explanation"],
         [[f["code"], f["count"], f["title"], f["explanation"]] for f in report["failures"]]),
        ("segments", ["number_id", "number", "name", "segments", "messages", "segment_price",
                      "currency", "cost"],
         [[s["number_id"], s["number"], s["name"], s["segments"], s["messages"],
           s["segment_price"], s["currency"], s["cost"]] for s in report["segments"]]),
        ("busiest_hours", ["weekday", *(f"{h:02d}" for h in range(24))],
         [[day, *row] for day, row in zip(WEEKDAYS, report["busiest_hours"], strict=True)]),
    ]


def as_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for name, header, rows in tables(report):
        writer.writerow([name])
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        out.write("\n")
    return out.getvalue()


# --- text --------------------------------------------------------------------------------


def as_text(report: dict[str, Any]) -> str:
    from core.durations import span_in_words

    def span(ms: int | None) -> str:
        return "-" if ms is None else span_in_words(ms)

    def percent(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} %"

    filters = ", ".join(f"{k.removesuffix('_id')} {v}" for k, v in report["filters"].items()
                        if v is not None)
    lines = [f"Report {report['from']} to {report['to']} ({report['time_zone']})"
             + (f", only {filters}" if filters else "")]
    lines += ["", *_columns(["Day", "Created", "Resolved", "Inbound", "Outbound"],
                            [[d["day"], *(d[c] for c in DAY_COLUMNS)] for d in report["days"]]
                            + [["Total", *(report["totals"][c] for c in DAY_COLUMNS)]])]
    lines.append(f"Segments sent: {report['totals']['segments']}")
    for name, label in (("first_response", "First response"), ("resolution", "Resolution")):
        t = report[name]
        lines.append(f"{label}: {t['count']} tickets, median {span(t['median_ms'])},"
                     f" 90th percentile {span(t['p90_ms'])} (business hours)")
    sla = report["sla"]
    lines.append("SLA met: " + "; ".join(
        f"{label} {s['met']} met, {s['breached']} breached ({percent(s['percent'])})"
        for label, s in (("first response", sla["first_response"]),
                         ("resolution", sla["resolution"]))))
    csat = report["csat"]
    average = "-" if csat["average"] is None else f"{csat['average']:.2f}"
    lines.append(f"CSAT: {csat['sent']} sent, {csat['rated']} rated"
                 f" ({percent(csat['response_rate'])}), average {average}; "
                 + "  ".join(f"{r}: {n}" for r, n in csat["distribution"].items()))
    lines += ["", "Failed deliveries:"]
    lines += [f"  {f['code']} {f['title']} × {f['count']}: {f['explanation']}"
              for f in report["failures"]] or ["  none"]
    lines += ["", "Segments and estimated cost per number:"]
    lines += [f"  {s['number']} {s['name']}".rstrip() + f": {s['segments']} segments in"
              f" {s['messages']} texts"
              + (f" × {s['segment_price']} = {s['cost']} {s['currency']}"
                 if s["cost"] is not None else " (no segment price set)")
              for s in report["segments"]] or ["  none"]
    lines += ["", "Busiest hours (inbound, by local hour):",
              *_columns(["", *(f"{h:02d}" for h in range(24))],
                        [[day, *row] for day, row in zip(WEEKDAYS, report["busiest_hours"],
                                                         strict=True)])]
    return "\n".join(lines) + "\n"


def _columns(header: list[str], rows: Iterable[list[Any]]) -> list[str]:
    """A table with right-aligned columns (the first left-aligned)."""
    cells = [header, *([str(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                      for i, (v, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in cells]


FORMATTERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "text": as_text, "csv": as_csv, "json": as_json}
