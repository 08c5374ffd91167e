"""The Reports screen (R in the inbox): range and filters become get_report's arguments,
the answer becomes charts, tables and words.

Canned tests run the whole inbox over ``ReportClient`` (the snapshots' canned relay,
test_tui_snapshots.py, plus a fixed ``get_report`` answer), so the screen is fed
through the same client path the app uses; the clock is pinned so "the last 7 days"
and the snapshots are the same on every run.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, date
from pathlib import Path
from typing import Any

import pytest
from desk_harness import UK_LONG_CODE, US_TOLL_FREE, LiveDesk, live_desk, until
from rich.console import Console
from test_bot_commands import database  # noqa: F401 (sqlite and postgresql)
from test_tui_snapshots import (
    CannedClient,
    frozen_time,  # noqa: F401 (autouse: now is 2024-11-20 12:00 UTC)
    listed,
)
from textual.pilot import Pilot
from textual.widgets import Input, Static

from core.models import now_ms
from server.cli import main
from tui.app import InboxApp
from tui.client import CommandError
from tui.config import Config
from tui.report_figures import (
    MAX_DAYS,
    ReportQuery,
    busiest_table,
    cost_summary,
    duration_words,
    is_empty,
    last_days,
    parse_range,
    per_day_table,
    range_problem,
    times_table,
)
from tui.screens.inbox import InboxScreen
from tui.screens.pickers import ChoiceScreen, TextPromptScreen
from tui.screens.reports import ReportsScreen
from tui.widgets import render
from tui.widgets.report_charts import DailyChart, count_ticks, heat_level

SMALL = (100, 30)
LARGE = (160, 50)
MINUTE = 60_000
HOUR = 60 * MINUTE

# A week of a small desk, 2024-11-14 … 2024-11-20 (NOW is 2024-11-20 12:00 UTC).
REPORT: dict[str, Any] = {
    "from": "2024-11-14", "to": "2024-11-20", "time_zone": "UTC",
    "filters": {"number_id": None, "group_id": None, "agent_id": None, "channel": None},
    "days": [{"day": f"2024-11-{day}", "created": c, "resolved": r, "inbound": i, "outbound": o}
             for day, c, r, i, o in [(14, 3, 2, 10, 8), (15, 1, 1, 4, 3), (16, 0, 0, 0, 0),
                                     (17, 0, 1, 2, 1), (18, 5, 3, 14, 12), (19, 4, 4, 11, 9),
                                     (20, 2, 1, 6, 4)]],
    "totals": {"created": 15, "resolved": 12, "inbound": 47, "outbound": 37, "segments": 61},
    "first_response": {"count": 12, "median_ms": 9 * MINUTE, "p90_ms": 2 * HOUR + 10 * MINUTE},
    "resolution": {"count": 12, "median_ms": 2 * HOUR, "p90_ms": 26 * HOUR},
    "sla": {"first_response": {"met": 11, "breached": 1, "percent": 91.7},
            "resolution": {"met": 10, "breached": 2, "percent": 83.3}},
    "csat": {"sent": 10, "rated": 6, "response_rate": 60.0, "average": 4.17,
             "distribution": {"1": 0, "2": 1, "3": 0, "4": 2, "5": 3}},
    "failures": [
        {"code": 30007, "count": 2, "title": "Message filtered",
         "explanation": "The carrier filtered the text as spam or unwanted."},
        {"code": 30003, "count": 1, "title": "Unreachable destination handset",
         "explanation": "The phone is off, out of coverage or cannot take texts."},
    ],
    "segments": [
        {"number_id": 1, "number": "+18885550100", "name": "US toll-free", "segments": 48,
         "messages": 30, "segment_price": "0.0079", "currency": "USD", "cost": "0.38"},
        {"number_id": 2, "number": "+447400900456", "name": "UK", "segments": 13,
         "messages": 7, "segment_price": None, "currency": "GBP", "cost": None},
    ],
    "busiest_hours": [[(day * 7 + hour * 3) % 9 if 8 <= hour <= 18 else 0 for hour in range(24)]
                      for day in range(7)],
}


def empty_report(first: str, last: str) -> dict[str, Any]:
    """What the relay says for a range where nothing happened: zeros and nulls."""
    days = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
    return {
        "from": first, "to": last, "time_zone": "UTC", "filters": REPORT["filters"],
        "days": [{"day": date.fromordinal(date.fromisoformat(first).toordinal() + n).isoformat(),
                  "created": 0, "resolved": 0, "inbound": 0, "outbound": 0}
                 for n in range(days)],
        "totals": {"created": 0, "resolved": 0, "inbound": 0, "outbound": 0, "segments": 0},
        "first_response": {"count": 0, "median_ms": None, "p90_ms": None},
        "resolution": {"count": 0, "median_ms": None, "p90_ms": None},
        "sla": {"first_response": {"met": 0, "breached": 0, "percent": None},
                "resolution": {"met": 0, "breached": 0, "percent": None}},
        "csat": {"sent": 0, "rated": 0, "response_rate": None, "average": None,
                 "distribution": {str(n): 0 for n in range(1, 6)}},
        "failures": [], "segments": [], "busiest_hours": [[0] * 24 for _ in range(7)],
    }


class ReportClient(CannedClient):
    """The canned relay, which also answers ``get_report``: the fixed week above, an empty
    report for any other range, or the error a test puts in ``refusal``."""

    refusal: CommandError | None = None

    def _get_report(self, args: dict[str, Any]) -> Any:
        if self.refusal is not None:
            raise self.refusal
        if (args["from"], args["to"]) == (REPORT["from"], REPORT["to"]) and len(args) == 2:
            return dict(REPORT)
        return empty_report(args["from"], args["to"])


def reports_app() -> InboxApp:
    return InboxApp(Config(relay="ws://127.0.0.1:9/ws", token="sd_canned", send_review=False),
                    client_class=ReportClient)


def report_calls(app: InboxApp) -> list[dict[str, Any]]:
    return [args for name, args in app.client.calls if name == "get_report"]  # type: ignore[attr-defined]


async def open_reports(pilot: Pilot[Any], calls: int = 1) -> ReportsScreen:
    app = pilot.app
    assert isinstance(app, InboxApp)
    await listed(pilot)
    await pilot.press("R")
    screen = await until(pilot, lambda: isinstance(app.screen, ReportsScreen) and app.screen,
                         what="the reports screen")
    await until(pilot, lambda: len(report_calls(app)) >= calls and not screen.fetching
                and screen.lists_loaded.is_set(), what="the report")
    await pilot.pause()
    return screen


async def answered(pilot: Pilot[Any], screen: ReportsScreen, calls: int) -> dict[str, Any]:
    """The arguments of the ``calls``-th get_report, once its answer is shown."""
    app = pilot.app
    assert isinstance(app, InboxApp)
    await until(pilot, lambda: len(report_calls(app)) >= calls and not screen.fetching,
                what=f"get_report #{calls}")
    await pilot.pause()
    return report_calls(app)[calls - 1]


def words(screen: ReportsScreen, selector: str) -> str:
    """What the widget says, line by line (a Rich table as drawn), at the screen's width."""
    widget = screen.query_one(selector, Static)
    console = Console(width=screen.size.width - 2, file=io.StringIO(), color_system=None)
    with console.capture() as captured:
        console.print(widget.content)
    return "\n".join(line.rstrip() for line in captured.get().splitlines())


