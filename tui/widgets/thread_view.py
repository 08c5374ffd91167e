"""A ticket's conversation: messages and notes, drawn line by line.

Threads can hold thousands of entries, so nothing is rendered up front: each
entry's height at the current width is measured with cheap word counting
(the same wrapper that later draws it, so the two always agree), the heights
give every entry its first line, and only entries on screen are turned into
styled strips, cached per (entry, width). Images are drawn inline with
textual-image's half-cell renderable once their bytes are in a
:class:`MediaCache`; until then a labelled placeholder asks for them.
"""

from __future__ import annotations

import asyncio
import io
import math
import mimetypes
import shutil
import sys
import tempfile
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image as PILImage
from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual_image._terminal import get_cell_size
from textual_image.renderable.halfcell import Image as HalfcellImage

from core.errors import explain
from tui.mail_channel import email_state_label
from tui.screens.pickers import ChoiceScreen
from tui.widgets import render
from tui.widgets.render import Names, fit, human_size, wrap
from tui.widgets.save_media import SaveMedia, SaveTarget, default_name, default_path, write_new

__all__ = ["MediaCache", "ThreadView", "viewer_command"]

# textual-image asks the terminal for its cell size on first use, which only
# works before Textual owns stdin; its own widget module does the same at import.
get_cell_size()

IMAGE_MAX_COLS = 40
IMAGE_MAX_ROWS = 12
_GUTTER = 2  # "▌ " beside the highlighted entry
_INDENT = 2  # body under the header
_BANNER = "↑ older messages: scroll up to load them"
_STATUS_LABELS: dict[str, tuple[str, str]] = {
    "accepted": ("accepted", "meta"),
    "scheduled": ("scheduled", "meta"),
    "queued": ("queued…", "meta"),
    "sending": ("sending…", "meta"),
    "sent": ("sent", "meta"),
    "delivered": ("delivered ✓", "ok"),
    "read": ("read ✓", "ok"),
    "partially_delivered": ("partially delivered", "error"),
    "undelivered": ("undelivered ✗", "error"),
    "failed": ("failed ✗", "error"),
    "canceled": ("canceled", "meta"),
}
_FAILED = frozenset({"undelivered", "failed"})
# The desk's own automatic texts (a message's ``purpose``, issue 14) are headed by what
# they are, as the bot's are, not by an agent's name nobody wrote them under.
PURPOSE_HEADS: dict[str, str] = {
    "csat_survey": "📊 Survey",
    "csat_followup": "📊 Survey follow-up",
}


class MediaCache:
    """Attachment bytes by sha256, least recently used dropped past ``max_bytes``."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def get(self, sha256: str) -> bytes | None:
        data = self._items.get(sha256)
        if data is not None:
            self._items.move_to_end(sha256)
        return data

    def put(self, sha256: str, data: bytes) -> None:
        old = self._items.pop(sha256, None)
        if old is not None:
            self._size -= len(old)
        self._items[sha256] = data
        self._size += len(data)
        while self._size > self.max_bytes and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self._size -= len(dropped)

    def __contains__(self, sha256: object) -> bool:
        return sha256 in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._size


def viewer_command() -> list[str] | None:
    """The system's "open this file" command, or None when there is none."""
    if sys.platform == "darwin" and shutil.which("open"):
        return ["open"]
    if sys.platform == "win32":
        return ["explorer"]
    found = shutil.which("xdg-open")
    return [found] if found else None


def _discard_where(cache: LRUCache[Any, Any], doomed: Callable[[Any], bool]) -> None:
    """Drop matching keys (textual's LRUCache has keys() but no iteration)."""
    keys = cache.keys()
    for key in [k for k in keys if doomed(k)]:
        cache.discard(key)


def _foreground(style: Style) -> Style:
    """A component style without its background: a partial style's translucent
    background would be resolved against nothing and paint a solid block."""
    return Style(color=style.color, bold=style.bold, italic=style.italic,
                 underline=style.underline, strike=style.strike)


def _is_note(entry: dict[str, Any]) -> bool:
    return "direction" not in entry


def _is_image(media: dict[str, Any]) -> bool:
    return str(media.get("content_type", "")).startswith("image/")


def _subject_line(entry: dict[str, Any]) -> str:
    """An email's subject, shown under its header; "" for everything else."""
    if entry.get("channel") != "email" or not entry.get("subject"):
        return ""
    return f"Subject: {' '.join(str(entry['subject']).split())}"


def _is_gif(media: dict[str, Any]) -> bool:
    return _media_type(media) == "image/gif"


def _media_type(media: dict[str, Any]) -> str:
    return str(media.get("content_type") or "").split(";", 1)[0].strip().lower()


