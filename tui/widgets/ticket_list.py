"""The inbox's ticket list: a line-API widget that paints only what is on screen.

Textual's DataTable and ListView build every row up front, which takes
seconds at 100,000 tickets. Here each visible line is drawn on demand from a
:class:`TicketSource` that may not have loaded that row yet (a dim placeholder
is drawn and the source is asked for the range), and drawn lines are cached
until the source changes. Line 0 is a header that never scrolls away.

Issue 14 adds the SLA clock and the CSAT rating: an overdue mark beside the unread dot
at every width (the dues compared with the inbox's own clock, so a row turns overdue as
time passes), and, when the list is wide enough, the nearer due ("due 14:30", "3h 20m
over") and the rating ("★4"). The one timer that redraws ages redraws dues with them
(the strip cache is dropped; rows are drawn again only as they are painted).

The list keeps its own top row and draws its own scrollbar in its last
column rather than being a ScrollView: Textual's scrolling moves a separate
scrollbar widget and runs reactive watchers on every step, about a third of
what a held ``j`` cost, for a picture that is one column of colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Protocol

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from tui.sla import HOUR, due_words, is_overdue, nearer_due
from tui.widgets import render
from tui.widgets.render import Names, fit, one_line

__all__ = ["Names", "TicketList", "TicketSource"]


class TicketSource(Protocol):
    """The rows of the current view, loaded window by window by the lead's model."""

    @property
    def total(self) -> int: ...

    def row(self, index: int) -> dict[str, Any] | None: ...

    def request(self, first: int, last: int) -> None: ...

    def index_of(self, ticket_id: int) -> int | None: ...


@dataclass(frozen=True, slots=True)
class _Column:
    key: str
    title: str
    width: int


# Fixed widths; the preview takes what is left. Dropped right to left of this
# order when the terminal is too narrow for a readable preview.
_MARK = _Column("mark", "", 3)
_CONTACT = _Column("contact", "Contact", 20)
_STATUS = _Column("status", "Status", 9)
_PRIORITY = _Column("priority", "Prio", 7)
_GROUP = _Column("group", "Group", 12)
_AGENT = _Column("agent", "Agent", 12)
_AGE = _Column("age", "Age", 7)
_TAGS = _Column("tags", "Tags", 16)
# Issue 14: the SLA's nearer due and the CSAT rating. They come only where the preview
# keeps _ROOMY_PREVIEW cells (what the customer wrote comes before when it is due), and go
# first; the overdue mark in the mark column shows at every width.
_DUE = _Column("due", "Due", 13)
_CSAT = _Column("csat", "CSAT", 4)
_DROP_ORDER = ("csat", "due", "tags", "agent", "group", "priority")
_ROOMY = frozenset({"csat", "due"})
_ROOMY_PREVIEW = 40
# The Trash shows when each ticket went there, by whom, and when it will be purged
# (deleted_at + the admin's retention; "kept" when tickets stay until the Trash is emptied).
_DELETED = _Column("deleted", "Deleted", 7)
_DELETED_BY = _Column("deleted_by", "By", 10)
_PURGE = _Column("purge", "Purge", 7)
_TRASH_DROP_ORDER = ("status",)
# Below this the message is unreadable (at 80 columns it once shrank to 15 characters):
# columns are dropped before the preview gets narrower.
_MIN_PREVIEW = 32
_MIN_TRASH_PREVIEW = 24  # in the Trash, who deleted it and when matter more
_DAY_MS = 86_400_000
_UNREAD_MARK = "●"
_FAILED_MARK = "!"  # the newest reply was not delivered: R sends it again
FAILED_STATUSES = frozenset({"failed", "undelivered"})
_SELECTED_MARK = "✓"
_OVERDUE_MARK = "⚠"  # one cell, the mark column's third
_DUE_SOON = HOUR // 2  # a due this close is drawn in the warning colour
_RATING_LOW = 2  # ★1 and ★2 in the warning colour
_EMAIL_MARK = "✉ "
_PLACEHOLDER = "·" * 3