# --- behaviour ------------------------------------------------------------------------------


async def test_R_opens_the_last_7_days_and_escape_goes_back_to_the_inbox() -> None:
    app = reports_app()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_reports(pilot)
        assert report_calls(app) == [{"from": "2024-11-14", "to": "2024-11-20"}]
        assert "2024-11-14 → 2024-11-20 (7 days) · UTC" in words(screen, "#report-title")
        assert "Number: all · Group: all · Agent: all · Channel: all" in words(
            screen, "#report-filters")
        overview = words(screen, "#sec-overview .section-table")
        assert "9m · 2h 10m" in overview and "2h · 1d 2h" in overview
        assert "91.7% (11 met, 1 breached)" in overview and "4.17 of 5" in overview
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, InboxScreen), what="the inbox again")


async def test_quick_keys_ask_for_the_last_30_90_and_7_days_and_r_asks_again() -> None:
    app = reports_app()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("3")
        assert await answered(pilot, screen, 2) == {"from": "2024-10-22", "to": "2024-11-20"}
        await pilot.press("9")
        assert await answered(pilot, screen, 3) == {"from": "2024-08-23", "to": "2024-11-20"}
        assert "(90 days)" in words(screen, "#report-title")
        await pilot.press("7")
        assert await answered(pilot, screen, 4) == {"from": "2024-11-14", "to": "2024-11-20"}
        await pilot.press("r")
        assert await answered(pilot, screen, 5) == {"from": "2024-11-14", "to": "2024-11-20"}


