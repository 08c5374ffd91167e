"""The inbox's side of the SLA (issue 14): the list's due column and overdue mark, the
Overdue view, toasts for the agent's own tickets, and the targets in the admin's
Hours · SLA tab; the CSAT rating column beside them.

Against a real relay (tests/desk_harness.py) wherever the relay decides: targets saved
through the form, a due in the past (the store's clock is set back while the ticket is
written, as tests/test_sla_relay.py does), the watch's events. Snapshots over fixed rows
and canned answers with the clock pinned, so the picture is the same on every run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from desk_harness import LiveDesk, live_desk, until
from test_tui_admin import AdminApp, open_admin, settle, toasts
from test_tui_hours import HOURS
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input, Static

from core import queries, sla, sla_writes, writes
from core.models import Priority
from server.sla_watch import SlaWatch
from tui.app import InboxApp
from tui.client import ConnectionState
from tui.model import OVERDUE, RECOUNT_DELAY, TicketListModel, View
from tui.screens.admin.hours import HoursPane
from tui.screens.admin.sla_targets import SlaEditor, SlaTable, reading_of
from tui.sla import due_words, is_overdue, nearer_due, span, toast_words
from tui.widgets import render
from tui.widgets.ticket_list import TicketList, columns_for

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
NOW = int(datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp() * 1000)  # a Tuesday
WIDE = (170, 30)  # wide enough for the due and the rating columns


def line_text(widget: TicketList, y: int) -> str:
    return "".join(segment.text for segment in widget.render_line(y))


# --- the words ----------------------------------------------------------------------------


def test_the_due_in_words_today_this_week_later_and_over() -> None:
    assert due_words(NOW + 2 * HOUR + 30 * MINUTE, NOW, UTC) == "due 14:30"
    assert due_words(NOW + 6 * DAY - 3 * HOUR, NOW, UTC) == "due Mon 9:00"
    assert due_words(NOW + 20 * DAY, NOW, UTC) == "due Dec 21"
    assert due_words(NOW - 3 * HOUR - 20 * MINUTE, NOW, UTC) == "3h 20m over"
    assert due_words(NOW - 50 * HOUR, NOW, UTC) == "2d 2h over"
    assert due_words(NOW - 10_000, NOW, UTC) == "1m over"
    assert span(2 * HOUR) == "2h" and span(DAY) == "1d"
    assert all(len(due_words(NOW + d, NOW, UTC)) <= 13
               for d in (-99 * DAY - 23 * HOUR, -23 * HOUR - 59 * MINUTE, 5 * DAY, 300 * DAY))


def test_the_nearer_due_is_the_first_response_while_unanswered() -> None:
    both = {"first_response_due": NOW + HOUR, "resolution_due": NOW + 3 * HOUR}
    assert nearer_due(both) == ("first_response", NOW + HOUR)
    assert nearer_due({"first_response_due": None, "resolution_due": NOW}) == \
        ("resolution", NOW)
    assert nearer_due({"first_response_due": None, "resolution_due": None}) is None
    assert not is_overdue(both, NOW)
    assert is_overdue(both, NOW + 2 * HOUR)  # the client's clock moved on
    assert is_overdue({**both, "overdue": True}, NOW)  # the relay said so when it read it


def test_the_toasts_words() -> None:
    nearing = {"ticket_id": 90, "which": "first_response", "in_ms": 25 * MINUTE,
               "subject": "Refund"}
    assert toast_words("sla.nearing", nearing) == \
        "⏰ #90 'Refund' — first response due in 25 min"
    assert toast_words("sla.breached", {**nearing, "which": "resolution", "in_ms": -1}) == \
        "⚠ #90 'Refund' — resolution overdue"
    assert toast_words("sla.nearing", {**nearing, "subject": None, "in_ms": 90 * MINUTE}) == \
        "⏰ #90 — first response due in 1h 30m"


def test_the_targets_read_as_typed() -> None:
    assert reading_of("1d 2h").plain == "✓ 26 business hours"
    assert reading_of("90").plain == "✓ 1h 30m of business hours"
    assert reading_of("45m").plain == "✓ 45 business minutes"
    assert reading_of("").plain.startswith("no target")
    assert reading_of("soonish").plain.startswith("✗ “soonish” is not a duration")


def test_the_new_columns_come_only_where_the_preview_keeps_its_room() -> None:
    keys = {width: [c.key for c in columns_for(width)] for width in (80, 140, 150, 170)}
    assert "due" not in keys[80] and "due" not in keys[140]
    assert "due" in keys[150] and "csat" not in keys[150]
    assert {"due", "csat"} <= set(keys[170])
    for width, found in keys.items():
        preview = next(c for c in columns_for(width) if c.key == "preview")
        assert preview.width >= (40 if "due" in found else 32), width


# --- the list, over fixed rows ------------------------------------------------------------


class Names:
    def group(self, group_id: int | None) -> str:
        return {1: "Billing", 2: "Shipping"}.get(group_id or 0, "")

    def agent(self, agent_id: int | None) -> str:
        return {1: "Ada", 2: "Bo"}.get(agent_id or 0, "")


def row(i: int, subject: str, *, first: int | None = None, resolution: int | None = None,
        rating: int | None = None, status: str = "open", priority: str = "medium",
        agent_id: int | None = 1) -> dict[str, Any]:
    return {"ticket": {"id": 90 + i, "status": status, "priority": priority, "group_id": 1,
                       "agent_id": agent_id, "unread": i == 0, "tags": [],
                       "last_message_at": NOW - i * 7 * MINUTE, "last_preview": subject,
                       "subject": subject, "first_response_due": first,
                       "resolution_due": resolution, "overdue": False},
            "contact_name": ("Maya Patel", "Jordan Reyes", "Priya Shah", "Sam Lee",
                             "Alex Kim")[i],
            "contact_phone": "", "contact_opted_out": False, "csat_rating": rating}


ROWS = [
    row(0, "My order never came", first=NOW + 2 * HOUR + 30 * MINUTE,
        resolution=NOW + DAY),
    row(1, "Refund please", first=NOW - 3 * HOUR - 20 * MINUTE, resolution=NOW + 5 * HOUR,
        priority="urgent"),
    row(2, "Can I change the address", resolution=NOW + 6 * DAY - 3 * HOUR, status="pending",
        agent_id=2),
    row(3, "Thanks, all sorted", status="resolved", rating=4),
    row(4, "It arrived broken", resolution=NOW + 20 * MINUTE, priority="high", rating=2),
]


class Source:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    @property
    def total(self) -> int:
        return len(self.rows)

    def row(self, index: int) -> dict[str, Any] | None:
        return self.rows[index] if 0 <= index < len(self.rows) else None

    def request(self, first: int, last: int) -> None:
        return None

    def index_of(self, ticket_id: int) -> int | None:
        return next((i for i, r in enumerate(self.rows) if r["ticket"]["id"] == ticket_id),
                    None)


class ListApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TicketList(Source(ROWS), Names())


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    now = [NOW]
    monkeypatch.setattr(render, "clock", lambda: now[0])
    monkeypatch.setattr(render, "timezone", UTC)
    yield now


async def test_the_list_shows_dues_ratings_and_marks_overdue_as_time_passes(
        pinned: list[int]) -> None:
    app = ListApp()
    async with app.run_test(size=WIDE) as pilot:
        widget = app.query_one(TicketList)
        await pilot.pause()
        assert "Due" in line_text(widget, 0) and "CSAT" in line_text(widget, 0)
        lines = [line_text(widget, y) for y in range(1, 6)]
        assert "due 14:30" in lines[0] and "⚠" not in lines[0]
        assert "3h 20m over" in lines[1] and lines[1][2] == "⚠"
        assert "due Mon 9:00" in lines[2]
        assert "★4" in lines[3] and "due" not in lines[3]
        assert "due 12:20" in lines[4] and "★2" in lines[4]
        pinned[0] = NOW + 3 * HOUR  # three hours on: the first row's due passed
        widget._redraw_ages()  # what the list's timer does
        await pilot.pause()
        first = line_text(widget, 1)
        assert "30m over" in first and first[2] == "⚠"
        assert "2h 40m over" in line_text(widget, 5)
    pinned[0] = NOW
    narrow = ListApp()
    async with narrow.run_test(size=(80, 12)) as pilot:
        widget = narrow.query_one(TicketList)
        await pilot.pause()
        assert "Due" not in line_text(widget, 0)
        assert line_text(widget, 2)[2] == "⚠"  # the mark shows at every width
        assert line_text(widget, 1)[2] == " "


def test_snapshot_list_with_due_and_rating_columns(snap_compare: Any, pinned: list[int]
                                                   ) -> None:
    assert snap_compare(ListApp(), terminal_size=WIDE)


# --- the Hours · SLA tab over canned answers ----------------------------------------------

TARGETS = {"targets": [
    {"priority": "low", "first_response": DAY, "resolution": 3 * DAY,
     "first_response_text": "1d", "resolution_text": "3d"},
    {"priority": "medium", "first_response": 4 * HOUR, "resolution": DAY,
     "first_response_text": "4h", "resolution_text": "1d"},
    {"priority": "high", "first_response": HOUR, "resolution": 8 * HOUR,
     "first_response_text": "1h", "resolution_text": "8h"},
    {"priority": "urgent", "first_response": 30 * MINUTE, "resolution": None,
     "first_response_text": "30m", "resolution_text": ""},
]}


def test_snapshot_hours_and_sla_tab(snap_compare: Any, pinned: list[int]) -> None:
    app = AdminApp(tab="hours", answers={"get_business_hours": HOURS,
                                         "get_sla_targets": TARGETS})
    assert snap_compare(app, terminal_size=(130, 34), run_before=settle("hours"))


# --- against a real relay ----------------------------------------------------------------


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


@pytest.fixture
def store_clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How far back the store's clock is set (ms); 0: the real time."""
    behind = [0]

    def now() -> int:
        return time.time_ns() // 1_000_000 - behind[0]

    monkeypatch.setattr("core.store.now_ms", now)
    monkeypatch.setattr("core.models.now_ms", now)
    return behind