@lru_cache(maxsize=16)
def columns_for(width: int, trash: bool = False) -> tuple[_Column, ...]:
    """Columns for this width (of the Trash, if ``trash``), each followed by one blank cell."""
    if trash:
        fixed = [_MARK, _CONTACT, _STATUS, _DELETED, _DELETED_BY, _PURGE]
        drop_order, least = _TRASH_DROP_ORDER, _MIN_TRASH_PREVIEW
    else:
        fixed = [_MARK, _CONTACT, _STATUS, _PRIORITY, _DUE, _GROUP, _AGENT, _TAGS, _CSAT, _AGE]
        drop_order, least = _DROP_ORDER, _MIN_PREVIEW
    for key in drop_order:
        used = sum(c.width + 1 for c in fixed)
        if width - used >= (_ROOMY_PREVIEW if key in _ROOMY else least):
            break
        fixed = [c for c in fixed if c.key != key]
    used = sum(c.width + 1 for c in fixed)
    preview = _Column("preview", "Last message", max(1, width - used - 1))
    columns = [*fixed[:2], preview, *fixed[2:]]
    return tuple(columns)



def contact_label(row: dict[str, Any]) -> str:
    """Who a row is with: the name, else the phone, else (known only by email) the address."""
    return row.get("contact_name") or row.get("contact_phone") or row.get("contact_email") or ""

