"""The inbox's line-API widgets: the ticket list and the thread, driven headless.

Each test mounts one widget in a tiny App with in-memory data (a fake
TicketSource, wire-shaped entries) and checks what an agent would see:
the text of the lines on screen, where the cursor is, what was posted.
Time is pinned (render.clock, render.timezone) so ages and stamps are exact.
"""

from __future__ import annotations

import io
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from rich.cells import cell_len
from textual import events
from textual.app import App, ComposeResult
from textual.message import Message

from core.errors import explain
from tui.widgets import render, thread_view
from tui.widgets.thread_view import MediaCache, ThreadView
from tui.widgets.ticket_list import TicketList

# textual-image reads pixels with a Pillow call deprecated for Pillow 14; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")

NOW = int(datetime(2024, 11, 20, 12, 0, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60_000


@pytest.fixture(autouse=True)
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "clock", lambda: NOW)
    monkeypatch.setattr(render, "timezone", UTC)


# -- fakes ------------------------------------------------------------------------------


class Names:
    def group(self, group_id: int | None) -> str:
        return {1: "Billing", 2: "Support"}.get(group_id or 0, "—")

    def agent(self, agent_id: int | None) -> str:
        return {1: "Ada", 2: "Grace"}.get(agent_id or 0, "—")


def ticket_row(i: int, **ticket: Any) -> dict[str, Any]:
    fields = {
        "id": 1000 + i, "contact_id": i, "number_id": 1, "subject": "",
        "status": ("open", "pending", "resolved", "closed")[i % 4],
        "priority": ("low", "medium", "high", "urgent")[i % 4], "type": None,
        "group_id": 1 + i % 2, "agent_id": (None, 1, 2)[i % 3], "tags": [],
        "custom_fields": {}, "unread": i % 2 == 0, "deleted": False,
        "created_at": NOW - i * MINUTE, "updated_at": NOW - i * MINUTE,
        "last_message_at": NOW - i * 7 * MINUTE, "last_preview": f"Where is my order number {i}?",
    }
    fields.update(ticket)
    return {"ticket": fields, "contact_name": f"Customer {i}" if i % 2 else "",
            "contact_phone": f"+1555000{i:04d}", "contact_opted_out": False}


class Source:
    """An in-memory TicketSource; ``loaded=False`` rows stay None until ``load``."""

    def __init__(self, n: int, *, loaded: bool = True) -> None:
        self.rows: list[dict[str, Any] | None] = [
            ticket_row(i) if loaded else None for i in range(n)]
        self.requests: list[tuple[int, int]] = []

    @property
    def total(self) -> int:
        return len(self.rows)

    def row(self, index: int) -> dict[str, Any] | None:
        return self.rows[index]

    def request(self, first: int, last: int) -> None:
        self.requests.append((first, last))

    def index_of(self, ticket_id: int) -> int | None:
        for i, row in enumerate(self.rows):
            if row is not None and row["ticket"]["id"] == ticket_id:
                return i
        return None


class Harness(App[None]):
    """Mounts one widget and keeps every message it posts."""

    def __init__(self, widget: Any) -> None:
        super().__init__()
        self.widget = widget
        self.posted: list[Message] = []

    def compose(self) -> ComposeResult:
        yield self.widget

    def on_mount(self) -> None:
        self.widget.focus()

    def on_ticket_list_highlighted(self, message: TicketList.Highlighted) -> None:
        self.posted.append(message)

    def on_ticket_list_opened(self, message: TicketList.Opened) -> None:
        self.posted.append(message)

    def on_thread_view_older_wanted(self, message: ThreadView.OlderWanted) -> None:
        self.posted.append(message)

    def on_thread_view_media_wanted(self, message: ThreadView.MediaWanted) -> None:
        self.posted.append(message)

    def of(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.posted if isinstance(m, kind)]


def screen_text(widget: Any) -> list[str]:
    return [widget.render_line(y).text for y in range(widget.size.height)]


# -- render helpers -----------------------------------------------------------------------


@pytest.mark.parametrize(("ago", "label"), [
    (10_000, "now"), (5 * MINUTE, "5m"), (3 * 60 * MINUTE, "3h"), (2 * 1440 * MINUTE, "2d"),
    (17 * 1440 * MINUTE, "Nov 3"), (400 * 1440 * MINUTE, "Oct '23"),
])
def test_age_is_short_and_human(ago: int, label: str) -> None:
    assert render.age(NOW - ago) == label


def test_wrap_keeps_words_and_line_breaks() -> None:
    lines = render.wrap("the quick brown fox\njumps over https://example.com/a/very/long/path", 10)
    assert lines == ["the quick", "brown fox", "jumps over", "https://ex", "ample.com/",
                     "a/very/lon", "g/path"]
    assert render.fit("abcdef", 4) == "abc…"
    assert render.fit("ab", 4) == "ab  "


WORD = st.text(alphabet=st.sampled_from("abcdefgh,.é🙂漢"), min_size=1, max_size=25)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(words=st.lists(WORD, max_size=30), width=st.integers(min_value=2, max_value=40))
def test_wrap_fits_the_width_and_loses_nothing(words: list[str], width: int) -> None:
    text = " ".join(words)
    lines = render.wrap(text, width)
    assert all(cell_len(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


@settings(derandomize=True, max_examples=100, deadline=None)
@given(body=st.text(max_size=300), width=st.integers(min_value=5, max_value=120),
       status=st.sampled_from(["delivered", "failed", "undelivered", "queued"]),
       code=st.sampled_from([None, 30007, 21610, 12345]), n_media=st.integers(0, 3))
def test_measured_height_is_the_drawn_height(body: str, width: int, status: str,
                                             code: int | None, n_media: int) -> None:
    view = ThreadView(Names())
    media = [{"content_type": ("image/png", "application/pdf")[i % 2], "size": 10,
              "sha256": f"{i}" * 64} for i in range(n_media)]
    view.media.put("0" * 64, png(30, 50))
    entry = message(2, body=body, status=status, error_code=code, media=media)
    assert view._measure(entry, width) == len(view._plan(entry, width))


# -- ticket list ----------------------------------------------------------------------------


async def test_keys_move_the_cursor_and_scroll() -> None:
    app = Harness(TicketList(Source(500), Names()))
    async with app.run_test(size=(120, 12)) as pilot:
        tl: TicketList = app.widget
        await pilot.press("j", "j", "down")
        assert tl.cursor == 3 and tl.top == 0
        assert tl.current() == tl.source.row(3)
        await pilot.press("k")
        assert tl.cursor == 2
        await pilot.press("pagedown")  # 11 rows under the header
        assert tl.cursor == 13 and tl.top == 11
        await pilot.press("G")
        assert tl.cursor == 499 and tl.top == 500 - 11
        assert "Customer 499" in screen_text(tl)[-1]
        await pilot.press("ctrl+u")
        assert tl.cursor == 488
        await pilot.press("g")
        assert tl.cursor == 0 and tl.top == 0
        await pilot.press("up")
        assert tl.cursor == 0
        assert [m.index for m in app.of(TicketList.Highlighted)][-3:] == [499, 488, 0]


async def test_the_wheel_scrolls_the_view_and_the_scrollbar_jumps() -> None:
    app = Harness(TicketList(Source(500), Names()))
    async with app.run_test(size=(120, 12)) as pilot:
        tl: TicketList = app.widget
        assert tl.row_width == 119  # the last column is the scrollbar's
        for _ in range(2):  # two turns of the wheel (the pilot has no wheel: as the driver)
            tl.post_message(events.MouseScrollDown(tl, 5, 5, 0, 1, 0, False, False, False))
        await pilot.pause()
        assert tl.top == 2 * TicketList.WHEEL_ROWS and tl.cursor == 0  # the cursor stays
        await pilot.press("j")  # and the view comes back to it
        assert tl.top == 1 and tl.cursor == 1  # just enough to show it, at the top
        await pilot.click(tl, offset=(119, 11))  # the bottom of the scrollbar: the end
        assert tl.top == 500 - 11 and tl.cursor == tl.top
        assert "Customer 499" in screen_text(tl)[-1]
        await pilot.click(tl, offset=(119, 1))  # its top: the start
        assert tl.top == 0 and tl.cursor == 0


async def test_header_stays_and_rows_show_every_column() -> None:
    app = Harness(TicketList(Source(50), Names()))
    async with app.run_test(size=(140, 10)) as pilot:
        tl: TicketList = app.widget
        await pilot.press("pagedown", "pagedown")
        lines = screen_text(tl)
        assert lines[0].split() == ["Contact", "Last", "message", "Status", "Prio", "Group",
                                    "Agent", "Tags", "Age"]
        row = next(line for line in lines if "Customer 19 " in line)
        assert row.split()[:3] == ["Customer", "19", "Where"]
        assert row.split()[-5:] == ["closed", "urgent", "Support", "Ada", "2h"]
        even = next(line for line in lines if "+15550000018" in line)
        assert even.startswith(" ●  +15550000018")  # unread: dot, and bold
        strip = tl.render_line(lines.index(even))
        assert all(seg.style and seg.style.bold for seg in strip if seg.text.strip())


async def test_narrow_list_drops_columns_and_cuts_the_preview() -> None:
    app = Harness(TicketList(Source(5), Names()))
    async with app.run_test(size=(70, 6)):
        lines = screen_text(app.widget)
        assert "Agent" not in lines[0] and "Group" not in lines[0]
        assert "…" in lines[1]
        assert all(len(line) == app.widget.row_width for line in lines)


async def test_refresh_rows_keeps_the_highlighted_ticket_on_its_screen_row() -> None:
    source = Source(300)
    app = Harness(TicketList(source, Names()))
    async with app.run_test(size=(120, 12)) as pilot:
        tl: TicketList = app.widget
        await pilot.press("pagedown", "j", "j")
        before = screen_text(tl)
        ticket_id = tl.current()["ticket"]["id"]
        screen_row = tl.cursor - tl.top
        source.rows.insert(0, ticket_row(999))
        source.rows.insert(0, ticket_row(998))
        tl.refresh_rows()
        await pilot.pause()
        assert tl.current()["ticket"]["id"] == ticket_id
        assert tl.cursor - tl.top == screen_row
        assert screen_text(tl) == before  # nothing the agent looks at moved
        await pilot.press("g")
        assert "Customer 999" in screen_text(tl)[2]


async def test_refresh_rows_follows_a_ticket_that_moved_and_posts_when_it_is_gone() -> None:
    source = Source(20)
    app = Harness(TicketList(source, Names()))
    async with app.run_test(size=(120, 12)) as pilot:
        tl: TicketList = app.widget
        await pilot.press("j", "j", "j")
        moved = source.rows.pop(3)
        source.rows.insert(7, moved)
        tl.refresh_rows()
        assert tl.cursor == 7
        source.rows.pop(7)
        tl.refresh_rows()
        await pilot.pause()
        assert tl.cursor == 7
        last = app.of(TicketList.Highlighted)[-1]
        assert last.row is source.rows[7] and last.index == 7


async def test_placeholders_and_requests_for_the_visible_range() -> None:
    source = Source(1000, loaded=False)
    app = Harness(TicketList(source, Names()))
    async with app.run_test(size=(120, 12)) as pilot:
        tl: TicketList = app.widget
        await pilot.pause()
        first, last = source.requests[-1]
        assert first == 0 and last >= 10
        assert all("···" in line for line in screen_text(tl)[1:])
        assert tl.current() is None
        for i in range(first, last + 1):
            source.rows[i] = ticket_row(i)
        tl.refresh_rows()
        await pilot.pause()
        assert "Customer 1 " in screen_text(tl)[2]
        assert app.of(TicketList.Highlighted)[-1].row is source.rows[0]
        count = len(source.requests)
        for top in (100, 200, 300):  # three scrolls in one go: one request
            tl.scroll_to_row(top)
        await pilot.pause()
        assert len(source.requests) == count + 1
        first, last = source.requests[-1]
        assert first <= 300 and last >= 310 and last <= 999


async def test_enter_opens_and_space_selects() -> None:
    app = Harness(TicketList(Source(10), Names()))
    async with app.run_test(size=(120, 12)) as pilot:
        tl: TicketList = app.widget
        await pilot.press("j", "enter")
        opened = app.of(TicketList.Opened)
        assert len(opened) == 1 and opened[0].index == 1
        assert opened[0].row["ticket"]["id"] == 1001
        await pilot.press("space", "j", "j", "space")
        assert tl.selected == {1001, 1003}
        assert screen_text(tl)[2].startswith("✓   Customer 1 ")
        await pilot.press("k", "k", "space")
        assert tl.selected == {1003}
        tl.reset()
        assert tl.selected == set() and tl.cursor == 0


async def test_click_highlights_and_a_second_click_opens() -> None:
    app = Harness(TicketList(Source(10), Names()))
    async with app.run_test(size=(120, 12)) as pilot:
        tl: TicketList = app.widget
        await pilot.click(TicketList, offset=(30, 4))
        assert tl.cursor == 3 and not app.of(TicketList.Opened)
        await pilot.click(TicketList, offset=(30, 4))
        assert [m.index for m in app.of(TicketList.Opened)] == [3]
        await pilot.click(TicketList, offset=(30, 0))  # the header
        assert tl.cursor == 3


async def test_list_bindings_have_remappable_ids() -> None:
    app = Harness(TicketList(Source(10), Names()))
    app.set_keymap({"list.down": "n"})
    async with app.run_test(size=(120, 12)) as pilot:
        await pilot.press("n", "n")
        assert app.widget.cursor == 2
    ids = {b.id for b in TicketList.BINDINGS if hasattr(b, "id")}
    assert ids == {"list.down", "list.up", "list.top", "list.bottom", "list.page_down",
                   "list.page_up", "list.open", "list.select"}


# -- thread --------------------------------------------------------------------------------

ROW = {"ticket": {"id": 7}, "contact_name": "Jane Doe", "contact_phone": "+15551230001"}


def message(i: int, **fields: Any) -> dict[str, Any]:
    inbound = i % 2 == 1
    entry = {
        "id": i, "ticket_id": 7, "direction": "inbound" if inbound else "outbound",
        "channel": "sms", "body": f"Message {i}.", "media": [],
        "author_agent_id": None if inbound else 2, "twilio_sid": f"SM{i}",
        "status": "received" if inbound else "delivered", "error_code": None,
        "segments": 1, "encoding": "GSM-7",
        "created_at": NOW - (1000 - i) * MINUTE, "updated_at": NOW - (1000 - i) * MINUTE,
    }
    entry.update(fields)
    return entry


def note(i: int, body: str) -> dict[str, Any]:
    return {"id": i, "ticket_id": 7, "agent_id": 1, "body": body, "created_at": NOW - MINUTE}


def png(width: int = 20, height: int = 20) -> bytes:
    """Red top half, blue bottom half."""
    image = Image.new("RGB", (width, height), (255, 0, 0))
    image.paste((0, 0, 255), (0, height // 2, width, height))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


LONG = ("Hello, I ordered a blue kettle two weeks ago and the tracking page has said "
        "'label created' ever since. Could you check whether it actually shipped?")


async def test_thread_shows_entries_wrapped_newest_at_the_bottom() -> None:
    view = ThreadView(Names())
    app = Harness(view)
    async with app.run_test(size=(60, 30)) as pilot:
        view.show(ROW, [message(1, body=LONG), message(2, body="It left today."),
                        note(3, "VIP customer")], has_older=False)
        await pilot.pause()
        lines = [line.rstrip() for line in screen_text(view)]
        width = view.scrollable_content_region.width
        assert lines[0].startswith("  ← Jane Doe · Nov 19 19:21")
        body = [line.strip() for line in lines[1:lines.index("")]]
        assert " ".join(body) == LONG and len(body) == 3
        assert all(len(line) <= width - 4 for line in body)
        assert lines[5].strip() == "→ Grace · Nov 19 19:22 · delivered ✓"
        assert lines[8] == "▌ ✎ Note · Ada · 11:59"  # the cursor is on the newest
        assert lines[9] == "▌   VIP customer"
        assert view.current()["id"] == 3


async def test_a_note_without_an_author_leaves_no_empty_gap() -> None:
    view = ThreadView(Names())
    app = Harness(view)
    async with app.run_test(size=(60, 10)) as pilot:
        view.show(ROW, [{**note(3, "Imported"), "agent_id": None}], has_older=False)
        await pilot.pause()
        assert screen_text(view)[0].rstrip() == "▌ ✎ Note · 11:59"


async def test_resize_rewraps() -> None:
    view = ThreadView(Names())
    app = Harness(view)
    async with app.run_test(size=(100, 30)) as pilot:
        view.show(ROW, [message(1, body=LONG)], has_older=False)
        await pilot.pause()
        wide = [line.strip() for line in screen_text(view) if line.strip()]
        await pilot.resize_terminal(40, 30)
        await pilot.pause()
        narrow = [line.lstrip("▌ ").rstrip() for line in screen_text(view) if line.strip()]
        assert len(narrow) > len(wide)
        assert " ".join(narrow[1:]) == LONG
        assert all(len(line) <= 40 - 1 - 4 for line in narrow[1:])


async def test_prepend_keeps_the_viewport_and_older_is_asked_once() -> None:
    view = ThreadView(Names())
    app = Harness(view)
    async with app.run_test(size=(60, 20)) as pilot:
        view.show(ROW, [message(i) for i in range(100, 160)], has_older=True)
        await pilot.pause()
        assert app.of(ThreadView.OlderWanted) == []  # the top is far away
        view.scroll_to(y=12, animate=False)
        await pilot.pause()
        asked = app.of(ThreadView.OlderWanted)
        assert [(m.ticket_id, m.before) for m in asked] == [(7, "100")]
        view.scroll_to(y=10, animate=False)
        await pilot.pause()
        assert len(app.of(ThreadView.OlderWanted)) == 1  # once per cursor
        before = screen_text(view)
        view.prepend([message(i) for i in range(60, 100)], has_older=False)
        await pilot.pause()
        assert screen_text(view) == before
        assert view.scroll_y > 100
        assert view.current()["id"] == 159


async def test_upsert_updates_a_status_and_follows_new_entries() -> None:
    view = ThreadView(Names())
    app = Harness(view)
    async with app.run_test(size=(60, 12)) as pilot:
        entries = [message(i) for i in range(1, 30)]
        entries.append(message(30, status="queued", body="On its way"))
        view.show(ROW, entries, has_older=False)
        await pilot.pause()
        assert any("→ Grace · Nov 19 19:50 · queued…" in line for line in screen_text(view))
        view.upsert(message(30, status="delivered", body="On its way"))
        await pilot.pause()
        assert any("→ Grace · Nov 19 19:50 · delivered ✓" in line for line in screen_text(view))
        view.upsert(message(31, body="Thanks!"))
        await pilot.pause()
        assert view.scroll_y == view.max_scroll_y
        assert "Thanks!" in "".join(screen_text(view)[-3:])
        assert view.current()["id"] == 31
        await pilot.press("g", "pagedown", "pagedown")
        shown, scrolled = screen_text(view), view.scroll_y
        view.upsert(message(32, body="Anyone?"))  # below
        view.upsert(message(3, status="failed", error_code=30003))  # above: taller now
        await pilot.pause()
        assert screen_text(view) == shown  # the agent reading history is not moved
        assert view.scroll_y > scrolled


@pytest.mark.parametrize("code", [30007, 21610])
async def test_a_failed_message_explains_its_error(code: int) -> None:
    view = ThreadView(Names())
    app = Harness(view)
    async with app.run_test(size=(80, 20)) as pilot:
        view.show(ROW, [message(2, status="failed", error_code=code, segments=2,
                                encoding="UCS-2", body="Héllo 👋")], has_older=False)
        await pilot.pause()
        lines = [line.strip() for line in screen_text(view)]
        assert lines[0].endswith(f"failed ✗ {code} · 2 segments · UCS-2")
        error = explain(code)
        text = " ".join(line.lstrip("▌ ") for line in lines[2:] if line)
        assert text == f"✗ {code} {error.title}. {error.explanation} {error.action}"


async def test_an_image_is_drawn_in_half_cells_once_its_bytes_arrive() -> None:
    data = png()
    media = [{"content_type": "image/png", "size": 12_345, "sha256": "a" * 64,
              "filename": "photo.png", "twilio_url": ""},
             {"content_type": "application/pdf", "size": 2048, "sha256": "b" * 64,
              "filename": "invoice.pdf", "twilio_url": ""}]
    view = ThreadView(Names(), media=MediaCache())
    app = Harness(view)
    async with app.run_test(size=(80, 30)) as pilot:
        view.show(ROW, [message(1, body="See photo", media=media, channel="mms")],
                  has_older=False)
        await pilot.pause()
        lines = screen_text(view)
        assert any("[image/png · 12 KB · photo.png · loading…]" in line for line in lines)
        assert any("📎 PDF · 2 KB · invoice.pdf" in line for line in lines)
        assert [m.sha256 for m in app.of(ThreadView.MediaWanted)] == ["a" * 64]
        view.media.put("a" * 64, data)
        view.media_ready("a" * 64)
        await pilot.pause()
        pixels = [y for y, line in enumerate(screen_text(view)) if "▀" in line]
        assert len(pixels) == 10  # 20x20 px: 20 cells wide, 10 rows of two pixels
        cells = [seg for seg in view.render_line(pixels[0]) if seg.text == "▀"]
        assert len(cells) == 20
        assert cells[0].style.color.triplet == (255, 0, 0)
        last = [seg for seg in view.render_line(pixels[-1]) if seg.text == "▀"]
        assert last[0].style.bgcolor.triplet == (0, 0, 255)
        assert len(app.of(ThreadView.MediaWanted)) == 1


async def test_a_big_image_is_scaled_into_its_box() -> None:
    view = ThreadView(Names())
    view.media.put("c" * 64, png(400, 100))
    app = Harness(view)
    async with app.run_test(size=(80, 30)) as pilot:
        media = [{"content_type": "image/png", "size": 1, "sha256": "c" * 64}]
        view.show(ROW, [message(1, media=media)], has_older=False)
        await pilot.pause()
        rows = [line for line in screen_text(view) if "▀" in line]
        assert len(rows) == 5 and rows[0].count("▀") == thread_view.IMAGE_MAX_COLS


async def test_open_media_without_bytes_asks_and_without_viewer_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    media = [{"content_type": "application/pdf", "size": 10, "sha256": "d" * 64,
              "filename": "invoice.pdf"}]
    view = ThreadView(Names())
    app = Harness(view)
    monkeypatch.setattr(thread_view, "viewer_command", lambda: None)
    async with app.run_test(size=(80, 20)) as pilot:
        view.show(ROW, [message(1, media=media)], has_older=False)
        await pilot.press("o")
        assert [m.sha256 for m in app.of(ThreadView.MediaWanted)] == ["d" * 64]
        assert "Downloading" in list(app._notifications)[-1].message
        view.media.put("d" * 64, b"%PDF-1.4")
        view.media_ready("d" * 64)  # the pending open goes ahead
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "No program to open files" in list(app._notifications)[-1].message


async def test_open_media_hands_a_temp_file_to_the_viewer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "opened.bin"
    script = f"import shutil, sys; shutil.copy(sys.argv[1], {str(copy)!r})"
    monkeypatch.setattr(thread_view, "viewer_command", lambda: [sys.executable, "-c", script])
    view = ThreadView(Names())
    view.media.put("e" * 64, b"JPEGDATA")
    app = Harness(view)
    async with app.run_test(size=(80, 20)) as pilot:
        media = [{"content_type": "image/jpeg", "size": 8, "sha256": "e" * 64}]
        view.show(ROW, [message(1, media=media)], has_older=False)
        await pilot.press("o")
        await app.workers.wait_for_complete()
        assert copy.read_bytes() == b"JPEGDATA"


@pytest.mark.parametrize("viewer", [True, False])
async def test_opened_attachments_leave_nothing_in_the_temp_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, viewer: bool) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    seen = tmp_path / "seen.bin"
    script = f"import shutil, sys; shutil.copy(sys.argv[1], {str(seen)!r})"
    monkeypatch.setattr(thread_view, "viewer_command",
                        lambda: [sys.executable, "-c", script] if viewer else None)
    view = ThreadView(Names())
    view.media.put("f" * 64, b"PNGDATA")
    app = Harness(view)
    async with app.run_test(size=(80, 20)) as pilot:
        media = [{"content_type": "image/png", "size": 7, "sha256": "f" * 64}]
        view.show(ROW, [message(1, media=media)], has_older=False)
        await pilot.press("o")
        await app.workers.wait_for_complete()
        assert list(temp.rglob("smsdesk-*.png"))  # there while the inbox runs
    assert list(temp.iterdir()) == []
    assert seen.exists() is viewer


async def test_thread_keys_move_the_entry_cursor() -> None:
    view = ThreadView(Names())
    app = Harness(view)
    async with app.run_test(size=(60, 10)) as pilot:
        view.show(ROW, [message(i) for i in range(1, 40)], has_older=False)
        await pilot.pause()
        assert view.cursor == 38 and view.scroll_y == view.max_scroll_y
        await pilot.press("k", "k", "up")
        assert view.cursor == 35
        await pilot.press("g")
        assert view.cursor == 0 and view.scroll_y == 0
        await pilot.press("j")
        assert view.cursor == 1
        await pilot.press("pagedown")
        assert view.scroll_y == view._page and view.cursor > 1
        await pilot.press("G")
        assert view.cursor == 38 and view.scroll_y == view.max_scroll_y
        assert screen_text(view)[-2].startswith("▌   Message 39.")


def test_media_cache_drops_the_least_recently_used() -> None:
    cache = MediaCache(max_bytes=10)
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    assert cache.get("a") == b"1234"  # a is now the most recent
    cache.put("c", b"1234")
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.size == 8 and len(cache) == 2


# -- snapshots -----------------------------------------------------------------------------


def test_snapshot_ticket_list(snap_compare: Any) -> None:
    source = Source(30)
    source.rows[4]["contact_opted_out"] = True  # type: ignore[index]
    app = Harness(TicketList(source, Names()))
    assert snap_compare(app, press=["j", "j", "space", "j"], terminal_size=(120, 16))


def test_snapshot_thread(snap_compare: Any) -> None:
    view = ThreadView(Names())
    view.media.put("f" * 64, png(16, 8))
    entries = [
        message(1, body=LONG),
        message(2, body="Sorry about that! Let me check with the warehouse.", status="read"),
        note(3, "Warehouse says it is stuck at the depot."),
        message(4, body="Here it is, it arrived damaged:", channel="mms",
                 media=[{"content_type": "image/png", "size": 600, "sha256": "f" * 64,
                         "filename": "kettle.png"}]),
        message(6, body="We will send a replacement today.", status="undelivered",
                error_code=30003),
    ]
    app = Harness(view)

    def load(pilot: Any) -> None:
        view.show(ROW, entries, has_older=True)

    assert snap_compare(app, terminal_size=(90, 34), run_before=load)


async def test_widgets_accept_data_before_they_are_mounted() -> None:
    tl = TicketList(Source(40), Names())
    tl.refresh_rows()
    tl.reset()
    view = ThreadView(Names())
    view.show(ROW, [message(i) for i in range(1, 30)], has_older=False)

    class Both(Harness):
        def compose(self) -> ComposeResult:
            yield tl
            yield view

    app = Both(tl)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "Customer 1 " in screen_text(tl)[2]
        assert view.scroll_y == view.max_scroll_y > 0
        assert screen_text(view)[-2].startswith("▌   Message 29.")


@pytest.mark.parametrize("terminal", [80, 100, 150])
def test_the_message_column_stays_readable_and_tags_show_when_wide(terminal: int) -> None:
    from tui.widgets.ticket_list import columns_for

    columns = {c.key: c.width for c in columns_for(terminal - 2)}  # border and scrollbar
    assert columns["preview"] >= 32
    assert ("tags" in columns) is (terminal >= 150)
    assert sum(width + 1 for width in columns.values()) <= terminal - 2