_VCARD_TYPES = frozenset({"text/vcard", "text/x-vcard", "text/directory", "application/vcard"})


def kind_in_words(media: dict[str, Any]) -> str:
    """What an attachment is, as an agent says it: "video", "audio", "PDF", "GIF"..."""
    media_type = _media_type(media)
    if media_type == "image/gif":
        return "GIF"
    if media_type == "application/pdf":
        return "PDF"
    if media_type in _VCARD_TYPES:
        return "contact card"
    major = media_type.partition("/")[0]
    return major if major in ("image", "video", "audio") else "file"


def _label(media: dict[str, Any]) -> str:
    """A picture's placeholder text: its exact type, size and name."""
    parts = [str(media.get("content_type") or "file"), human_size(media.get("size"))]
    if media.get("filename"):
        parts.append(str(media["filename"]))
    return " · ".join(parts)


def attachment_label(media: dict[str, Any]) -> str:
    """An attachment in words, size and name: "video · 12 KB · noise.mp4"."""
    parts = [kind_in_words(media), human_size(media.get("size"))]
    if media.get("filename"):
        parts.append(str(media["filename"]))
    return " · ".join(parts)


def _image_box(width: int, height: int, max_cols: int) -> tuple[int, int]:
    """Cells for a picture: each cell shows one pixel column and two pixel rows.

    Shrunk to fit the box, never enlarged: a blown-up icon is only blurrier.
    """
    scale = min(1.0, max_cols / width, 2 * IMAGE_MAX_ROWS / height)
    cols = max(1, min(max_cols, round(width * scale)))
    rows = max(1, min(IMAGE_MAX_ROWS, math.ceil(height * scale / 2)))
    return cols, rows


def _suffix(media: dict[str, Any]) -> str:
    suffix = Path(str(media.get("filename") or "")).suffix
    if suffix:
        return suffix
    return mimetypes.guess_extension(str(media.get("content_type") or "")) or ""


class OpenedFiles:
    """Attachments written out for the system viewer, in one private temporary directory.

    The viewer reads a file after ``xdg-open`` returns, so a file cannot go as soon as it
    is handed over; they all go together with the directory when the thread view does
    (on quit), so nothing is left in the temporary directory.
    """

    def __init__(self) -> None:
        self._directory: Path | None = None

    def write(self, data: bytes, suffix: str) -> str:
        """A new file holding ``data`` (blocking: run it off the event loop)."""
        if self._directory is None or not self._directory.is_dir():
            self._directory = Path(tempfile.mkdtemp(prefix="smsdesk-open-"))
        with tempfile.NamedTemporaryFile(dir=self._directory, prefix="smsdesk-", suffix=suffix,
                                         delete=False) as f:
            f.write(data)
            return f.name

    def remove_all(self) -> None:
        """Delete every file written, and their directory (blocking)."""
        directory, self._directory = self._directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class _Line:
    """One logical line of an entry: styled parts, or one row of a picture."""

    parts: tuple[tuple[str, str], ...] = ()  # (text, style name)
    image: tuple[str, int, int, int] | None = None  # (sha256, row, cols, rows)
    wants: str | None = None  # sha256 whose bytes this placeholder is waiting for


