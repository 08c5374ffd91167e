"""The inbox's top line: where the agent is, how many tickets, and whether the relay is there.

Why its own widget: the connection state must always be visible (an agent
typing a reply needs to know the relay is gone before pressing send), and it
changes independently of everything else on screen.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget

from core.durations import format_clock

_STATES = {
    "connecting": ("◌", "connecting", "warning"),
    "replaying": ("◐", "catching up", "warning"),
    "live": ("●", "live", "success"),
    "offline": ("○", "offline", "error"),
    "refused": ("✗", "refused", "error"),
    "closed": ("○", "closed", "error"),
}


class InboxHeader(Widget):
    """One line: agent · view · counts ............ connection."""

    DEFAULT_CSS = (Path(__file__).with_suffix(".tcss")).read_text()

    agent = reactive("")
    view = reactive("")
    total = reactive(0)
    more = reactive(False)  # a search counted up to its cap: "1,000+ tickets match"
    searching = reactive(False)  # the count is of a search's matches
    unread = reactive(-1)
    state = reactive("connecting")
    detail = reactive("")
    presence = reactive("")  # other agents on the open ticket, e.g. "Bo is replying"
    timer = reactive("")  # the agent's running timer, e.g. "⏱ #12 0:05:07"

    _running: tuple[int, int] | None = None  # (ticket id, started at, ms since the epoch)
    _ticker: Timer | None = None

    def show_timer(self, ticket_id: int | None, started_at_ms: int | None) -> None:
        """Show (or clear) the running timer; it ticks once a second only while it runs."""
        running = ticket_id is not None and started_at_ms is not None
        self._running = (ticket_id, started_at_ms) \
            if ticket_id is not None and started_at_ms is not None else None
        if running and self._ticker is None:
            self._ticker = self.set_interval(1.0, self._tick)
        elif not running and self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self._tick()

    # Set from the relay client's callbacks, these changed the header (render ran with the new
    # count) yet a real terminal kept showing the old one until something else repainted it,
    # though Pilot saw it right: a refresh asked for from the header's own message pump
    # reaches the screen. Found by hand in the demo ("4 tickets" over six rows).
    def _repaint_soon(self) -> None:
        self.call_later(self.refresh)

    watch_total = watch_more = watch_searching = watch_view = watch_unread = watch_state = \
        watch_detail = watch_presence = _repaint_soon

    @property
    def ticking(self) -> bool:
        return self._ticker is not None

    def _tick(self) -> None:
        if self._running is None:
            self.timer = ""
            return
        ticket_id, started = self._running
        elapsed = (time.time() * 1000 - started) // 1000
        self.timer = f"⏱ #{ticket_id} {format_clock(int(elapsed))}"

    def render(self) -> Text:
        left = Text()
        left.append(" smsdesk ", style="bold reverse")
        if self.agent:
            left.append(f"  {self.agent}", style="bold")
        if self.view:
            left.append(f"  ·  {self.view}")
        left.append(f"  ·  {self.count_text()}")
        if self.unread >= 0:
            left.append(f"  ·  {self.unread:,} unread")
        if self.presence:
            left.append(f"  ·  👀 {self.presence}", style="bold")
        mark, word, tone = _STATES.get(self.state, ("?", self.state, "warning"))
        right = Text(f"{mark} {word}", style=f"bold {self._colour(tone)}")
        if self.timer:
            right = Text(f"{self.timer}  ", style="bold") + right
        if self.detail and self.state != "live":
            right.append(f" ({self.detail})", style=self._colour(tone))
        right.append(" ")
        width = self.size.width
        gap = max(1, width - left.cell_len - right.cell_len)
        line = left + Text(" " * gap) + right
        line.truncate(width)
        return line

    def count_text(self) -> str:
        """"12 tickets"; in a search "1 ticket matches", "1,000+ tickets match"."""
        many = self.total != 1 or self.more
        text = f"{self.total:,}{'+' if self.more else ''} ticket{'s' if many else ''}"
        if self.searching:
            text += " match" if many else " matches"
        return text

    def _colour(self, tone: str) -> str:
        variables = self.app.theme_variables if self.is_mounted else {}
        return variables.get(tone, {"success": "green", "warning": "yellow"}.get(tone, "red"))
