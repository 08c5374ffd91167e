"""Small text helpers shared by the inbox's line-API widgets.

Both the ticket list and the thread draw their own lines cell by cell, so
they need fitting (pad, cut with an ellipsis), greedy word wrapping whose
line count is exact and cheap, and human timestamps. Everything here is pure
and fast; the clock is a module attribute so tests (and snapshots) can pin
"now" with ``monkeypatch.setattr(render, "clock", lambda: FIXED_MS)``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any, Protocol

from rich.cells import cell_len, set_cell_size
from rich.text import Text

from core.models import now_ms

__all__ = [
    "ELLIPSIS",
    "Names",
    "age",
    "clock",
    "fit",
    "human_size",
    "one_line",
    "stamp",
    "timezone",
    "wrap",
]

ELLIPSIS = "…"


class Names(Protocol):
    """Display names for the ids a ticket or entry carries (the lead's directory)."""

    def group(self, group_id: int | None) -> str: ...

    def agent(self, agent_id: int | None) -> str: ...


clock: Callable[[], int] = now_ms
"""Milliseconds since the epoch; replace it to freeze time in tests."""

timezone: tzinfo | None = None
"""Zone for calendar dates; None is the machine's local zone. Tests pin it."""

_MINUTE = 60_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR


def _local(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone)


def _month_day(moment: datetime) -> str:
    return f"{moment:%b} {moment.day}"


def age(ms: int | None, now: int | None = None) -> str:
    """How long ago, in at most 7 cells: the list's last column must stay narrow."""
    if not ms:
        return ""
    now = clock() if now is None else now
    delta = max(0, now - ms)
    if delta < _MINUTE:
        return "now"
    if delta < _HOUR:
        return f"{delta // _MINUTE}m"
    if delta < _DAY:
        return f"{delta // _HOUR}h"
    if delta < 7 * _DAY:
        return f"{delta // _DAY}d"
    then, today = _local(ms), _local(now)
    if then.year == today.year:
        return _month_day(then)
    return f"{then:%b} '{then:%y}"


def due(ms: int | None, now: int | None = None) -> str:
    """When something will happen, in at most 7 cells: "in 5h" within a day, else the date
    ("Dec 28"); "due" once the moment has passed (the next pass does it)."""
    if ms is None:
        return ""
    now = clock() if now is None else now
    ahead = ms - now
    if ahead <= 0:
        return "due"
    if ahead < _HOUR:
        return f"in {max(1, ahead // _MINUTE)}m"
    if ahead < _DAY:
        return f"in {ahead // _HOUR}h"
    then, today = _local(ms), _local(now)
    return _month_day(then) if then.year == today.year else f"{then:%b} '{then:%y}"


def stamp(ms: int | None, now: int | None = None) -> str:
    """A message time: just the clock today, the date too on other days."""
    if not ms:
        return ""
    now = clock() if now is None else now
    then, today = _local(ms), _local(now)
    if then.date() == today.date():
        return f"{then:%H:%M}"
    if then.year == today.year:
        return f"{_month_day(then)} {then:%H:%M}"
    return f"{_month_day(then)} {then.year} {then:%H:%M}"


def human_size(size: int | None) -> str:
    """Bytes as an agent reads them on an attachment label."""
    if size is None:
        return "? B"
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def fit(text: str, width: int) -> str:
    """Exactly ``width`` cells: padded, or cut with an ellipsis so the cut shows."""
    if width <= 0:
        return ""
    if text.isascii():
        if len(text) <= width:
            return text.ljust(width)
        return text[: width - 1] + ELLIPSIS
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + ELLIPSIS


def one_line(text: str) -> str:
    """Collapse newlines and runs of blanks: a preview cell has a single line."""
    return " ".join(text.split())


def _width_of(word: str) -> int:
    return len(word) if word.isascii() else cell_len(word)


def _split_word(word: str, width: int) -> list[str]:
    """Cut a word longer than the line (a URL, say) into line-sized pieces."""
    if word.isascii():
        return [word[i : i + width] for i in range(0, len(word), width)]
    pieces: list[str] = []
    rest = word
    while cell_len(rest) > width:
        piece = set_cell_size(rest, width).rstrip()
        if not piece:  # a double-width character on a one-cell line
            piece = rest[0]
        pieces.append(piece)
        rest = rest[len(piece) :]
    pieces.append(rest)
    return pieces


def _wrap_ascii(paragraph: str, width: int, out: list[str]) -> None:
    """Greedy wrap of one-cell characters by slicing: the common case, kept fast."""
    start, end = 0, len(paragraph)
    while end - start > width:
        cut = paragraph.rfind(" ", start, start + width + 1)
        if cut <= start:  # no space to break at: cut the word
            out.append(paragraph[start : start + width])
            start += width
        else:
            out.append(paragraph[start:cut])
            start = cut + 1
    out.append(paragraph[start:])


def _wrap_paragraph(paragraph: str, width: int, out: list[str]) -> None:
    if paragraph.isascii():
        _wrap_ascii(paragraph, width, out)
        return
    if cell_len(paragraph) <= width:
        out.append(paragraph)
        return
    line: list[str] = []
    used = 0
    for word in paragraph.split(" "):
        size = _width_of(word)
        if size > width:
            if line:
                out.append(" ".join(line))
            *full, last = _split_word(word, width)
            out.extend(full)
            line, used = [last], _width_of(last)
            continue
        if line and used + 1 + size > width:
            out.append(" ".join(line))
            line, used = [word], size
        else:
            used += size + (1 if line else 0)
            line.append(word)
    out.append(" ".join(line))


def wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap to ``width`` cells, keeping the sender's line breaks.

    Our own (not Rich's) so that the line count used to lay out ten thousand
    entries is exactly the count drawn, and short lines cost one comparison.
    """
    width = max(1, width)
    if "\t" in text:
        text = text.expandtabs(4)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    for paragraph in text.split("\n"):
        _wrap_paragraph(paragraph, width, out)
    return out


RATING_WIDTH = 6  # "★★★★☆ ": five stars and a space


def rating_stars(rating: int | None) -> str:
    """A CSAT rating (1–5) as five stars, the filled ones first; "" when never rated."""
    if rating is None:
        return ""
    rating = max(0, min(5, int(rating)))
    return "★" * rating + "☆" * (5 - rating)


def person_ticket_line(item: dict[str, Any], preview_width: int, *,
                       ratings: bool = False) -> Text:
    """One of a person's tickets (a ``contact_tickets`` item): number, status, the business
    number it came through, when, its last words. The contact view and the earlier
    conversations above a thread list them alike. With ``ratings`` (some ticket of the
    list was rated) a column after the status shows each one's CSAT rating as stars."""
    ticket = item["ticket"]
    status = "in trash" if ticket.get("deleted") else ticket.get("status", "")
    line = Text()
    line.append(f"#{ticket['id']:<6}", style="bold")
    line.append(f"{status:<9} ", style="dim" if status in ("closed", "in trash") else "")
    if ratings:
        line.append(fit(rating_stars(item.get("csat_rating")), RATING_WIDTH), style="yellow")
    line.append(f"{item.get('number', ''):<16} ", style="cyan")
    line.append(f"{stamp(ticket.get('last_message_at')):>12}  ")
    line.append(fit(one_line(ticket.get("last_preview", "")), preview_width))
    return line
