"""Reports (``R`` in the inbox): how the desk did over a range of days, in charts and tables.

The relay computes every figure (``get_report``, docs/protocol.md "Reports"); this
screen only asks for a range and filters and lays the answer out. Words and
tables come from ``tui.report_figures`` (pure, so the CLI's figures can be
checked against the same functions); charts from ``tui.widgets.report_charts``.

Keyboard first: the page scrolls with the arrows and page keys, ``[``/``]`` jump
between sections, ``t`` shows the tables instead of the charts (a chart always has
its figures beside it; a table has every number), ``r`` asks again, escape goes back.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, Static

from tui.client import CommandError, RelayClient
from tui.report_figures import (
    CHANNELS,
    QUICK_RANGES,
    ReportQuery,
    busiest_grid,
    busiest_table,
    busiest_words,
    cost_summary,
    count_words,
    csat_summary,
    csat_table,
    duration_words,
    empty_words,
    failures_table,
    has_times,
    is_empty,
    last_days,
    overview_table,
    parse_range,
    per_day_summary,
    per_day_table,
    range_problem,
    range_words,
    segments_table,
    times_table,
    today_in,
)
from tui.screens.pickers import ChoiceScreen, TextPromptScreen
from tui.widgets import render
from tui.widgets.report_charts import (
    CountChart,
    DailyChart,
    HeatTable,
    StackedChart,
    legend,
    rich_table,
)

ALL = "all"  # the pickers' "no filter" choice (None is what a cancelled picker returns)

# (id, title) in page order; ``[`` and ``]`` move between them.
SECTIONS = (
    ("overview", "Overview"),
    ("tickets", "Tickets created and resolved per day"),
    ("messages", "Texts in and out per day"),
    ("times", "Response times and SLA (business hours)"),
    ("csat", "Satisfaction (CSAT)"),
    ("failures", "Failed deliveries"),
    ("segments", "Segments and estimated cost per number"),
    ("busiest", "Busiest hours (texts in)"),
)
KEYS_HINT = ("7 3 9 last 7/30/90 days · d dates · n g a c filter by number, group, agent, "
             "channel · x all")


class ReportsScreen(Screen[None]):
    """The desk's figures for a range of days, filtered by number, group, agent, channel."""

    CSS_PATH = "reports.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="reports.back"),
        Binding("r", "refresh", "Refresh", id="reports.refresh"),
        Binding("t", "toggle_tables", "Tables/charts", id="reports.toggle_tables"),
        Binding("d", "dates", "Dates", id="reports.dates"),
        Binding("7", "last_days(7)", "7 days", show=False, id="reports.last_7"),
        Binding("3", "last_days(30)", "30 days", show=False, id="reports.last_30"),
        Binding("9", "last_days(90)", "90 days", show=False, id="reports.last_90"),
        Binding("n", "pick_number", "Number", show=False, id="reports.number"),
        Binding("g", "pick_group", "Group", show=False, id="reports.group"),
        Binding("a", "pick_agent", "Agent", show=False, id="reports.agent"),
        Binding("c", "pick_channel", "Channel", show=False, id="reports.channel"),
        Binding("x", "clear_filters", "All", show=False, id="reports.clear_filters"),
        Binding("right_square_bracket", "section(1)", "Next section", id="reports.next_section"),
        Binding("left_square_bracket", "section(-1)", "Previous section", show=False,
                id="reports.previous_section"),
    ]

    def __init__(self, client: RelayClient) -> None:
        super().__init__()
        self.client = client
        first, last = last_days(QUICK_RANGES[0], today_in(render.timezone, render.clock()))
        self.query_args = ReportQuery(first, last)
        self.report: dict[str, Any] | None = None
        self.problem: str | None = None  # the relay's refusal, in its words
        # Not ``loading``: that is Textual's own reactive, which covers the screen with a
        # loading indicator and, on a Screen, left it blank until the next resize.
        self.fetching = False
        self.section = 0
        self.numbers: list[dict[str, Any]] = []
        self.groups: list[dict[str, Any]] = []
        self.agents: list[dict[str, Any]] = []
        self.lists_loaded = asyncio.Event()

    # --- layout -------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="report-title")
        yield Static(id="report-filters")
        yield Static(KEYS_HINT, id="report-keys")
        with VerticalScroll(id="report-body"):
            yield Static(id="report-state")
            for section_id, title in SECTIONS:
                with Vertical(id=f"sec-{section_id}", classes="report-section"):
                    yield Label(title, classes="section-title")
                    yield Static(classes="section-empty")
                    yield from self._section_parts(section_id)
        yield Footer()

    def _section_parts(self, section_id: str) -> ComposeResult:
        """Each section: a chart with its figures beside it, and the table with every number."""
        chart: Any = {"tickets": DailyChart, "messages": DailyChart, "times": StackedChart,
                      "csat": CountChart, "failures": CountChart,
                      "segments": CountChart}.get(section_id)
        if section_id == "busiest":
            with Vertical(classes="chart-row"):
                yield HeatTable(id="busiest-heat")
                yield Static(classes="chart-figures")
        elif chart is not None:
            with Horizontal(classes="chart-row"):
                yield chart(id=f"{section_id}-chart", classes="chart")
                yield Static(classes="chart-figures")
        # Failures keep their table in chart mode too: the explanation is the point.
        yield Static(classes="section-table always" if section_id in ("overview", "failures")
                     else "section-table")

    def on_mount(self) -> None:
        self.add_class("charts")
        self.query_one("#report-body").focus()
        self._show_query()
        self.load_lists()
        self.load()

    # --- the relay ----------------------------------------------------------------

    @work(group="report-lists")
    async def load_lists(self) -> None:
        """The pickers' choices, from the same list commands the inbox reads at start."""
        try:
            numbers, groups, agents = await asyncio.gather(
                self.client.command("list_numbers"), self.client.command("list_groups"),
                self.client.command("list_agents"))
        except CommandError as error:
            self.notify(f"Could not load the filters' choices: {error}", severity="warning")
            return
        self.numbers, self.groups, self.agents = list(numbers), list(groups), list(agents)
        self.lists_loaded.set()
        self._show_query()

    @work(group="report", exclusive=True)
    async def load(self) -> None:
        """Ask for the report of the current range and filters; a newer ask cancels this one."""
        query = self.query_args
        self.fetching = True
        self._set_state(f"Loading the report for {range_words(query)}…")
        try:
            report = await self.client.command("get_report", **query.args())
        except CommandError as error:
            self.fetching = False
            self.report, self.problem = None, str(error)
            self._show_problem(query, str(error))
            return
        self.fetching = False
        if query != self.query_args:
            return  # the agent asked for another range meanwhile; its answer follows
        self.report, self.problem = report, None
        self.show_report(report)

    # --- showing ------------------------------------------------------------------

    def _set_state(self, words: str, *, error: bool = False) -> None:
        state = self.query_one("#report-state", Static)
        state.set_class(error, "error")
        state.update(Text(words))
        state.display = bool(words)

    def _show_problem(self, query: ReportQuery, words: str) -> None:
        self.set_class(True, "nothing")
        self._set_state(f"Could not load the report for {range_words(query)}: {words}\n"
                        "Press r to try again.", error=True)

    def _show_query(self) -> None:
        zone = (self.report or {}).get("time_zone")
        title = f"Reports · {range_words(self.query_args)}" + (f" · {zone}" if zone else "")
        self.query_one("#report-title", Static).update(Text(title, style="bold"))
        self.query_one("#report-filters", Static).update(Text(self.filters_words()))

    def filters_words(self) -> str:
        q = self.query_args
        return " · ".join([
            f"Number: {self._number_label(q.number_id)}",
            f"Group: {self._named(self.groups, q.group_id, 'all')}",
            f"Agent: {self._named(self.agents, q.agent_id, 'all')}",
            f"Channel: {dict((v, k) for k, v in CHANNELS).get(q.channel or '', 'all')}",
        ])

    def _filters_in_words(self) -> str:
        """Only the filters in effect, for the "nothing to report" sentence."""
        q = self.query_args
        parts = []
        if q.number_id is not None:
            parts.append(self._number_label(q.number_id))
        if q.group_id is not None:
            parts.append(f"group {self._named(self.groups, q.group_id, '?')}")
        if q.agent_id is not None:
            parts.append(self._named(self.agents, q.agent_id, "?"))
        if q.channel is not None:
            parts.append(dict((v, k) for k, v in CHANNELS).get(q.channel, q.channel))
        return ", ".join(parts)

    @staticmethod
    def _named(rows: list[dict[str, Any]], row_id: int | None, default: str) -> str:
        if row_id is None:
            return default
        found = next((row for row in rows if row.get("id") == row_id), None)
        return str(found["name"]) if found else f"#{row_id}"

    def _number_label(self, number_id: int | None) -> str:
        if number_id is None:
            return "all"
        found = next((n for n in self.numbers if n.get("id") == number_id), None)
        if found is None:
            return f"#{number_id}"
        name = found.get("friendly_name") or ""
        return f"{name} ({found['e164']})" if name else str(found["e164"])

    def show_report(self, report: dict[str, Any]) -> None:
        self._show_query()
        if is_empty(report):
            self.set_class(True, "nothing")
            self._set_state(empty_words(report, self._filters_in_words()))
            return
        self.set_class(False, "nothing")
        self._set_state("")
        self._show_overview(report)
        self._show_per_day(report, "tickets", "created", "resolved", "Tickets")
        self._show_per_day(report, "messages", "inbound", "outbound", "Texts")
        self._show_times(report)
        self._show_csat(report)
        self._show_failures(report)
        self._show_segments(report)
        self._show_busiest(report)

    def _part(self, section_id: str, selector: str) -> Any:
        return self.query_one(f"#sec-{section_id} {selector}")

    def _empty(self, section_id: str, words: str | None) -> bool:
        """Say in words that a section has nothing (and hide its chart); True when empty."""
        section = self.query_one(f"#sec-{section_id}")
        section.set_class(words is not None, "empty")
        self._part(section_id, ".section-empty").update(Text(words or ""))
        return words is not None

    def _table(self, section_id: str, table: Any) -> None:
        self._part(section_id, ".section-table").update(rich_table(table))

    def _figures(self, section_id: str, names: list[str], lines: list[str]) -> None:
        self._part(section_id, ".chart-figures").update(legend(names, lines))

    def _show_overview(self, report: dict[str, Any]) -> None:
        self._empty("overview", None)
        self._table("overview", overview_table(report))

    def _show_per_day(self, report: dict[str, Any], section_id: str, first: str, second: str,
                      what: str) -> None:
        days = report.get("days") or []
        if self._empty(section_id, None if any(d.get(first) or d.get(second) for d in days)
                       else f"No {what.lower()} {first} or {second} in this range."):
            return
        chart: DailyChart = self._part(section_id, ".chart")
        chart.show(f"{what} per day", [d["day"] for d in days],
                   [(first, [d.get(first, 0) for d in days]),
                    (second, [d.get(second, 0) for d in days])])
        self._figures(section_id, [first.capitalize(), second.capitalize()],
                      per_day_summary(report, first, second))
        self._table(section_id, per_day_table(report, first, second))

    def _show_times(self, report: dict[str, Any]) -> None:
        if self._empty("times", None if has_times(report) else
                       "No ticket had a first response or a resolution in this range."):
            return
        sla = report.get("sla") or {}
        parts = [sla.get("first_response") or {}, sla.get("resolution") or {}]
        chart: StackedChart = self._part("times", ".chart")
        chart.show("SLA targets met and breached", ["First resp.", "Resolution"],
                   [("met", [p.get("met", 0) for p in parts]),
                    ("breached", [p.get("breached", 0) for p in parts])])
        lines = []
        for key, label in (("first_response", "First response"), ("resolution", "Resolution")):
            times = report.get(key) or {}
            lines.append(f"{label}: median {duration_words(times.get('median_ms'))}, "
                         f"p90 {duration_words(times.get('p90_ms'))} "
                         f"({count_words(times.get('count', 0), 'ticket')})")
        self._figures("times", ["SLA met", "SLA breached"], lines)
        self._table("times", times_table(report))

    def _show_csat(self, report: dict[str, Any]) -> None:
        csat = report.get("csat") or {}
        if self._empty("csat", None if csat.get("sent") or csat.get("rated") else
                       "No satisfaction survey was sent in this range."):
            return
        distribution = csat.get("distribution") or {}
        chart: CountChart = self._part("csat", ".chart")
        chart.show("Ratings", ["1", "2", "3", "4", "5"],
                   [int(distribution.get(str(score), 0)) for score in range(1, 6)])
        self._figures("csat", ["Ratings (1 poor … 5 great)"], csat_summary(report))
        self._table("csat", csat_table(report))

    def _show_failures(self, report: dict[str, Any]) -> None:
        failures = report.get("failures") or []
        if self._empty("failures", None if failures else
                       "No text failed to be delivered in this range."):
            return
        chart: CountChart = self._part("failures", ".chart")
        chart.show("Failed by Twilio error code", [str(f.get("code") or "none")
                                                   for f in failures],
                   [int(f.get("count", 0)) for f in failures], "red+")
        total = sum(int(f.get("count", 0)) for f in failures)
        lines = [count_words(total, "failed delivery", "failed deliveries")]
        lines += [f"{f.get('code') or 'none'} × {f.get('count', 0)}: {f.get('title') or ''}"
                  for f in failures]
        self._figures("failures", [], lines)
        self._table("failures", failures_table(report))

    def _show_segments(self, report: dict[str, Any]) -> None:
        rows = report.get("segments") or []
        if self._empty("segments", None if any(r.get("segments") for r in rows) else
                       "No segments were sent in this range."):
            return
        chart: CountChart = self._part("segments", ".chart")
        chart.show("Segments sent", [r.get("name") or r.get("number") or "?" for r in rows],
                   [int(r.get("segments", 0)) for r in rows], horizontal=True)
        self._figures("segments", [], cost_summary(report))
        self._table("segments", segments_table(report))

    def _show_busiest(self, report: dict[str, Any]) -> None:
        grid = busiest_grid(report)
        if self._empty("busiest", None if any(any(row) for row in grid) else
                       "No texts came in during this range."):
            return
        self.query_one("#busiest-heat", HeatTable).show(grid)
        self._part("busiest", ".chart-figures").update(Text(busiest_words(report)))
        self._table("busiest", busiest_table(report))

    # --- keys ---------------------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss(None)

    def action_refresh(self) -> None:
        self.load()

    def action_toggle_tables(self) -> None:
        tables = self.has_class("charts")
        self.set_class(tables, "tables")
        self.set_class(not tables, "charts")
        self.call_after_refresh(self._scroll_to_section)

    def action_last_days(self, count: int) -> None:
        today = today_in(render.timezone, render.clock())
        self._ask(self.query_args.with_days(*last_days(count, today)))

    def action_dates(self) -> None:
        q = self.query_args
        prompt = TextPromptScreen("Report from … to (inclusive)", "2026-11-01 2026-11-30",
                                  f"{q.first.isoformat()} {q.last.isoformat()}",
                                  validate=range_problem)

        def chosen(text: str | None) -> None:
            if text is not None:
                self._ask(self.query_args.with_days(*parse_range(text)))

        self.app.push_screen(prompt, chosen)

    def action_pick_number(self) -> None:
        options = [(f"{n.get('friendly_name') or n['e164']} ({n['e164']})"
                    if n.get("friendly_name") else str(n["e164"]), n["id"])
                   for n in self.numbers]
        self._pick_filter("number_id", "Report on which number?", "All numbers", options)

    def action_pick_group(self) -> None:
        options = [(str(g["name"]), g["id"]) for g in self.groups]
        self._pick_filter("group_id", "Report on which group?", "All groups", options)

    def action_pick_agent(self) -> None:
        options = [(str(a["name"]) + (" (disabled)" if a.get("disabled") else ""), a["id"])
                   for a in self.agents]
        self._pick_filter("agent_id", "Report on which agent?", "All agents", options)

    def action_pick_channel(self) -> None:
        self._pick_filter("channel", "Report on which channel?", "All channels", list(CHANNELS),
                          needs_lists=False)

    def action_clear_filters(self) -> None:
        self._ask(ReportQuery(self.query_args.first, self.query_args.last))

    def _pick_filter(self, name: str, title: str, everything: str,
                     options: list[tuple[str, Any]], *, needs_lists: bool = True) -> None:
        if needs_lists and not self.lists_loaded.is_set():
            self.notify("The choices are still loading from the relay; try again in a moment.",
                        severity="warning", timeout=4)
            return
        current = getattr(self.query_args, name)

        def chosen(value: Any) -> None:
            if value is not None:
                self._ask(self.query_args.with_filter(name, None if value == ALL else value))

        self.app.push_screen(ChoiceScreen(title, [(everything, ALL), *options],
                                          ALL if current is None else current), chosen)

    def _ask(self, query: ReportQuery) -> None:
        self.query_args = query
        self._show_query()
        self.load()

    def action_section(self, step: int) -> None:
        self.section = (self.section + step) % len(SECTIONS)
        for index, (section_id, _) in enumerate(SECTIONS):
            self.query_one(f"#sec-{section_id}").set_class(index == self.section, "current")
        # After the next layout: a key just before (t, a new report) may have moved it.
        self.call_after_refresh(self._scroll_to_section)

    def _scroll_to_section(self) -> None:
        target = self.query_one(f"#sec-{SECTIONS[self.section][0]}")
        self.query_one("#report-body", VerticalScroll).scroll_to_widget(
            target, top=True, animate=False)