class TicketList(Widget, can_focus=True):
    """Tickets of the current view, one per line, with a fixed header."""

    DEFAULT_CSS: ClassVar[str] = Path(__file__).with_name("ticket_list.tcss").read_text()

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "ticket-list--header",
        "ticket-list--cursor",
        "ticket-list--selected",
        "ticket-list--unread",
        "ticket-list--mark",
        "ticket-list--failed",
        "ticket-list--placeholder",
        "ticket-list--preview",
        "ticket-list--meta",
        "ticket-list--opted-out",
        "ticket-list--status-open",
        "ticket-list--status-pending",
        "ticket-list--status-resolved",
        "ticket-list--status-closed",
        "ticket-list--priority-high",
        "ticket-list--priority-urgent",
        "ticket-list--overdue",
        "ticket-list--due-soon",
        "ticket-list--rating",
        "ticket-list--rating-low",
        "ticket-list--scrollbar",
        "ticket-list--scrollbar-thumb",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "cursor_down", "Down", show=False, id="list.down"),
        Binding("k,up", "cursor_up", "Up", show=False, id="list.up"),
        Binding("g,home", "cursor_top", "Top", show=False, id="list.top"),
        Binding("G,end", "cursor_bottom", "Bottom", show=False, id="list.bottom"),
        Binding("pagedown,ctrl+d", "cursor_page_down", "Page down", show=False,
                id="list.page_down"),
        Binding("pageup,ctrl+u", "cursor_page_up", "Page up", show=False, id="list.page_up"),
        Binding("enter", "open", "Open", id="list.open"),
        Binding("space", "toggle_select", "Select", show=False, id="list.select"),
    ]

    WHEEL_ROWS: ClassVar[int] = 3
    """Rows a turn of the mouse wheel scrolls (the cursor stays on its ticket)."""

    AGE_REFRESH_SECONDS: ClassVar[float] = 30.0
    """Ages ("5m") and dues ("due 14:30", the overdue mark) go stale; cached lines are
    redrawn this often, by one timer for the whole list."""

    class Highlighted(Message):
        """The highlighted row changed (cursor moved, or another ticket is under it)."""

        def __init__(self, ticket_list: TicketList, row: dict[str, Any] | None,
                     index: int) -> None:
            super().__init__()
            self.ticket_list = ticket_list
            self.row = row
            self.index = index

        @property
        def control(self) -> TicketList:
            return self.ticket_list

    class Opened(Message):
        """The agent asked to open the highlighted ticket (Enter, or a click on it)."""

        def __init__(self, ticket_list: TicketList, row: dict[str, Any], index: int) -> None:
            super().__init__()
            self.ticket_list = ticket_list
            self.row = row
            self.index = index

        @property
        def control(self) -> TicketList:
            return self.ticket_list

    def __init__(
        self,
        source: TicketSource,
        names: Names,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.source = source
        self.names = names
        self.selected: set[int] = set()
        self.empty_text = "Loading…"  # what an empty view says (the screen sets it per view)
        self._cursor = 0
        self._top = 0  # index of the row drawn under the header
        self._total = 0
        self._highlighted_id: int | None = None
        self._strips: LRUCache[tuple[int, bool, bool], Strip] = LRUCache(1024)
        self._strip_width = -1
        self._styles: dict[str, Style] = {}
        self._cell_styles: dict[tuple[str, bool, bool, bool], Style] = {}
        self._requested: tuple[int, int] | None = None
        self._request_scheduled = False
        self._click_opened = False

    def _post(self, message: Message) -> None:
        """Post as this widget: built during a paint, a message's sender would be
        the screen (our parent), and Textual stops bubbling at the sender."""
        self.post_message(message.set_sender(self))

    # -- public API ---------------------------------------------------------------------

    @property
    def cursor(self) -> int:
        """Index of the highlighted row."""
        return self._cursor

    @cursor.setter
    def cursor(self, index: int) -> None:
        self._move_to(index)

    @property
    def top(self) -> int:
        """Index of the first row shown under the header."""
        return self._top

    @property
    def row_width(self) -> int:
        """Cells a row takes: the width less the scrollbar's column, when there is one."""
        return self.size.width - (1 if self._scrollbar_shown else 0)

    def scroll_to_row(self, top: int) -> None:
        """Show rows from ``top`` (clamped so that the last page is full)."""
        self._scroll_to_row(top)

    def current(self) -> dict[str, Any] | None:
        """The highlighted row, or None when it is not loaded (or the view is empty)."""
        if not 0 <= self._cursor < self._total:
            return None
        return self.source.row(self._cursor)

    def refresh_rows(self, keep_ticket: bool = True) -> None:
        """Redraw from the source, keeping the highlighted ticket where the agent sees it.

        A ticket arriving above the cursor shifts indices by one; without the
        correction the highlight would silently slide to a different ticket.
        """
        if not self.is_mounted:  # on_mount reads the source
            return
        old_cursor, old_scroll = self._cursor, self._top
        self._set_total(self.source.total)
        self._strips.clear()
        target = old_cursor
        if keep_ticket and self._highlighted_id is not None:
            found = self.source.index_of(self._highlighted_id)
            if found is not None:
                target = found
        self._cursor = self._clamp(target)
        if self._cursor != old_cursor:
            self._scroll_to_row(old_scroll + (self._cursor - old_cursor))
        self._scroll_to_row(self._visible_scroll(self._top))
        self.refresh()
        self._requested = None
        self._schedule_request()
        self._announce(force=False)

    def reset(self) -> None:
        """A new view: top, first row, nothing selected."""
        self.selected.clear()
        self._cursor = 0
        self._highlighted_id = None
        if not self.is_mounted:
            return
        self._set_total(self.source.total)
        self._strips.clear()
        self._scroll_to_row(0)
        self.refresh()
        self._requested = None
        self._schedule_request()
        self._announce(force=True)

    # -- geometry -------------------------------------------------------------------------

    @property
    def _page(self) -> int:
        """Rows visible under the header."""
        return max(1, self.size.height - 1)

    @property
    def _scrollbar_shown(self) -> bool:
        return self._total > self._page

    def _clamp(self, index: int) -> int:
        return max(0, min(index, self._total - 1)) if self._total else 0

    def _set_total(self, total: int) -> None:
        if (total > self._page) != self._scrollbar_shown:
            self._strips.clear()  # rows are one cell narrower beside a scrollbar
        self._total = max(0, total)

    def _scroll_to_row(self, top: int) -> None:
        top = max(0, min(top, self._total - self._page))
        if top != self._top:
            self._top = top
            self.refresh()
            self._schedule_request()

    def _visible_scroll(self, top: int) -> int:
        """The scroll offset closest to ``top`` that shows the cursor."""
        page = self._page
        if self._cursor < top:
            return self._cursor
        if self._cursor > top + page - 1:
            return self._cursor - page + 1
        return top

    def _refresh_row(self, index: int) -> None:
        y = index - self._top + 1
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def _move_to(self, index: int) -> None:
        old = self._cursor
        self._cursor = self._clamp(index)
        top = self._top
        wanted = self._visible_scroll(top)
        if wanted != top:
            self._scroll_to_row(wanted)
        else:
            self._refresh_row(old)
            self._refresh_row(self._cursor)
        self._announce(force=old != self._cursor)

    def _announce(self, *, force: bool) -> None:
        """Post Highlighted when the row under the cursor is a different ticket."""
        row = self.current()
        ticket_id = row["ticket"]["id"] if row else None
        if force or ticket_id != self._highlighted_id:
            self._highlighted_id = ticket_id
            self._post(self.Highlighted(self, row, self._cursor))

    # -- loading ---------------------------------------------------------------------------

    def _schedule_request(self) -> None:
        """Ask the source for the visible range once per batch of scroll changes."""
        if not self._request_scheduled:
            self._request_scheduled = True
            self.call_later(self._flush_request)

    def _flush_request(self) -> None:
        self._request_scheduled = False
        page = self._page
        top = self._top
        first = max(0, top - page)
        last = top + 2 * page
        if self._total:
            last = min(last, self._total - 1)
            if first > last:
                return
        if (first, last) != self._requested:
            self._requested = (first, last)
            self.source.request(first, last)

    def on_mount(self) -> None:
        self._set_total(self.source.total)
        self._schedule_request()
        self._announce(force=False)
        self.set_interval(self.AGE_REFRESH_SECONDS, self._redraw_ages)

    def on_resize(self, event: events.Resize) -> None:
        self._strips.clear()
        self._scroll_to_row(self._visible_scroll(self._top))
        self.refresh()
        self._schedule_request()

    def _redraw_ages(self) -> None:
        self._strips.clear()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._cell_styles.clear()
        self._strips.clear()

    def on_focus(self) -> None:
        self._restyle()

    def on_blur(self) -> None:
        self._restyle()

    def _restyle(self) -> None:
        self._styles.clear()
        self._cell_styles.clear()
        self._strips.clear()
        self.refresh()

    # -- actions -----------------------------------------------------------------------------

    def action_cursor_down(self) -> None:
        self._move_to(self._cursor + 1)

    def action_cursor_up(self) -> None:
        self._move_to(self._cursor - 1)

    def action_cursor_top(self) -> None:
        self._move_to(0)

    def action_cursor_bottom(self) -> None:
        self._move_to(self._total - 1)

    def action_cursor_page_down(self) -> None:
        page = self._page
        self._scroll_to_row(self._top + page)
        self._move_to(self._cursor + page)

    def action_cursor_page_up(self) -> None:
        page = self._page
        self._scroll_to_row(self._top - page)
        self._move_to(self._cursor - page)

    def action_open(self) -> None:
        row = self.current()
        if row is not None:
            self._post(self.Opened(self, row, self._cursor))

    def action_toggle_select(self) -> None:
        row = self.current()
        if row is None:
            return
        ticket_id = row["ticket"]["id"]
        if ticket_id in self.selected:
            self.selected.discard(ticket_id)
        else:
            self.selected.add(ticket_id)
        self._refresh_row(self._cursor)  # cached strips are keyed by "selected" too

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self._scroll_to_row(self._top + self.WHEEL_ROWS)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self._scroll_to_row(self._top - self.WHEEL_ROWS)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        if self._scrollbar_shown and offset.x >= self.row_width:
            # On the scrollbar: that point of the list, its top row highlighted.
            span = max(1, self._page - 1)
            self._scroll_to_row(round((offset.y - 1) / span * (self._total - self._page)))
            self._move_to(self._top)
            return
        index = self._top + offset.y - 1
        if not 0 <= index < self._total:
            return
        if event.chain == 1:
            self._click_opened = index == self._cursor
            self._move_to(index)
            if self._click_opened:
                self.action_open()
        elif event.chain == 2 and not self._click_opened:
            self._move_to(index)
            self.action_open()

    # -- drawing -------------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        """Rich style of a component class, cached until the CSS or focus changes."""
        style = self._styles.get(name)
        if style is None:
            if name == "base":
                style = self.rich_style
            elif name in ("cursor", "header", "placeholder"):
                # Full styles: the cursor line takes the cursor's colours whole
                # (a red "urgent" on the cursor's blue would be unreadable).
                style = self.get_component_rich_style(f"ticket-list--{name}")
            elif name == "selected":
                # Only the background: the columns keep their colours.
                full = self.get_component_rich_style("ticket-list--selected")
                style = Style(bgcolor=full.bgcolor)
            else:
                style = self.get_component_rich_style(
                    f"ticket-list--{name}", partial=True, default=Style()
                )
            self._styles[name] = style
        return style

    def render_line(self, y: int) -> Strip:
        if y == 0:
            return self._header(self.size.width)
        line = self._line(y)
        if not self._scrollbar_shown:
            return line
        return Strip.join([line, self._scrollbar_cell(y)])

    def _scrollbar_cell(self, y: int) -> Strip:
        """The scrollbar's cell on line ``y``: the thumb spans the visible rows' share."""
        track = self._page
        thumb = max(1, round(track * track / self._total))
        start = round(self._top / max(1, self._total - track) * (track - thumb))
        on_thumb = start <= y - 1 < start + thumb
        style = self._style("scrollbar-thumb" if on_thumb else "scrollbar")
        return Strip([Segment(" ", style)], 1)

    def _line(self, y: int) -> Strip:
        width = self.row_width
        if width != self._strip_width:
            self._strips.clear()
            self._strip_width = width
        index = self._top + y - 1
        if index >= self._total:
            if self._total == 0 and y == 2 and self.empty_text:
                text = fit(" " * 4 + self.empty_text, width)
                return Strip([Segment(text, self._style("placeholder"))], width)
            return Strip.blank(width, self._style("base"))
        row = self.source.row(index)
        cursor = index == self._cursor
        if row is None:
            return self._placeholder(width, cursor)
        selected = row["ticket"]["id"] in self.selected
        key = (index, cursor, selected)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._row(row, width, cursor=cursor, selected=selected)
            self._strips[key] = strip
        return strip

    def _header(self, width: int) -> Strip:
        """Titles over the rows' columns, the header's colour running over the scrollbar."""
        style = self._style("header")
        text = "".join(fit(c.title, c.width) + " " for c in self._columns(self.row_width))
        return Strip([Segment(fit(text, width), style)], width)

    def _placeholder(self, width: int, cursor: bool) -> Strip:
        style = self._style("placeholder")
        if cursor:
            style += self._style("cursor")
        columns = self._columns(width)
        text = " " * (columns[0].width + 1) + _PLACEHOLDER
        return Strip([Segment(fit(text, width), style)], width)

    def _row(self, row: dict[str, Any], width: int, *, cursor: bool, selected: bool) -> Strip:
        unread = bool(row["ticket"].get("unread"))
        segments: list[Segment] = []
        used = 0
        for column in self._columns(width):
            text, style = self._cell(column.key, row)
            if column.key == "mark" and self._overdue(row):
                # Its own colour in the mark column's third cell, whatever the width.
                segments.append(Segment(fit(text, column.width - 1),
                                        self._cell_style(style, unread, selected, cursor)))
                segments.append(Segment(_OVERDUE_MARK + " ",
                                        self._cell_style("overdue", unread, selected, cursor)))
            else:
                segments.append(Segment(fit(text, column.width) + " ",
                                        self._cell_style(style, unread, selected, cursor)))
            used += column.width + 1
        if used < width:
            segments.append(Segment(" " * (width - used),
                                    self._cell_style("", unread, selected, cursor)))
        elif used > width:  # narrower than the fixed columns: cut
            return Strip(segments, used).crop(0, width)
        return Strip(segments, width)

    def _cell_style(self, name: str, unread: bool, selected: bool, cursor: bool) -> Style:
        """A cell's whole style: the line's (bold when unread), the cell's own colour,
        then the selection's and the cursor's; a dozen combinations, each added once."""
        key = (name, unread, selected, cursor)  # a tuple: no string formatting per cell
        style = self._cell_styles.get(key)
        if style is None:
            style = self._style("base")
            if unread:
                style += self._style("unread")
            if name:
                style += self._style(name)
            if selected:
                style += self._style("selected")
            if cursor:
                style += self._style("cursor")
            self._cell_styles[key] = style
        return style

    @property
    def in_trash(self) -> bool:
        """Whether the source is the Trash (a source that does not say is not)."""
        return bool(getattr(self.source, "in_trash", False))

    def _columns(self, width: int) -> tuple[_Column, ...]:
        return columns_for(width, self.in_trash)

    def _trash_cell(self, key: str, ticket: dict[str, Any]) -> str:
        """When it went to the Trash, who put it there, when the relay will purge it."""
        deleted_at = ticket.get("deleted_at")
        if key == "deleted":
            return render.age(deleted_at)
        if key == "deleted_by":
            return self.names.agent(ticket.get("deleted_by"))
        days = getattr(self.names, "trash_retention_days", None)
        if days is None:
            return "kept"  # until an admin empties the Trash
        return render.due(deleted_at + days * _DAY_MS) if deleted_at else ""

    @staticmethod
    def _overdue(row: dict[str, Any]) -> bool:
        return is_overdue(row["ticket"], render.clock())

    @staticmethod
    def _due_cell(ticket: dict[str, Any]) -> tuple[str, str]:
        """The nearer due in words, in the error colour once passed."""
        found = nearer_due(ticket)
        if found is None:
            return "", "meta"
        now = render.clock()
        due = found[1]
        style = "overdue" if due <= now else "due-soon" if due - now <= _DUE_SOON else "meta"
        return due_words(due, now, render.timezone), style

    @staticmethod
    def _rating_cell(row: dict[str, Any]) -> tuple[str, str]:
        rating = row.get("csat_rating")
        if rating is None:
            return "", "meta"
        return f"★{rating}", "rating-low" if rating <= _RATING_LOW else "rating"

    def _cell(self, key: str, row: dict[str, Any]) -> tuple[str, str]:
        ticket = row["ticket"]
        if key in ("deleted", "deleted_by", "purge"):
            return self._trash_cell(key, ticket), "meta"
        if key == "mark":
            sel = _SELECTED_MARK if ticket["id"] in self.selected else " "
            if row.get("last_reply_status") in FAILED_STATUSES:
                return sel + _FAILED_MARK, "failed"
            dot = _UNREAD_MARK if ticket.get("unread") else " "
            return sel + dot, "mark"
        if key == "contact":
            style = "opted-out" if row.get("contact_opted_out") else ""
            return contact_label(row), style
        if key == "preview":
            preview = one_line(ticket.get("last_preview") or ticket.get("subject") or "")
            # Issue 12: the last message was an email (tickets.last_channel).
            mark = _EMAIL_MARK if ticket.get("last_channel") == "email" else ""
            return mark + preview, "preview"
        if key == "status":
            status = ticket.get("status") or ""
            return status, f"status-{status}"
        if key == "priority":
            priority = ticket.get("priority") or ""
            if priority in ("high", "urgent"):
                return priority, f"priority-{priority}"
            return priority, "meta"
        if key == "group":
            return self.names.group(ticket.get("group_id")), "meta"
        if key == "agent":
            return self.names.agent(ticket.get("agent_id")), "meta"
        if key == "tags":
            return ", ".join(ticket.get("tags") or ()), "meta"
        if key == "age":
            return render.age(ticket.get("last_message_at") or ticket.get("updated_at")), \
                "meta"
        if key == "due":
            return self._due_cell(ticket)
        if key == "csat":
            return self._rating_cell(row)
        raise KeyError(key)