async def ticket_from(desk: LiveDesk, phone: str, body: str) -> int:
    await desk.text(body, from_=phone)
    page = await desk.relay.store.read(queries.list_tickets)
    return next(r.ticket.id for r in page.items if r.contact_phone == phone)


async def live(pilot: Pilot[Any], app: InboxApp, total: int) -> None:
    await until(pilot, lambda: app.client.state is ConnectionState.LIVE, what="live")
    await until(pilot, lambda: app.inbox.model.loaded and app.inbox.model.total == total,
                what=f"{total} tickets listed")


async def test_targets_are_saved_through_the_form_with_the_relays_refusal_under_a_field(
        desk: LiveDesk) -> None:
    app = InboxApp(desk.config())
    async with app.run_test(size=(150, 44)) as pilot:
        screen = await open_admin(pilot, app)
        await pilot.press("0")
        pane = screen.query_one(HoursPane)
        table = screen.query_one(SlaTable)
        await until(pilot, lambda: pane.loaded and table.row_count == 4, what="the targets")
        table.focus()
        table.move_cursor(row=2)
        await pilot.press("enter")
        editor = await until(pilot, lambda: isinstance(app.screen, SlaEditor) and app.screen,
                             what="the targets form")
        assert editor.row["priority"] == "high"
        await pilot.press(*"4h")
        editor.query_one("#sla-resolution", Input).value = "soonish"
        await pilot.press("ctrl+s")
        error = editor.query_one("#sla-error-resolution", Static)
        await until(pilot, lambda: error.display, what="the relay's refusal")
        assert "“soonish” is not a duration" in str(error.render())
        assert (await desk.relay.store.read(sla_writes.targets))[Priority.HIGH] == sla.Target()
        editor.query_one("#sla-resolution", Input).value = "1d 2h"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen, what="the form closed")
        stored = (await desk.relay.store.read(sla_writes.targets))[Priority.HIGH]
        assert (stored.first_response, stored.resolution) == (4 * HOUR, 26 * HOUR)
        await until(pilot, lambda: [str(c) for c in table.get_row("high")] ==
                    ["High", "4h", "1d 2h"], what="the row as stored")
        # Another admin's change shows at once (sla.targets_saved).
        await desk.relay.store.write(sla_writes.save_targets,
                                     {Priority.LOW: sla.Target(first_response=90 * MINUTE)})
        await until(pilot, lambda: [str(c) for c in table.get_row("low")] ==
                    ["Low", "1h 30m", "none"], what="the other admin's targets")


