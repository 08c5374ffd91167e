"""Inbox widget benchmark: the ticket list at 100,000 rows, the thread at 10,000 entries.

    .venv/bin/python bench/views.py [--rows 100000] [--entries 10000] [--presses 200]

Why: Textual's DataTable and ListView build every row before the first
paint, seconds at this size. The line-API widgets must only cost what is on
screen, so the figures are per keypress and per paint, and they must not
grow with the number of rows. Headless (``App.run_test``) at 160x50.

Figures:

* list, first paint: every visible line drawn from a cold cache;
* list, one keypress (``j``, ``pagedown``, ``G``/``g``): CPU time of the
  pilot's press, which includes Textual's dispatch and the screen update, mean
  and worst, next to the same for a bare focused widget (Textual's own share);
* thread, ``show`` + first paint with ``--entries`` entries (the O(n)
  measuring of every entry is the part that grows), and ``k`` presses;
* thread, a resize (every entry measured again at the new width).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget

from tui.widgets import render
from tui.widgets.thread_view import ThreadView
from tui.widgets.ticket_list import TicketList

NOW = 1_700_000_000_000
WORDS = ["order", "shipping", "refund", "invoice", "tracking", "delivered", "package",
         "today", "thanks", "please", "when", "where", "arrived", "late", "broken", "replacement"]


class Source:
    """Every row loaded: the widget's cost, not the model's."""

    def __init__(self, n: int) -> None:
        self.rows = [self._row(i) for i in range(n)]
        self.index = {r["ticket"]["id"]: i for i, r in enumerate(self.rows)}

    @staticmethod
    def _row(i: int) -> dict[str, Any]:
        preview = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(14))
        return {
            "ticket": {"id": i + 1, "status": ("open", "pending", "resolved")[i % 3],
                       "priority": ("low", "medium", "high", "urgent")[i % 4],
                       "group_id": i % 4, "agent_id": i % 9 or None, "unread": i % 5 == 0,
                       "last_message_at": NOW - i * 61_000, "last_preview": preview,
                       "tags": [], "subject": "",
                       # Issue 14: SLA dues (some passed, so the overdue mark and the
                       # "over" words are drawn too) and ratings for the list's columns.
                       "first_response_due": NOW + (i % 7 - 2) * 3_600_000 if i % 2 else None,
                       "resolution_due": NOW + (i % 5) * 86_400_000 if i % 3 != 2 else None,
                       "overdue": False},
            "contact_name": f"Customer {i}" if i % 3 else "",
            "contact_phone": f"+1555{i:07d}", "contact_opted_out": False,
            "csat_rating": i % 6 or None,
        }

    @property
    def total(self) -> int:
        return len(self.rows)

    def row(self, index: int) -> dict[str, Any] | None:
        return self.rows[index]

    def request(self, first: int, last: int) -> None:
        pass

    def index_of(self, ticket_id: int) -> int | None:
        return self.index.get(ticket_id)


class Names:
    def group(self, group_id: int | None) -> str:
        return f"Group {group_id}" if group_id is not None else "—"

    def agent(self, agent_id: int | None) -> str:
        return f"Agent {agent_id}" if agent_id else "—"


def entries(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        body = " ".join(WORDS[(i * 5 + k) % len(WORDS)] for k in range(5 + i % 40))
        out.append({"id": i + 1, "ticket_id": 1, "direction": ("inbound", "outbound")[i % 2],
                    "channel": "sms", "body": body, "media": [], "author_agent_id": 2,
                    "status": ("received", "delivered")[i % 2], "error_code": None,
                    "segments": 1 + len(body) // 153, "encoding": "GSM-7",
                    "created_at": NOW - (n - i) * 60_000, "updated_at": NOW - (n - i) * 60_000})
    return out


class ListApp(App[None]):
    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        yield TicketList(self.source, Names())


class Bare(Widget, can_focus=True):
    """A focusable widget that draws nothing much: Textual's own cost per key."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("j", "noop")]

    def action_noop(self) -> None:
        self.refresh()


class BareApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Bare()


class ThreadApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ThreadView(Names())


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


async def press_times(pilot: Any, key: str, times: int) -> list[float]:
    """CPU time per press: the pilot sleeps ~60 ms of wall time per key waiting for
    idleness, so wall time says nothing; process time is Textual's dispatch, our
    action, the repaint and the compositor, i.e. what the agent waits for."""
    out = []
    for _ in range(times):
        start = time.process_time()
        await pilot.press(key)
        out.append(time.process_time() - start)
    return out


def report(label: str, samples: list[float]) -> None:
    print(f"{label:<38} mean {ms(statistics.mean(samples)):>10}   max {ms(max(samples)):>10}")


def paint(widget: Any) -> float:
    """Draw every visible line from a cold cache, as the compositor would."""
    widget._strips.clear()
    start = time.perf_counter()
    for y in range(widget.size.height):
        widget.render_line(y)
    return time.perf_counter() - start


async def bench_bare(presses: int) -> None:
    app = BareApp()
    async with app.run_test(size=(160, 50)) as pilot:
        app.query_one(Bare).focus()
        await pilot.pause()
        report("baseline: bare widget, press j", await press_times(pilot, "j", presses))


async def bench_list(rows: int, presses: int) -> None:
    render.clock = lambda: NOW  # the rows' dues are around NOW: some ahead, some passed
    start = time.perf_counter()
    source = Source(rows)
    print(f"list: built {rows:,} fake rows in {ms(time.perf_counter() - start)}")
    app = ListApp(source)
    async with app.run_test(size=(160, 50)) as pilot:
        widget = app.query_one(TicketList)
        widget.focus()
        await pilot.pause()
        print(f"{'list: first paint (cold, 49 rows)':<38} {ms(paint(widget)):>15}")
        report("list: press j", await press_times(pilot, "j", presses))
        report("list: press pagedown", await press_times(pilot, "pagedown", 50))
        samples = []
        for key in ("G", "g") * 10:
            samples += await press_times(pilot, key, 1)
        report("list: press G / g", samples)
        start = time.process_time()
        widget.refresh_rows()
        await pilot.pause()
        print(f"{'list: refresh_rows + repaint (CPU)':<38} {ms(time.process_time() - start):>15}")


async def bench_thread(n: int, presses: int) -> None:
    items = entries(n)
    app = ThreadApp()
    async with app.run_test(size=(160, 50)) as pilot:
        widget = app.query_one(ThreadView)
        widget.focus()
        await pilot.pause()
        row = {"ticket": {"id": 1}, "contact_name": "Jane", "contact_phone": "+15551230001"}
        start = time.perf_counter()
        widget.show(row, items, has_older=False)
        shown = time.perf_counter() - start
        painted = paint(widget)
        print(f"{f'thread: show {n:,} entries':<38} {ms(shown):>15}")
        print(f"{'thread: first paint (cold)':<38} {ms(painted):>15}")
        start = time.process_time()
        await pilot.pause()
        print(f"{'thread: show → screen updated (CPU)':<38} "
              f"{ms(shown + time.process_time() - start):>15}")
        report("thread: press k", await press_times(pilot, "k", presses))
        report("thread: press pageup", await press_times(pilot, "pageup", 50))
        start = time.process_time()
        await pilot.resize_terminal(120, 50)
        await pilot.pause()
        print(f"{'thread: resize 160→120 (CPU)':<38} {ms(time.process_time() - start):>15}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--presses", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(bench_bare(args.presses))
    asyncio.run(bench_list(args.rows, args.presses))
    asyncio.run(bench_thread(args.entries, args.presses))


if __name__ == "__main__":
    main()