async def test_typed_dates_are_refused_in_words_until_they_make_a_range() -> None:
    app = reports_app()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("d")
        prompt = await until(pilot, lambda: isinstance(app.screen, TextPromptScreen)
                             and app.screen, what="the dates prompt")
        field = prompt.query_one("#prompt-input", Input)
        assert field.value == "2024-11-14 2024-11-20"
        for typed, refusal in [("2024-11-31 2024-12-02", "not a date on the calendar"),
                               ("yesterday", "is not two dates"),
                               ("last week", "“last” is not a date"),
                               ("2024-12-01 2024-11-01", "is before"),
                               ("2023-01-01 2024-01-02", "at most 366 days")]:
            field.value = typed
            await pilot.press("enter")
            await pilot.pause()
            assert refusal in str(prompt.query_one("#prompt-error", Static).render()), typed
            assert app.screen is prompt  # still asking
        assert len(report_calls(app)) == 1  # nothing was asked of the relay
        field.value = "2024-11-01 to 2024-11-30"
        await pilot.press("enter")
        assert await answered(pilot, screen, 2) == {"from": "2024-11-01", "to": "2024-11-30"}
        assert app.screen is screen


async def test_filters_change_the_request_and_x_clears_them() -> None:
    app = reports_app()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_reports(pilot)
        calls = 1
        for key, typed, expected in [("n", "UK", {"number_id": 2}),
                                     ("g", "Shipping", {"group_id": 2}),
                                     ("a", "Sam", {"agent_id": 2}),
                                     ("c", "Email", {"channel": "email"})]:
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what=key)
            await pilot.press(*typed, "enter")
            calls += 1
            args = await answered(pilot, screen, calls)
            assert args.items() >= expected.items(), (key, args)
        assert args == {"from": "2024-11-14", "to": "2024-11-20", "number_id": 2, "group_id": 2,
                        "agent_id": 2, "channel": "email"}
        assert words(screen, "#report-filters").strip() == (
            "Number: UK (+447400900456) · Group: Shipping · Agent: Sam Rivera · Channel: Email")
        # Nothing matches those filters here: said in words, with the filters, no charts.
        state = " ".join(words(screen, "#report-state").split())
        assert "Nothing to report from 2024-11-14 to 2024-11-20 for UK (+447400900456), " \
               "group Shipping, Sam Rivera, Email" in state
        assert not screen.query_one("#sec-tickets").display
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="numbers again")
        await pilot.press(*"All", "enter")  # back to every number
        assert "number_id" not in await answered(pilot, screen, calls + 1)
        await pilot.press("x")
        assert await answered(pilot, screen, calls + 2) == {"from": "2024-11-14",
                                                            "to": "2024-11-20"}
        assert screen.query_one("#sec-tickets").display  # the week's figures again


async def test_a_relay_error_is_said_in_words_and_r_tries_again() -> None:
    app = reports_app()
    async with app.run_test(size=SMALL) as pilot:
        client = app.client
        assert isinstance(client, ReportClient)
        client.refusal = CommandError("internal", "the database is not answering")
        screen = await open_reports(pilot)
        state = words(screen, "#report-state")
        assert "Could not load the report for 2024-11-14 → 2024-11-20 (7 days): the database" \
               " is not answering" in state and "Press r to try again." in state
        assert not screen.query_one("#sec-overview").display  # no stale or empty figures
        client.refusal = None
        await pilot.press("r")
        await answered(pilot, screen, 2)
        assert screen.query_one("#sec-overview").display
        assert not screen.query_one("#report-state").display


async def test_t_shows_every_chart_as_a_table_and_brackets_move_between_sections() -> None:
    app = reports_app()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_reports(pilot)
        chart = screen.query_one("#tickets-chart", DailyChart)
        table = screen.query_one("#sec-tickets .section-table", Static)
        assert chart.display and chart.region.height and not table.region.height
        await pilot.press("t")
        await pilot.pause()
        assert not chart.region.height and table.region.height
        days = words(screen, "#sec-tickets .section-table")
        assert "Sat 2024-11-16 │       0 │        0" in days
        assert "Total          │      15 │       12" in days
        assert screen.query_one("#sec-failures .section-table").region.height  # as before
        body = screen.query_one("#report-body")
        await pilot.press(*["right_square_bracket"] * 3)
        times = screen.query_one("#sec-times")
        assert times.has_class("current")
        await until(pilot, lambda: times.region.y == body.region.y and body.scroll_y > 0,
                    what="the times section's title at the top")
        await pilot.press(*["left_square_bracket"] * 3)
        await until(pilot, lambda: body.scroll_y == 0, what="back at the top")