async def test_a_past_due_is_overdue_in_the_list_and_in_the_overdue_view(
        desk: LiveDesk, store_clock: list[int]) -> None:
    await desk.relay.store.write(sla_writes.save_targets,
                                 {Priority.LOW: sla.Target(first_response=HOUR,
                                                           resolution=DAY)})
    store_clock[0] = 3 * HOUR + 20 * MINUTE  # written 3h 20m ago: its first response due
    late = await ticket_from(desk, "+12025550101", "My order never came")
    store_clock[0] = 0
    on_time = await ticket_from(desk, "+12025550102", "Refund please")
    app = InboxApp(desk.config())
    async with app.run_test(size=(170, 40)) as pilot:
        await live(pilot, app, 2)
        inbox = app.inbox
        late_index = inbox.model.index_of(late)
        on_time_index = inbox.model.index_of(on_time)
        assert late_index is not None and on_time_index is not None
        late_line = line_text(inbox.tickets, late_index + 1)
        assert late_line[2] == "⚠" and "2h 20m over" in late_line
        on_time_line = line_text(inbox.tickets, on_time_index + 1)
        assert on_time_line[2] == " " and "due " in on_time_line
        await pilot.press("v", *"Overdue", "enter")
        await until(pilot, lambda: inbox.model.view == OVERDUE and inbox.model.loaded
                    and inbox.model.total == 1, what="the Overdue view")
        assert inbox.model.row(0)["ticket"]["id"] == late
        assert inbox.header.total == 1
        # A priority without targets stops its clocks: it leaves the view, live.
        await desk.relay.store.write(writes.update_ticket, late, priority="medium")
        await until(pilot, lambda: inbox.model.total == 0, what="the ticket leaving the view")


