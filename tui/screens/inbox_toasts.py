"""Where the inbox's toasts go: over the thread, between the ticket list and the composer.

At the top right they hid the list's status, priority and agent columns; at the bottom,
the composer's warnings (which say why a reply cannot go). The room between the two
changes with the terminal and with the composer's height, so the toast rack is fitted to
it whenever either changes. The rack shows its newest toasts (Textual scrolls it to its
end); older ones that do not fit are clipped at its top until they expire.

Issue 14: the SLA's toasts. The relay says ``sla.nearing`` when a due is close and
``sla.breached`` when it passed; the agent the ticket is assigned to is told, once per
due (a reconnect that replays an event does not say it twice); nobody else is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import events
from textual.css.query import NoMatches
from textual.widgets._toast import ToastRack

from tui.sla import toast_words

if TYPE_CHECKING:
    from tui.screens.inbox import InboxScreen


class ToastPlacement:
    """Keeps the toast rack over the thread; mixed into InboxScreen."""

    def on_mount(self: InboxScreen) -> None:
        self.watch(self.composer, "virtual_size", self._room_changed, init=False)
        self._room_changed()

    def on_resize(self: InboxScreen, event: events.Resize) -> None:
        self._room_changed()

    def _room_changed(self: InboxScreen) -> None:
        self.call_after_refresh(self.fit_toasts)

    def fit_toasts(self: InboxScreen) -> None:
        """Fit the rack to the rows between the list's bottom and the composer's top."""
        try:
            rack = self.query_one(ToastRack)
        except NoMatches:  # notifications are off (tests, mostly)
            return
        if not self.is_attached:
            return
        top = self.tickets.region.bottom
        composer = self.composer.region
        bottom = composer.y if composer.height else self.region.bottom - 1  # the footer
        room = max(1, bottom - top)
        if (rack.styles.margin.top, rack.styles.height) != (top, room):
            rack.styles.margin = (top, 0, 0, 0)
            rack.styles.height = room


SLA_KINDS = frozenset({"sla.nearing", "sla.breached"})
SLA_TOAST_SECONDS = 12.0


class SlaToasts:
    """Tells the signed-in agent about their own tickets' dues; mixed into InboxScreen."""

    _sla_told: set[tuple[Any, ...]]

    def sla_event(self: InboxScreen, kind: str, payload: dict[str, Any]) -> None:
        """A due near or passed: a toast for the ticket's agent, and the list redrawn
        (the row's mark and words follow at once rather than at the next minute)."""
        if kind not in SLA_KINDS:
            return
        if kind == "sla.breached":
            self.tickets.refresh_rows()
        me = (self.client.agent or {}).get("id")
        if me is None or payload.get("agent_id") != me:
            return
        told = self.__dict__.setdefault("_sla_told", set())
        key = (kind, payload.get("ticket_id"), payload.get("which"), payload.get("due"))
        if key in told:
            return
        told.add(key)
        self.notify(toast_words(kind, payload), title="SLA",
                    severity="error" if kind == "sla.breached" else "warning",
                    timeout=SLA_TOAST_SECONDS)
