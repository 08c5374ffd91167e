"""A ticket's activity history (``Y``): who changed what, and when, newest first.

The relay tells each change in words (core/activity.py), from the event log,
a page at a time; reaching the end of the list asks for the page before it,
so a ticket with years of changes opens as fast as a new one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.client import CommandError
from tui.widgets.render import stamp

#: Asks the relay for a page of changes older than ``before`` (None: the newest).
Fetch = Callable[[int | None], Awaitable[dict[str, Any]]]
PAGE = 50


def activity_line(item: dict[str, Any]) -> Text:
    """``Dec 1 14:05  Dana set status Open → Resolved``."""
    line = Text()
    line.append(f"{stamp(item.get('at')):>12}  ", style="dim")
    line.append(str(item.get("who") or "Someone"), style="bold")
    line.append(f" {item.get('what', '')}")
    return line


class ActivityHistory(ModalScreen[None]):
    CSS_PATH = "activity_history.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,Y", "close", "Close", show=False),
    ]

    def __init__(self, ticket_id: int, fetch: Fetch) -> None:
        super().__init__()
        self.ticket_id = ticket_id
        self.fetch = fetch
        self.items: list[dict[str, Any]] = []
        self.older: int | None = None
        self.loading = False

    def compose(self) -> ComposeResult:
        with Vertical(id="activity-dialog"):
            yield Label(f"Activity of #{self.ticket_id}", id="activity-title")
            yield OptionList(id="activity-list")
            yield Static("Loading…", id="activity-hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self._load(None)

    def _load(self, before: int | None) -> None:
        if self.loading:
            return
        self.loading = True
        self.run_worker(self._fetch(before), group="activity")

    async def _fetch(self, before: int | None) -> None:
        try:
            page = await self.fetch(before)
        except CommandError as error:
            self.query_one("#activity-hint", Static).update(f"Could not load: {error}")
            return
        finally:
            self.loading = False
        items = list(page.get("items") or [])
        self.items += items
        self.older = page.get("older")
        listing = self.query_one(OptionList)
        listing.add_options([Option(activity_line(item)) for item in items])
        if not self.items:
            listing.add_option(Option(Text("No changes yet.", style="italic"), disabled=True))
        self.query_one("#activity-hint", Static).update(
            "↓ at the end loads older changes · esc closes" if self.older is not None
            else "That is everything since the ticket opened · esc closes")

    @on(OptionList.OptionHighlighted)
    def _near_the_end(self, event: OptionList.OptionHighlighted) -> None:
        if self.older is not None and event.option_index >= len(self.items) - 1:
            self._load(self.older)

    def action_close(self) -> None:
        self.dismiss(None)