class ThreadView(ScrollView, can_focus=True):
    """The messages and notes of one ticket, oldest at the top."""

    DEFAULT_CSS: ClassVar[str] = Path(__file__).with_name("thread_view.tcss").read_text()

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "thread-view--gutter",
        "thread-view--inbound",
        "thread-view--inbound-head",
        "thread-view--outbound",
        "thread-view--outbound-head",
        "thread-view--note",
        "thread-view--note-head",
        "thread-view--meta",
        "thread-view--ok",
        "thread-view--error",
        "thread-view--attachment",
        "thread-view--banner",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "cursor_down", "Next", show=False, id="thread.down"),
        Binding("k,up", "cursor_up", "Previous", show=False, id="thread.up"),
        Binding("g,home", "cursor_top", "Oldest", show=False, id="thread.top"),
        Binding("G,end", "cursor_bottom", "Newest", show=False, id="thread.bottom"),
        Binding("pagedown", "cursor_page_down", "Page down", show=False, id="thread.page_down"),
        Binding("pageup", "cursor_page_up", "Page up", show=False, id="thread.page_up"),
        Binding("o", "open_media", "Open attachment", id="thread.open_media"),
        # On an entry with no attachment S is not ours: the inbox's scenario key (SkipAction).
        Binding("S", "save_media", "Save attachment", id="thread.save_media"),
        # Issue 12: the full original of a customer's email (headers and text, read only).
        Binding("O", "original", "Original email", show=False, id="thread.original"),
    ]

    class OlderWanted(Message):
        """The agent scrolled near the top: load the window before ``before``."""

        def __init__(self, thread_view: ThreadView, ticket_id: int, before: str) -> None:
            super().__init__()
            self.thread_view = thread_view
            self.ticket_id = ticket_id
            self.before = before

        @property
        def control(self) -> ThreadView:
            return self.thread_view

    class MediaWanted(Message):
        """An attachment on screen (or asked to open) has no bytes in the cache yet."""

        def __init__(self, thread_view: ThreadView, sha256: str) -> None:
            super().__init__()
            self.thread_view = thread_view
            self.sha256 = sha256

        @property
        def control(self) -> ThreadView:
            return self.thread_view

    class OriginalWanted(Message):
        """The agent asked for the full original of this customer's email (``O``)."""

        def __init__(self, thread_view: ThreadView, entry: dict[str, Any]) -> None:
            super().__init__()
            self.thread_view = thread_view
            self.entry = entry

        @property
        def control(self) -> ThreadView:
            return self.thread_view

    def __init__(
        self,
        names: Names,
        *,
        media: MediaCache | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.names = names
        self.media = media if media is not None else MediaCache()
        self.ticket_id: int | None = None
        self._ticket_row: dict[str, Any] = {}
        self._ratings: dict[int, int] = {}  # a customer's text taken as a CSAT rating: its rating
        self._entries: list[dict[str, Any]] = []
        self._ids: list[int] = []
        self._pos: dict[int, int] = {}
        self._heights: list[int] = []
        self._starts: list[int] = [0]
        self._width = 0  # the width the heights were measured at; 0: not yet
        self._has_older = False
        self._older_asked: str | None = None
        self._cursor_index = 0
        self._pin_bottom = False
        self._at_end = True
        self._strips: LRUCache[tuple[int, int, bool], list[Strip]] = LRUCache(512)
        self._images: LRUCache[tuple[str, int, int], list[Strip]] = LRUCache(64)
        self._dims: dict[str, tuple[int, int] | None] = {}
        self._wanted: set[str] = set()
        self._open_when_ready: tuple[str, dict[str, Any]] | None = None
        self._save_when_ready: tuple[str, dict[str, Any], SaveTarget] | None = None
        self._styles: dict[str, Style] = {}
        self.opened = OpenedFiles()

    async def on_unmount(self) -> None:
        await asyncio.to_thread(self.opened.remove_all)

    def _post(self, message: Message) -> None:
        """Post as this widget: built during a paint, a message's sender would be
        the screen (our parent), and Textual stops bubbling at the sender."""
        self.post_message(message.set_sender(self))

    # -- public API ---------------------------------------------------------------------

    def show(self, ticket_row: dict[str, Any], entries: list[dict[str, Any]], *,
             has_older: bool) -> None:
        """Replace the thread and show its newest entry."""
        if ticket_row["ticket"]["id"] != self.ticket_id:
            self._ratings.clear()
        self._ticket_row = ticket_row
        self.ticket_id = ticket_row["ticket"]["id"]
        self._entries = list(entries)
        self._reindex()
        self._has_older = has_older
        self._older_asked = None
        self._wanted.clear()
        self._open_when_ready = None
        self._strips.clear()
        self._cursor = max(0, len(self._entries) - 1)
        self._pin_bottom = True
        self._relayout()

    def prepend(self, entries: list[dict[str, Any]], *, has_older: bool) -> None:
        """Add an older window above without moving what is on screen."""
        fresh = [e for e in entries if e["id"] not in self._pos]
        anchor = self._anchor()
        self._entries[:0] = fresh
        self._reindex()
        self._has_older = has_older
        self._cursor += len(fresh)
        self._heights[:0] = [self._height_of(e) for e in fresh]
        self._restack(anchor)

    def upsert(self, entry: dict[str, Any]) -> None:
        """A new entry (appended; the bottom stays pinned) or a new version of one shown."""
        if entry.get("ticket_id", self.ticket_id) != self.ticket_id:
            return
        anchor = self._anchor()
        at_bottom = self._at_bottom()
        pos = self._pos.get(entry["id"])
        if pos is not None:
            self._entries[pos] = entry
            self._forget(entry["id"])
            height = self._height_of(entry)
            if height == self._heights[pos]:
                if self.is_mounted:
                    self.refresh_lines(self._starts[pos], height)
                return
            self._heights[pos] = height
        else:
            follow = at_bottom and self._cursor >= len(self._entries) - 1
            pos = bisect_left(self._ids, entry["id"])
            self._entries.insert(pos, entry)
            self._reindex()
            self._heights.insert(pos, self._height_of(entry))
            if follow:
                self._cursor = len(self._entries) - 1
            elif pos <= self._cursor and len(self._entries) > 1:
                self._cursor += 1
        self._pin_bottom = at_bottom
        self._restack(anchor)

    def mark_rating(self, message_id: int, rating: int) -> None:
        """The customer's text ``message_id`` was taken as a CSAT rating: say so in its head."""
        if self._ratings.get(message_id) == rating:
            return
        self._ratings[message_id] = rating
        pos = self._pos.get(message_id)
        if pos is not None:
            self._forget(message_id)  # the head is one line either way: the height stays
            if self.is_mounted:
                self.refresh_lines(self._starts[pos], self._heights[pos])

    def rating_of(self, message_id: int) -> int | None:
        return self._ratings.get(message_id)

    def clear(self) -> None:
        """Show nothing (no ticket open)."""
        self.ticket_id = None
        self._ticket_row = {}
        self._entries = []
        self._reindex()
        self._has_older = False
        self._older_asked = None
        self._cursor = 0
        self._strips.clear()
        self._wanted.clear()
        self._open_when_ready = None
        self._relayout()

    def media_ready(self, sha256: str) -> None:
        """Bytes for ``sha256`` are in the cache: draw the entries that show it."""
        self._wanted.discard(sha256)
        self._dims.pop(sha256, None)
        _discard_where(self._images, lambda key: key[0] == sha256)
        affected = [i for i, e in enumerate(self._entries)
                    if any(m.get("sha256") == sha256 for m in e.get("media") or ())]
        if affected:
            anchor = self._anchor()
            at_bottom = self._at_bottom()
            for i in affected:
                self._forget(self._entries[i]["id"])
                self._heights[i] = self._height_of(self._entries[i])
            self._pin_bottom = at_bottom
            self._restack(anchor)
        pending = self._open_when_ready
        if pending is not None and pending[0] == sha256:
            self._open_when_ready = None
            self._open_media(pending[1])
        saving = self._save_when_ready
        if saving is not None and saving[0] == sha256:
            self._save_when_ready = None
            self._save(saving[1], saving[2])

    def current(self) -> dict[str, Any] | None:
        """The highlighted entry."""
        return self._entries[self._cursor] if self._entries else None

    @property
    def entries(self) -> list[dict[str, Any]]:
        """The entries shown, oldest first (read only)."""
        return self._entries

    @property
    def cursor(self) -> int:
        """Index of the highlighted entry."""
        return self._cursor

    # -- layout ---------------------------------------------------------------------------

    def _reindex(self) -> None:
        self._ids = [e["id"] for e in self._entries]
        self._pos = {entry_id: i for i, entry_id in enumerate(self._ids)}

    def _forget(self, entry_id: int) -> None:
        _discard_where(self._strips, lambda key: key[0] == entry_id)

    @property
    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height)

    @property
    def _banner_lines(self) -> int:
        return 1 if self._has_older and self._entries else 0

    def _entry_at(self, line: int) -> int:
        return max(0, min(len(self._entries) - 1, bisect_right(self._starts, line) - 1))

    def _anchor(self) -> tuple[int, int] | None:
        """The entry at the top of the screen and how far into it we are."""
        if not self._entries or not self._width:
            return None
        top = round(self.scroll_y)
        i = self._entry_at(top)
        return self._entries[i]["id"], top - self._starts[i]

    def _at_bottom(self) -> bool:
        return self._pin_bottom or self._at_end or round(self.scroll_y) >= self.max_scroll_y

    def _height_of(self, entry: dict[str, Any]) -> int:
        """Lines at the current width; 1 until the width is known (laid out later)."""
        return self._measure(entry, self._width) if self._width else 1

    def _measure_all(self) -> None:
        """Measure every entry at the current width: the only O(n) step."""
        width = self.scrollable_content_region.width
        self._width = width if width > _GUTTER + _INDENT else 0
        self._strips.clear()
        self._heights = [self._height_of(e) for e in self._entries]

    def _relayout(self) -> None:
        self._measure_all()
        self._restack(None)

    def _restack(self, anchor: tuple[int, int] | None) -> None:
        """Recompute first lines, then put the screen back where the agent was."""
        self._starts = list(accumulate(self._heights, initial=self._banner_lines))
        if not self.is_mounted:  # the first resize lays it out, pinned to the bottom
            return
        self.virtual_size = Size(0, self._starts[-1])
        if self._pin_bottom or anchor is None:
            y = self._starts[-1] if self._pin_bottom else round(self.scroll_y)
        else:
            entry_id, offset = anchor
            pos = self._pos.get(entry_id)
            y = self._starts[pos] + offset if pos is not None else round(self.scroll_y)
        self.scroll_to(y=y, animate=False, immediate=True)
        if self._width and self.size.height:
            self._pin_bottom = False
        self.refresh()
        self._check_older()

    def on_resize(self, event: events.Resize) -> None:
        if self.scrollable_content_region.width != self._width or self._pin_bottom:
            anchor = self._anchor()
            self._pin_bottom = self._pin_bottom or (bool(self._entries) and self._at_bottom())
            self._measure_all()
            self._restack(anchor)
        elif self._at_end:
            # Shorter or taller (the composer opened): whoever read the newest
            # message still does.
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Remembered, not recomputed: when the view or its content changes size,
        # "was the agent at the newest message" is what decides where it goes.
        self._at_end = round(new_value) >= self.max_scroll_y
        self._check_older()

    def _check_older(self) -> None:
        """Ask once per cursor for the window above when the top is near."""
        if not (self._has_older and self._entries and self.ticket_id is not None):
            return
        if not self._width or round(self.scroll_y) >= self._page:
            return
        before = str(self._entries[0]["id"])
        if before != self._older_asked:
            self._older_asked = before
            self._post(self.OlderWanted(self, self.ticket_id, before))

    # -- measuring and planning an entry -----------------------------------------------

    def _body_width(self, width: int) -> int:
        return max(1, width - _GUTTER - _INDENT)

    def _error_text(self, entry: dict[str, Any]) -> str | None:
        if _is_note(entry) or entry.get("status") not in _FAILED:
            return None
        if entry.get("channel") == "email":
            return None  # the mail server's own words are in the header's state
        error = explain(entry.get("error_code"))
        code = f"{error.code} " if error.code else ""
        return f"✗ {code}{error.title}. {error.explanation} {error.action}"

    def _media_rows(self, media: dict[str, Any], body_width: int) -> tuple[int, int] | None:
        """Cells of an image whose bytes are here, or None for a one-line label."""
        sha = media.get("sha256")
        if not sha or not _is_image(media):
            return None
        if sha not in self._dims:
            data = self.media.get(sha)
            if data is None:
                return None
            try:
                with PILImage.open(io.BytesIO(data)) as image:
                    self._dims[sha] = image.size if image.size[0] and image.size[1] else None
            except (OSError, ValueError, PILImage.DecompressionBombError):
                self._dims[sha] = None
        dims = self._dims[sha]
        if dims is None:
            return None
        return _image_box(dims[0], dims[1], min(IMAGE_MAX_COLS, body_width))

    def _measure(self, entry: dict[str, Any], width: int) -> int:
        """Lines the entry takes at ``width``; must equal ``len(self._plan(...))``."""
        body_width = self._body_width(width)
        height = 2  # header + blank separator
        subject = _subject_line(entry)
        if subject:
            height += len(wrap(subject, body_width))
        body = entry.get("body") or ""
        if body:
            height += len(wrap(body, body_width))
        error = self._error_text(entry)
        if error:
            height += len(wrap(error, body_width))
        for media in entry.get("media") or ():
            box = self._media_rows(media, body_width)
            height += box[1] + (1 if _is_gif(media) else 0) if box else 1
        return height

    def _plan(self, entry: dict[str, Any], width: int) -> list[_Line]:
        body_width = self._body_width(width)
        lines = [_Line(self._head(entry))]
        kind = self._kind(entry)
        subject = _subject_line(entry)
        if subject:
            lines.extend(_Line(((text, "meta"),)) for text in wrap(subject, body_width))
        body = entry.get("body") or ""
        if body:
            lines.extend(_Line(((text, kind),)) for text in wrap(body, body_width))
        error = self._error_text(entry)
        if error:
            lines.extend(_Line(((text, "error"),)) for text in wrap(error, body_width))
        for media in entry.get("media") or ():
            box = self._media_rows(media, body_width)
            sha = str(media.get("sha256") or "")
            if box:
                lines.extend(_Line(image=(sha, row, *box)) for row in range(box[1]))
                if _is_gif(media):  # the first frame stands still: say it is a GIF
                    lines.append(_Line(((f"▶ {attachment_label(media)}", "attachment"),)))
            elif _is_image(media):
                wants = sha if sha and sha not in self._dims else None
                note = " · loading…" if wants else ""
                lines.append(_Line(((f"[{_label(media)}{note}]", "attachment"),), wants=wants))
            else:
                lines.append(_Line(((f"📎 {attachment_label(media)}", "attachment"),)))
        lines.append(_Line())
        return lines

    def _kind(self, entry: dict[str, Any]) -> str:
        if _is_note(entry):
            return "note"
        return "inbound" if entry.get("direction") == "inbound" else "outbound"

    def _head(self, entry: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        kind = self._kind(entry)
        when = render.stamp(entry.get("created_at"))
        if kind == "note":
            # A note's author may be unknown (an admin tool, a deleted agent): leave the gap out.
            author = entry.get("agent_id")
            meta = " · ".join(part for part in (
                self.names.agent(author) if author is not None else "", when) if part)
            return (("✎ Note", "note-head"), (f" · {meta}" if meta else "", "meta"))
        email = entry.get("channel") == "email"
        mark = "✉ " if email else ""
        if kind == "inbound":
            row = self._ticket_row
            who = row.get("contact_name") or row.get("contact_phone") or "Customer"
            parts: list[tuple[str, str]] = [(f"← {mark}{who}", "inbound-head"),
                                            (f" · {when}" if when else "", "meta")]
            rating = self._ratings.get(entry["id"])
            if rating is not None:
                parts.extend([(" · ", "meta"), (f"rated {rating}", "ok")])
            if email and entry.get("mail_original"):
                parts.append((" · O original", "meta"))
        elif email:
            author = entry.get("author_agent_id")
            who = (self.names.agent(author) if author is not None else "") or "Sent"
            parts = [(f"→ {mark}{who}", "outbound-head"), (f" · {when}" if when else "", "meta")]
            label, style = email_state_label(str(entry.get("status") or ""),
                                             entry.get("mail_detail"))
            if label:
                parts.extend([(" · ", "meta"), (label, style)])
            return tuple(parts)
        else:
            author = entry.get("author_agent_id")
            who = (self.names.agent(author) if author is not None else "") or "Sent"
            if entry.get("by_bot"):  # the number's bot answered, not a person
                who = "🤖 Bot"
            elif entry.get("purpose") in PURPOSE_HEADS:  # the desk's CSAT survey
                who = PURPOSE_HEADS[entry["purpose"]]
            parts = [(f"→ {who}", "outbound-head"), (f" · {when}" if when else "", "meta")]
            sender = entry.get("from_number_id")  # set only when not the ticket's own number
            if sender is not None:
                number = self.names.numbers.get(sender) or {}
                parts.append((f" · from {number.get('e164') or f'number {sender}'}", "meta"))
            status = str(entry.get("status") or "")
            label, style = _STATUS_LABELS.get(status, (status, "meta"))
            if label:
                parts.append((" · ", "meta"))
                parts.append((label, style))
            if status in _FAILED and entry.get("error_code"):
                parts.append((f" {entry['error_code']}", style))
        segments = int(entry.get("segments") or 1)
        encoding = str(entry.get("encoding") or "")
        if segments > 1 or encoding == "UCS-2":
            plural = "segment" if segments == 1 else "segments"
            parts.append((f" · {segments} {plural} · {encoding}", "meta"))
        if entry.get("channel") == "mms":
            parts.append((" · MMS", "meta"))
        return tuple(parts)

    # -- drawing ---------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            if name == "base":
                style = self.rich_style
            elif name == "note-bg":
                style = Style(bgcolor=self.get_component_rich_style("thread-view--note").bgcolor)
            else:
                style = _foreground(
                    self.get_component_rich_style(f"thread-view--{name}", partial=True))
            self._styles[name] = style
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._strips.clear()
        self._images.clear()

    def on_focus(self) -> None:
        self._restyle()

    def on_blur(self) -> None:
        self._restyle()

    def _restyle(self) -> None:
        self._styles.clear()
        self._strips.clear()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self._style("base")
        if width != self._width or not self._entries:
            return Strip.blank(width, base)
        line = round(self.scroll_y) + y
        if line >= self._starts[-1]:
            return Strip.blank(width, base)
        if line < self._banner_lines:
            text = fit(" " * _GUTTER + _BANNER, width)
            return Strip([Segment(text, base + self._style("banner"))], width)
        i = self._entry_at(line)
        strips = self._entry_strips(i, width)
        offset = line - self._starts[i]
        return strips[offset] if offset < len(strips) else Strip.blank(width, base)

    def _entry_strips(self, i: int, width: int) -> list[Strip]:
        entry = self._entries[i]
        cursor = i == self._cursor
        key = (entry["id"], width, cursor)
        strips = self._strips.get(key)
        if strips is None:
            plan = self._plan(entry, width)
            strips = [self._draw(line, entry, width, cursor) for line in plan]
            self._strips[key] = strips
            for line in plan:
                if line.wants and line.wants not in self._wanted:
                    self._wanted.add(line.wants)
                    self._post(self.MediaWanted(self, line.wants))
        return strips

    def _draw(self, line: _Line, entry: dict[str, Any], width: int, cursor: bool) -> Strip:
        base = self._style("base")
        if _is_note(entry) and (line.parts or line.image):
            base += self._style("note-bg")
        kind = self._kind(entry)
        is_head = bool(line.parts) and line.parts[0][1].endswith("-head")
        gutter_text = "▌ " if cursor and (line.parts or line.image) else " " * _GUTTER
        segments = [Segment(gutter_text, base + self._style("gutter"))]
        used = _GUTTER
        if not is_head and (line.parts or line.image):
            segments.append(Segment(" " * _INDENT, base))
            used += _INDENT
        if line.image is not None:
            image_row = self._image_row(line.image)
            segments.extend(image_row)
            used += Segment.get_line_length(image_row)
        else:
            room = width - used
            for text, style_name in line.parts:
                if room <= 0:
                    break
                size = cell_len(text)
                if size > room:
                    text, size = fit(text, room), room
                segments.append(Segment(text, base + self._style(kind) + self._style(style_name)))
                room -= size
                used = width - room
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        return Strip(segments).crop(0, width)

    def _image_row(self, image: tuple[str, int, int, int]) -> list[Segment]:
        sha, row, cols, rows = image
        key = (sha, cols, rows)
        strips = self._images.get(key)
        if strips is None:
            strips = self._render_image(sha, cols, rows)
            if sha in self.media:
                self._images[key] = strips
        return list(strips[row]) if row < len(strips) else [Segment(" " * cols)]

    def _render_image(self, sha: str, cols: int, rows: int) -> list[Strip]:
        """Half-cell lines of a picture; JPEGs are decoded at reduced size (draft)."""
        data = self.media.get(sha)
        blank = [Strip([Segment(" " * cols)])] * rows
        if data is None:  # evicted since it was measured: fetch it again
            if sha not in self._wanted:
                self._wanted.add(sha)
                self._post(self.MediaWanted(self, sha))
            return blank
        try:
            with PILImage.open(io.BytesIO(data)) as opened:
                opened.seek(0)  # an animated GIF shows its first frame, standing still
                opened.draft("RGB", (cols * 2, rows * 4))
                picture = opened.convert("RGB")
            renderable = HalfcellImage(picture, width=cols, height=rows)
            console = self.app.console
            options = console.options.update(width=cols, height=rows)
            lines = console.render_lines(renderable, options, pad=True)
        except (OSError, ValueError, PILImage.DecompressionBombError):
            return blank
        strips = [Strip(line, cols) for line in lines[:rows]]
        return strips + blank[len(strips):]

    # -- keys ------------------------------------------------------------------------------

    def _move_to(self, index: int, *, reveal: bool = True) -> None:
        if not self._entries:
            return
        old = self._cursor
        self._cursor = max(0, min(index, len(self._entries) - 1))
        if reveal and self._width:
            start, end = self._starts[self._cursor], self._starts[self._cursor + 1]
            top, page = round(self.scroll_y), self._page
            if start < top or end - start > page:
                self.scroll_to(y=start, animate=False, immediate=True)
            elif end > top + page:
                self.scroll_to(y=end - page, animate=False, immediate=True)
        for i in {old, self._cursor}:
            if i < len(self._entries) and self._width:
                self.refresh_lines(self._starts[i], self._heights[i])

    def action_cursor_down(self) -> None:
        self._move_to(self._cursor + 1)

    def action_cursor_up(self) -> None:
        self._move_to(self._cursor - 1)

    def action_cursor_top(self) -> None:
        self._move_to(0)

    def action_cursor_bottom(self) -> None:
        self._move_to(len(self._entries) - 1)
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def action_cursor_page_down(self) -> None:
        self.scroll_to(y=round(self.scroll_y) + self._page, animate=False, immediate=True)
        self._move_to(self._entry_at(round(self.scroll_y) + self._page - 1), reveal=False)

    def action_cursor_page_up(self) -> None:
        self.scroll_to(y=round(self.scroll_y) - self._page, animate=False, immediate=True)
        self._move_to(self._entry_at(round(self.scroll_y)), reveal=False)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self._entries or not self._width:
            return
        line = round(self.scroll_y) + offset.y
        if self._banner_lines <= line < self._starts[-1]:
            self._move_to(self._entry_at(line), reveal=False)

    @property
    def _cursor(self) -> int:
        return self._cursor_index

    @_cursor.setter
    def _cursor(self, index: int) -> None:
        """Moving to another entry may show or hide the attachment keys in the footer."""
        self._cursor_index = index
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``o``/``S`` only on an entry with an attachment (elsewhere S is the inbox's
        scenario key): the footer offers what the entry here allows."""
        if action in ("open_media", "save_media"):
            return bool((self.current() or {}).get("media"))
        return True

    def action_open_media(self) -> None:
        media = (self.current() or {}).get("media") or []
        if not media:
            self.notify("This entry has no attachment.", severity="warning")
            return
        self._choose_media(media, "Open which attachment?", self._open_media)

    def action_original(self) -> None:
        entry = self.current()
        if entry is None or entry.get("channel") != "email":
            self.notify("Only an email has an original: move to one (j/k).", severity="warning")
            return
        if not (entry.get("mail_original") or {}).get("sha256"):
            self.notify("This email has no original kept: only mail a customer sent has one.",
                        severity="warning")
            return
        self._post(self.OriginalWanted(self, entry))

    def _choose_media(self, media: list[dict[str, Any]], title: str,
                      then: Callable[[dict[str, Any]], None]) -> None:
        """``then`` the only attachment, or the one the agent picks from several."""
        if len(media) == 1:
            then(media[0])
            return
        choices = [(attachment_label(item), index) for index, item in enumerate(media)]

        def chosen(index: int | None) -> None:
            if index is not None:
                then(media[index])

        self.app.push_screen(ChoiceScreen(title, choices), chosen)

    def _open_media(self, item: dict[str, Any]) -> None:
        sha = str(item.get("sha256") or "")
        data = self.media.get(sha) if sha else None
        if data is None:
            if not sha:
                self.notify("This attachment was never downloaded.", severity="warning")
                return
            self._open_when_ready = (sha, item)
            self._post(self.MediaWanted(self, sha))
            self.notify(f"Downloading {attachment_label(item)}; it opens when it arrives.")
            return
        self.run_worker(self._launch(item, data), group="open-media", exit_on_error=False)

    async def _launch(self, item: dict[str, Any], data: bytes) -> None:
        """Write the bytes to a temp file and hand it to the system viewer."""
        path = await asyncio.to_thread(self.opened.write, data, _suffix(item))
        command = viewer_command()
        if command is None:
            self.notify(f"No program to open files with (xdg-open); saved to {path} until"
                        " you quit", severity="warning", timeout=10)
            return
        try:
            process = await asyncio.create_subprocess_exec(
                *command, path, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as problem:
            self.notify(f"Could not start {command[0]}: {problem}; saved to {path}",
                        severity="error", timeout=10)
            return
        if await process.wait() != 0:
            self.notify(f"{command[0]} could not open {path}", severity="error", timeout=10)

    def action_save_media(self) -> None:
        """Save an attachment of the highlighted entry where the agent says (``S``)."""
        media = (self.current() or {}).get("media") or []
        if not media:
            raise SkipAction  # S then runs the inbox's own binding (scenarios)
        self._choose_media(media, "Save which attachment?", self._ask_where)

    def _ask_where(self, item: dict[str, Any]) -> None:
        screen = SaveMedia(attachment_label(item), default_name(item), default_path(item))
        self.app.push_screen(screen, lambda target: self._save_to(item, target))

    def _save_to(self, item: dict[str, Any], target: SaveTarget | None) -> None:
        if target is None:
            return
        sha = str(item.get("sha256") or "")
        if not sha:
            self.notify("This attachment was never downloaded.", severity="warning")
            return
        if self.media.get(sha) is None:
            self._save_when_ready = (sha, item, target)
            self._post(self.MediaWanted(self, sha))
            self.notify(f"Downloading {attachment_label(item)}; it is saved when it arrives.")
            return
        self._save(item, target)

    def _save(self, item: dict[str, Any], target: SaveTarget) -> None:
        data = self.media.get(str(item.get("sha256") or ""))
        if data is None:  # evicted again: ask once more
            self._save_to(item, target)
            return
        self.run_worker(self._write(target, data), group="save-media", exit_on_error=False)

    async def _write(self, target: SaveTarget, data: bytes) -> None:
        try:
            await asyncio.to_thread(write_new, target.path, data, replace=target.replace)
        except FileExistsError:
            self.notify(f"{target.path} appeared meanwhile; nothing was replaced. Save again "
                        "to choose.", severity="warning", timeout=10)
            return
        except OSError as problem:
            self.notify(f"Could not save to {target.path}: {problem.strerror or problem}",
                        severity="error", timeout=10)
            return
        self.notify(f"Saved to {target.path}")