# --- the figures in words -------------------------------------------------------------------


def test_durations_read_as_an_agent_says_them() -> None:
    assert [duration_words(ms) for ms in (None, 0, 30_000, 9 * MINUTE, 2 * HOUR + 10 * MINUTE,
                                          26 * HOUR)] == \
        ["—", "0m", "under 1m", "9m", "2h 10m", "1d 2h"]


def test_typed_ranges_in_their_forms_and_their_refusals() -> None:
    for typed in ("2024-11-01 2024-11-30", "2024-11-01 to 2024-11-30", "2024-11-01..2024-11-30",
                  "2024-11-01 - 2024-11-30", " 2024-11-01 → 2024-11-30 "):
        assert parse_range(typed) == (date(2024, 11, 1), date(2024, 11, 30)), typed
    assert range_problem("2024-01-01 2024-12-31") is None  # 366 days (a leap year): allowed
    problem = range_problem("2024-01-01 2025-01-01")
    assert problem is not None and f"at most {MAX_DAYS} days" in problem
    assert "not a date" in (range_problem("2024-1-1 2024-02-01") or "")
    assert "No dates" in (range_problem("  ") or "")
    assert last_days(7, date(2024, 11, 20)) == (date(2024, 11, 14), date(2024, 11, 20))


def test_the_request_carries_only_the_filters_in_effect() -> None:
    query = ReportQuery(date(2024, 11, 1), date(2024, 11, 30))
    assert query.args() == {"from": "2024-11-01", "to": "2024-11-30"}
    assert query.with_filter("group_id", 3).with_filter("channel", "sms").args() == {
        "from": "2024-11-01", "to": "2024-11-30", "group_id": 3, "channel": "sms"}


def test_tables_hold_every_number_of_the_report() -> None:
    days = per_day_table(REPORT, "created", "resolved")
    assert days.rows[0] == ["Thu 2024-11-14", "3", "2"] and days.rows[-1] == ["Total", "15", "12"]
    assert len(days.rows) == 8  # every day of the range, the empty Saturday too
    assert times_table(REPORT).rows == [
        ["First response", "12", "9m", "2h 10m", "11", "1", "91.7%"],
        ["Resolution", "12", "2h", "1d 2h", "10", "2", "83.3%"]]
    hours = busiest_table(REPORT)
    assert len(hours.rows) == 24 and hours.columns == ["Hour", "Mon", "Tue", "Wed", "Thu",
                                                        "Fri", "Sat", "Sun"]
    assert hours.rows[9] == ["09:00", *(str((d * 7 + 27) % 9) for d in range(7))]
    assert cost_summary(REPORT) == [
        "Segments sent: 61", "Estimated cost: 0.38 USD",
        "No segment price for UK (set it in Admin › Numbers)"]
    assert not is_empty(REPORT) and is_empty(empty_report("2024-11-01", "2024-11-02"))


def test_chart_scales_count_in_whole_numbers() -> None:
    assert count_ticks(0) == [0, 1] and count_ticks(5) == [0, 1, 2, 3, 4, 5]
    assert count_ticks(14) == [0, 3, 6, 9, 12, 15]
    assert [heat_level(n, 8) for n in (0, 1, 2, 3, 4, 8)] == [0, 1, 1, 2, 2, 4]


# --- snapshots ------------------------------------------------------------------------------


def _snapshot(size: tuple[int, int], *keys: str) -> Any:
    async def before(pilot: Pilot[Any]) -> None:
        screen = await open_reports(pilot)
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.2)
        assert not list(pilot.app._notifications)
        assert screen.is_current

    return before


def test_snapshot_charts_small(snap_compare: Any) -> None:
    assert snap_compare(reports_app(), terminal_size=SMALL, run_before=_snapshot(SMALL))


def test_snapshot_charts_large(snap_compare: Any) -> None:
    assert snap_compare(reports_app(), terminal_size=LARGE, run_before=_snapshot(LARGE))


def test_snapshot_charts_lower_sections(snap_compare: Any) -> None:
    """CSAT, failures with their explanations, segments and the busiest hours' heat."""
    assert snap_compare(reports_app(), terminal_size=LARGE,
                        run_before=_snapshot(LARGE, *["right_square_bracket"] * 4))


def test_snapshot_tables(snap_compare: Any) -> None:
    assert snap_compare(reports_app(), terminal_size=LARGE,
                        run_before=_snapshot(LARGE, "t", *["right_square_bracket"] * 3))


# --- against a real relay, and the same figures from `smsdesk report` ------------------------