async def test_a_toast_for_my_own_ticket_nearing_its_due_and_none_for_anothers(
        desk: LiveDesk, store_clock: list[int]) -> None:
    await desk.relay.store.write(sla_writes.save_targets,
                                 {Priority.LOW: sla.Target(first_response=40 * MINUTE)})
    store_clock[0] = 15 * MINUTE  # due in 25 minutes: nearing (within 30)
    mine = await ticket_from(desk, "+12025550101", "Refund")
    theirs = await ticket_from(desk, "+12025550102", "Where is it")
    store_clock[0] = 0
    agents = {a.name: a.id for a in await desk.relay.store.read(queries.agents)}
    await desk.relay.store.write(writes.update_ticket, mine, agent_id=agents["Ada"])
    await desk.relay.store.write(writes.update_ticket, theirs, agent_id=agents["Bo"])
    app = InboxApp(desk.config())
    async with app.run_test(size=(150, 40)) as pilot:
        await live(pilot, app, 2)
        assert await SlaWatch(desk.relay.store).watch_once() >= 2
        await until(pilot, lambda: "first response due in" in toasts(app), what="a toast")
        await pilot.pause(0.3)  # the other ticket's event has come too by now
        said = [n.message for n in app._notifications if n.title == "SLA"]
        assert len(said) == 1
        assert said[0].startswith(f"⏰ #{mine} 'Refund' — first response due in 2")
        # The same event again (a reconnect replays it) is not said twice.
        event = {"kind": "sla.nearing", "ticket_id": mine,
                 "payload": {"ticket_id": mine, "which": "first_response", "agent_id":
                             agents["Ada"], "due": None, "in_ms": 20 * MINUTE}}
        app.inbox.relay_event(event)
        app.inbox.relay_event(event)
        await pilot.pause()
        assert len([n for n in app._notifications if n.title == "SLA"]) == 2


def test_the_overdue_view_asks_the_relay_for_overdue_tickets() -> None:
    assert OVERDUE.args() == {"overdue": True}
    assert View().args() == {}
    assert OVERDUE.matches({"first_response_due": 1, "resolution_due": None})
    assert not OVERDUE.matches({"first_response_due": None, "resolution_due": None})


async def test_a_breach_brings_its_ticket_into_the_overdue_view_and_a_rating_shows() -> None:
    """sla.breached carries no ticket: the Overdue view counts and loads its top again."""
    relay: list[dict[str, Any]] = []
    asked: list[tuple[str, dict[str, Any]]] = []

    async def fetch(name: str, **args: Any) -> Any:
        asked.append((name, args))
        if name == "count_tickets":
            return len(relay)
        return {"items": [dict(r) for r in relay], "older": None}

    model = TicketListModel(fetch)
    await model.switch(OVERDUE)
    assert model.total == 0 and all(args.get("overdue") for _, args in asked)
    relay.append(ROWS[1])
    model.apply({"kind": "sla.breached", "ticket_id": 91,
                 "payload": {"ticket_id": 91, "which": "first_response", "in_ms": -1}})
    await asyncio.sleep(RECOUNT_DELAY + 0.3)
    assert model.total == 1 and model.row(0)["ticket"]["id"] == 91
    model.apply({"kind": "csat.rated", "ticket_id": 91, "payload": {"rating": 5}})
    assert model.row(0)["csat_rating"] == 5


def test_the_hours_and_sla_keys_are_in_the_keymap() -> None:
    from tui.config import Config
    from tui.keymap import apply_keymap

    app = InboxApp(Config(relay="ws://127.0.0.1:9/ws", token="sd_x", send_review=False))
    ids = {"admin.tab_hours", "admin.edit_hours", "admin.hours_save", "admin.hours_cancel",
           "admin.edit_sla", "admin.sla_save", "admin.sla_cancel"}
    assert ids <= set(app.catalog)
    assert apply_keymap(app, {"admin.edit_sla": "f2"}, app.catalog) == []