@pytest.fixture
async def live(tmp_path: Path, database: str | None,  # noqa: F811
               monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveDesk]:
    """A running desk (either backend) on the real clock, its days in UTC as the relay's."""
    monkeypatch.setattr(render, "clock", now_ms)
    monkeypatch.setattr(render, "timezone", UTC)
    async with live_desk(tmp_path, database) as desk:
        yield desk


async def smsdesk_report(query: ReportQuery, database: str | None, home: Path,  # noqa: F811
                         monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                         *options: str) -> dict[str, Any]:
    """``smsdesk report --format json`` for the screen's range, on the desk's own store."""
    monkeypatch.delenv("SMSDESK_DATABASE", raising=False)
    monkeypatch.setenv("SMSDESK_HOME", str(home / "relay"))  # the live desk's SQLite file
    where = ["--database", database] if database else []
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["report", "--from", query.first.isoformat(),
                                          "--to", query.last.isoformat(), "--format", "json",
                                          *options, *where])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


async def test_a_real_relay_reports_what_happened_and_smsdesk_report_agrees(
        live: LiveDesk, database: str | None, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    await live.text("Where is my order?", from_="+12025550123")
    await live.text("Hello, anyone?", from_="+13125550164")
    await live.text("It was due Monday", from_="+12025550123")
    app = InboxApp(live.config())
    seen: list[tuple[ReportQuery, dict[str, Any]]] = []  # what the screen asked and showed
    async with app.run_test(size=LARGE) as pilot:
        await until(pilot, lambda: app.inbox.model.total == 2
                    and all(app.inbox.model.row(i) for i in range(2)), what="two tickets")
        first = app.inbox.model.row(0)["ticket"]["id"]
        await app.client.command("reply", ticket_id=first, body="It ships today, sorry!")
        await until(pilot, lambda: app.inbox.model.row(0).get("last_reply_status")
                    == "delivered", what="the reply delivered", timeout=10)
        await pilot.press("R")
        screen = await until(pilot, lambda: isinstance(app.screen, ReportsScreen)
                             and app.screen, what="the reports screen")

        async def shown(what: str) -> dict[str, Any]:
            """The report of the screen's current range and filters, once it is shown."""
            def done() -> bool:
                report = screen.report
                return (app.screen is screen and not screen.fetching and report is not None
                        and screen.lists_loaded.is_set()
                        and (report["from"], report["to"]) == (screen.query_args.first
                                                               .isoformat(),
                                                               screen.query_args.last
                                                               .isoformat())
                        and all(report["filters"][name] == getattr(screen.query_args, name)
                                for name in report["filters"]))
            await until(pilot, done, what=what)
            await pilot.pause()
            assert screen.report is not None
            seen.append((screen.query_args, screen.report))
            return screen.report

        everything = await shown("the report")
        assert everything["totals"] | {"segments": 0} == {
            "created": 2, "resolved": 0, "inbound": 3, "outbound": 1, "segments": 0}
        overview = words(screen, "#sec-overview .section-table")
        assert "Tickets created               │ 2" in overview
        assert "Texts in / out                │ 3 / 1" in overview
        today = everything["days"][-1]
        assert (today["created"], today["inbound"], today["outbound"]) == (2, 3, 1)

        # With filters: only the US number, by SMS (every text went to it).
        for key, typed in (("n", "+1888"), ("c", "SMS")):
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what=key)
            await pilot.press(*typed, "enter")
            filtered = await shown(f"the report after {key}")
        assert filtered["filters"]["channel"] == "sms" and filtered["filters"]["number_id"]
        assert filtered["totals"]["inbound"] == 3
        # A number nothing went to: said in words.
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="numbers")
        await pilot.press(*UK_LONG_CODE, "enter")
        await until(pilot, lambda: screen.query_args.number_id != filtered["filters"]
                    ["number_id"], what="the UK number asked")
        uk = await shown("the UK number's report")
        assert uk["totals"]["inbound"] == 0
        assert "Nothing to report" in words(screen, "#report-state")

    # smsdesk report reads the same store (after the app: it prints to the real stdout).
    assert len(seen) == 4  # everything, US only, US by SMS, UK by SMS
    by_cli = {0: (), 2: ("--number", US_TOLL_FREE, "--channel", "sms"),
              3: ("--number", UK_LONG_CODE, "--channel", "sms")}
    for index, options in by_cli.items():
        query, report = seen[index]
        assert await smsdesk_report(query, database, live.home, monkeypatch, capsys,
                                    *options) == report, options
